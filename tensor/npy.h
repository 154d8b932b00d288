// npy.h: NumPy's .npy array format, so that Python reads our arrays with numpy.load and we read
// what numpy.save writes.
//
// Layout (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
//   "\x93NUMPY", major, minor      version 1.0 (2.0 only differs in a 4-byte header length)
//   header_len                     uint16, little-endian
//   header                         an ASCII Python dict literal, e.g.
//                                    {'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }
//                                  padded with spaces and ended by '\n' so that the data starts at a
//                                  multiple of 64 bytes
//   data                           the elements in C (row-major) order, little-endian
// descr: '<f4' float32, '<f8' float64, '<i8' int64, '|u1' uint8. A 0-d array has shape ().
//
// save_npy writes the very bytes numpy.save (>= 1.23) writes, including the spaces it leaves after the
// dict so that the first dim can later grow to 21 digits in place. load_npy reads versions 1.0 and
// 2.0 of these four dtypes and throws std::runtime_error naming the file and the problem on anything
// else: bad magic, unknown version, malformed header, Fortran order, wrong data length.
#pragma once
#include <string>
#include <string_view>

#include "tensor/tensor.h"

namespace scorch {

// Writes t (a CPU tensor, any strides) atomically (tensor/file_io.h).
void save_npy(const std::string& path, const Tensor& t);
// A new contiguous CPU tensor with the file's shape and dtype.
Tensor load_npy(const std::string& path);

// The same two in memory: the bytes save_npy writes, and load_npy's reading of a file's bytes, where
// `name` (the file's path) starts every error message.
std::string npy_bytes(const Tensor& t);
Tensor parse_npy(std::string_view bytes, const std::string& name);

}  // namespace scorch
