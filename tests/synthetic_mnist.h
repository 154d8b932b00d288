// synthetic_mnist.h: a tiny MNIST stand-in for the tests that run the mnist app (no download needed).
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "tensor/idx.h"

namespace scorch::testing {

// `n` 28 x 28 "digits" as gzipped IDX files in `dir`: a bright square whose place depends on the label,
// over faint noise.
inline void write_synthetic_mnist(const std::filesystem::path& dir, int64_t n) {
  std::filesystem::create_directories(dir);
  std::vector<double> pixels(n * 28 * 28), labels(n);
  for (int64_t i = 0; i < n; ++i) {
    labels[i] = static_cast<double>(i % 10);
    const int64_t r0 = 4 + (i % 10) % 5 * 4, c0 = 4 + (i % 10) / 5 * 10;
    for (int64_t r = 0; r < 28; ++r)
      for (int64_t c = 0; c < 28; ++c) {
        const bool on = r >= r0 && r < r0 + 8 && c >= c0 && c < c0 + 8;
        pixels[(i * 28 + r) * 28 + c] = on ? 200 + (i + r + c) % 50 : (i * 7 + r * 3 + c) % 13;
      }
  }
  write_idx((dir / "train-images-idx3-ubyte.gz").string(), from_vector(pixels, {n, 28, 28}, {.dtype = kUInt8}));
  write_idx((dir / "train-labels-idx1-ubyte.gz").string(), from_vector(labels, {n}, {.dtype = kUInt8}));
}

}  // namespace scorch::testing
