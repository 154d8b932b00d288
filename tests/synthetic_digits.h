// synthetic_digits.h: a tiny MNIST-format training set for the tests that run the mnist app, so that
// no download is needed: train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz in `dir`.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "tensor/idx.h"

namespace scorch::testing {

// `n` images of size x size bytes (a band of bright rows over faint noise, placed by the label) and
// labels i % classes.
inline void write_digits(const std::filesystem::path& dir, int64_t n, int64_t size = 28, int64_t classes = 10) {
  std::filesystem::create_directories(dir);
  std::vector<double> pixels(n * size * size), labels(n);
  for (int64_t i = 0; i < n; ++i) {
    labels[i] = static_cast<double>(i % classes);
    for (int64_t k = 0; k < size * size; ++k)
      pixels[i * size * size + k] = (k / size + i % 10) % 8 < 3 ? 220 : (i + k) % 13;
  }
  write_idx((dir / "train-images-idx3-ubyte.gz").string(), from_vector(pixels, {n, size, size}, {.dtype = kUInt8}));
  write_idx((dir / "train-labels-idx1-ubyte.gz").string(), from_vector(labels, {n}, {.dtype = kUInt8}));
}

}  // namespace scorch::testing
