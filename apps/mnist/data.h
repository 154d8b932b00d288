// data.h: the training data of the mnist app: the IDX training file split into train and validation
// parts, the order of the batches, and NCSN's uniform dequantization.
//
//   split      a seeded permutation of the training file; its first round(val_fraction N) images are the
//              validation split, the rest the training split. Same seed, same split, on any machine.
//   batches    epoch e visits the training split in the order of its own permutation (seeded by seed
//              and e), `batch` images at a time; the last partial batch of an epoch is dropped. The
//              images of step k are a function of (seed, k) alone, which is what lets --resume replay
//              an interrupted run exactly.
//   dequantize x = (byte + u) / 256, u ~ U[0, 1) per pixel: a continuous density on [0, 1] instead of
//              256 spikes (Theis et al. 2016; NCSN's `uniform_dequantization`).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace scorch::app {

// The side of the digits the app trains on and samples (MNIST's and Fashion-MNIST's).
inline constexpr int64_t kDigitSize = 28;

// A set of single-channel images, bytes row-major [count, height, width].
struct Digits {
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  int64_t count = 0, height = 0, width = 0;

  int64_t image_size() const { return height * width; }
  Digits subset(const std::vector<int64_t>& indices) const;
};

struct TrainValSplit {
  Digits train, val;
};

// The training file of `dir` (train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz, or the same
// without .gz, gzip preferred where both exist), kDigitSize square; throws naming the file and what is wrong, or, when
// the folder lacks them, how to get them.
Digits load_digits(const std::string& dir, const std::string& prefix = "train");

TrainValSplit split_digits(const Digits& all, double val_fraction, uint64_t seed);

// A uniformly random permutation of 0..n-1 (Fisher-Yates on the generator's doubles).
std::vector<int64_t> permutation(int64_t n, Generator& gen);

// The training split's images for step k (0-based), as described above.
class BatchOrder {
 public:
  BatchOrder(int64_t count, int64_t batch, uint64_t seed);
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  std::vector<int64_t> indices(int64_t step);  // `batch` indices into the training split

 private:
  int64_t count_, batch_, steps_per_epoch_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  std::vector<int64_t> order_;  // the permutation of epoch_
};

// Images `indices` of `d` as float32 [B, 1, H, W], dequantized with draws from `gen`.
Tensor dequantize(const Digits& d, const std::vector<int64_t>& indices, Generator& gen);

// A seed for a named purpose ("split", "epoch", ...) derived from the run's seed (SplitMix64 mixing), so
// that each stream is independent of the others.
uint64_t derive_seed(uint64_t seed, uint64_t purpose, uint64_t index = 0);

}  // namespace scorch::app
