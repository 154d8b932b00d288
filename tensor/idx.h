// idx.h: the IDX format of the MNIST files (train-images-idx3-ubyte.gz and the like), read plain or
// gzip-compressed, and written gzip-compressed by default.
//
// Layout (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE"):
//   0x00 0x00        two zero bytes
//   type             one byte: 0x08 unsigned byte (0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32 and
//                    0x0E float64 exist too; only 0x08 is supported, which is all MNIST uses)
//   ndims            one byte
//   dims             ndims uint32, big-endian
//   data             prod(dims) bytes in row-major order
// MNIST's images are magic 0x00000803, dims [N, 28, 28]; its labels 0x00000801, dims [N], values 0..9.
//
// A file that starts with the gzip magic 1f 8b is inflated as it is read (zlib; concatenated gzip
// members are read as gunzip reads them): the header first, then exactly the prod(dims) bytes it
// promises, so memory is bounded by the header (and the header by 1032 times the file's size, deflate's
// best ratio), never by what a gzip bomb inflates to. Any other file is taken as plain IDX. We accept
// 1 to 4 dims, each at least 1, and exactly prod(dims) bytes of data. Every problem throws
// std::runtime_error naming the file: missing or non-regular file, corrupt or truncated gzip stream,
// bad magic, another type byte, a zero dim, truncated data, more data than the dims hold, or no memory
// for what the header promises.
//
// write_idx's gzip stream is deterministic: zlib's default header (modification time 0, no file
// name), level 6, so the same tensor always gives the same bytes.
#pragma once
#include <string>
#include <string_view>

#include "tensor/tensor.h"

namespace scorch {

// A new contiguous uint8 CPU tensor with the file's dims.
Tensor read_idx(const std::string& path);
// The same from the file's bytes (plain or gzip) in memory; `name` (the file's path) starts every error.
Tensor parse_idx(std::string_view bytes, const std::string& name);

// Writes t (a uint8 CPU tensor of 1 to 4 dims, each 1 to 2^32 - 1, any strides) atomically
// (tensor/file_io.h); gzip-compressed unless `gzip` is false. Throws std::invalid_argument naming the
// path for any other tensor.
void write_idx(const std::string& path, const Tensor& t, bool gzip = true);

// One MNIST split: images [N, H, W] uint8 (0 black, 255 white; 28 x 28 for MNIST) and labels [N] int64.
struct MnistData {
  Tensor images;
  Tensor labels;
};

// Reads an images file and a labels file (IDX, plain or gzip) and checks that they belong together:
// images 3-d, labels 1-d, the same N, every label in 0..9. Errors name both files.
MnistData read_mnist(const std::string& images_path, const std::string& labels_path);

}  // namespace scorch
