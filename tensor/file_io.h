// file_io.h: whole-file reads, crash-safe whole-file writes, and the raw bytes of a tensor, which is
// what the checkpoint and array formats (tensor/npy.h, nn/safetensors.h) are built from.
//
// write_file_atomic follows the usual POSIX recipe (as in LevelDB's env_posix.cc, or
// https://lwn.net/Articles/457667/): write a temporary file in the target's directory, fsync it,
// rename(2) it over the target, fsync the directory. rename within one filesystem is atomic, so a
// reader (or a crash at any point) sees either the old file or the complete new one, never a
// truncated one.
//
// Tensor bytes are little-endian (the only byte order scorch runs on) and row-major.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.h"

namespace scorch {

// Replaces `path` by `bytes` atomically. Throws std::runtime_error naming the path and strerror on
// any failure, after removing the temporary file; the target is then left as it was.
void write_file_atomic(const std::string& path, std::string_view bytes);

// The longest suffix write_file_atomic adds to `path`'s name for its temporary file: ".tmp." (5), the pid
// (an int: at most 10 digits), "." and a counter (a uint64_t: at most 20 digits). A name within NAME_MAX
// but past NAME_MAX minus this cannot be written: the apps check names against it up front.
inline constexpr size_t kTempSuffixMax = 36;

// A process killed inside write_file_atomic (SIGKILL, power loss) leaves its temporary file
// "<path>.tmp.<pid>.<n>" behind. This removes those of `path` whose process is gone (or is this one,
// which has none open yet when it calls this at startup), so that repeated crashes cannot fill the
// disk; a live writer's file is kept. Returns the names removed.
std::vector<std::string> remove_stale_temp_files(const std::string& path);

// The whole file; throws std::runtime_error naming the path if it is missing, unreadable or not a
// regular file (a FIFO, a device such as /dev/zero, a folder: reading one may never end), or if its
// bytes do not fit in memory.
std::string read_file(const std::string& path);
// The error for an allocation of `nbytes` that failed while reading `path`.
std::runtime_error out_of_memory(const std::string& path, uint64_t nbytes);

// Throws std::invalid_argument, prefixed by `who`, unless t is a defined CPU tensor.
void check_savable(const Tensor& t, std::string_view who);
// Appends the elements of t (checked by check_savable) in row-major order, whatever its strides.
void append_tensor_bytes(std::string& out, const Tensor& t);

// The shape `dims` read from a file, checked: at most kMaxDims dimensions, and numel * dtype_size(dtype)
// fits in int64 (a corrupt header must not make us overflow). Throws std::runtime_error prefixed by `who`.
Shape checked_shape(const std::vector<uint64_t>& dims, DType dtype, const std::string& who);

// A new CPU tensor holding `bytes`, which must be exactly shape.numel() * dtype_size(dtype) long.
Tensor tensor_from_bytes(std::string_view bytes, const Shape& shape, DType dtype);

}  // namespace scorch
