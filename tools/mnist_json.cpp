#include "tools/mnist_json.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>
#include <vector>

#include "nn/json.h"
#include "tensor/file_io.h"
#include "tensor/idx.h"

namespace scorch::tools {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kMaxJsonDepth = 64;

using Pixels = std::vector<uint8_t>;  // one class's digits, kDigitPixels bytes each, back to back

// The pixel bytes of one class file, {"data": [...]}, checked value by value.
Pixels read_class(const std::string& path) {
  const std::string text = read_file(path);
  json root;
  try {
    root = nn::parse_json_bounded(text, kMaxJsonDepth, path);  // ours nest 2 levels; json::dump recurses per level
  } catch (const json::exception& e) {                         // parse_error, and out_of_range for a number like 1e999
    throw std::runtime_error(path + ": not valid JSON: " + e.what());
  }
  if (!root.is_object() || !root.contains("data") || !root["data"].is_array())
    throw std::runtime_error(path + ": expected an object {\"data\": [numbers]}");
  const json& data = root["data"];
  if (data.empty() || data.size() % kDigitPixels != 0)
    throw std::runtime_error(path + ": \"data\" has " + std::to_string(data.size()) +
                             " values, not a positive multiple of " + std::to_string(kDigitPixels) + " (28 x 28)");
  Pixels pixels(data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    const auto where = [&] {
      return path + ": \"data\"[" + std::to_string(i) + "] (digit " + std::to_string(i / kDigitPixels) + ", pixel " +
             std::to_string(i % kDigitPixels) + ")";
    };
    if (!data[i].is_number()) throw std::runtime_error(where() + " is not a number: " + data[i].dump());
    const double v = data[i].get<double>();
    if (!(v >= 0 && v <= 1)) throw std::runtime_error(where() + " is " + data[i].dump() + ", outside [0, 1]");
    pixels[i] = static_cast<uint8_t>(std::lround(v * 255));
  }
  return pixels;
}

// One split: which digits of which class, in file order.
using Order = std::vector<std::pair<int, int64_t>>;  // (class, index of the digit within its class)

// Round-robin over the classes: the k-th digit of each class, for k = 0, 1, ...
Order interleave(const std::array<std::vector<int64_t>, kDigitClasses>& per_class) {
  Order order;
  for (size_t k = 0;; ++k) {
    const size_t before = order.size();
    for (int c = 0; c < kDigitClasses; ++c)
      if (k < per_class[c].size()) order.emplace_back(c, per_class[c][k]);
    if (order.size() == before) return order;
  }
}

void write_split(const std::array<Pixels, kDigitClasses>& classes, const Order& order, const fs::path& images,
                 const fs::path& labels) {
  const auto n = static_cast<int64_t>(order.size());
  Tensor x = empty({n, 28, 28}, {.dtype = kUInt8}), y = empty({n}, {.dtype = kUInt8});
  uint8_t *px = x.data<uint8_t>(), *py = y.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    const auto [c, k] = order[i];
    std::copy_n(classes[c].begin() + k * kDigitPixels, kDigitPixels, px + i * kDigitPixels);
    py[i] = static_cast<uint8_t>(c);
  }
  write_idx(images.string(), x);
  write_idx(labels.string(), y);
}

}  // namespace

MnistSplitCounts mnist_json_to_idx(const std::string& digits_dir, const std::string& out_dir) {
  std::string missing;
  for (int c = 0; c < kDigitClasses; ++c)
    if (!fs::is_regular_file(fs::path(digits_dir) / (std::to_string(c) + ".json")))
      missing += (missing.empty() ? "" : ", ") + std::to_string(c) + ".json";
  if (!missing.empty()) throw std::runtime_error(digits_dir + ": missing " + missing + " (expected 0.json .. 9.json)");

  std::array<Pixels, kDigitClasses> classes;
  std::array<std::vector<int64_t>, kDigitClasses> train, test;
  MnistSplitCounts counts;
  for (int c = 0; c < kDigitClasses; ++c) {
    classes[c] = read_class((fs::path(digits_dir) / (std::to_string(c) + ".json")).string());
    const auto digits = static_cast<int64_t>(classes[c].size() / kDigitPixels);
    for (int64_t i = 0; i < digits; ++i) (i % kTestEvery == kTestEvery - 1 ? test : train)[c].push_back(i);
    counts.train[c] = static_cast<int64_t>(train[c].size());
    counts.test[c] = static_cast<int64_t>(test[c].size());
  }
  const fs::path out(out_dir);
  fs::create_directories(out);
  write_split(classes, interleave(train), out / kTrainImages, out / kTrainLabels);
  write_split(classes, interleave(test), out / kTestImages, out / kTestLabels);
  return counts;
}

}  // namespace scorch::tools
