#include "apps/mnist/data.h"

#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "tensor/idx.h"

namespace scorch::app {

uint64_t derive_seed(uint64_t seed, uint64_t purpose, uint64_t index) {
  uint64_t z = seed;
  for (uint64_t v : {purpose, index}) {  // SplitMix64's finaliser over (seed, purpose, index)
    z += 0x9e3779b97f4a7c15ULL + v;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
  }
  return z;
}

Digits Digits::subset(const std::vector<int64_t>& indices) const {
  Digits out{{}, {}, static_cast<int64_t>(indices.size()), height, width};
  const int64_t size = image_size();
  out.pixels.reserve(indices.size() * size);
  for (int64_t i : indices) {
    out.pixels.insert(out.pixels.end(), pixels.begin() + i * size, pixels.begin() + (i + 1) * size);
    out.labels.push_back(labels[i]);
  }
  return out;
}

namespace {

// dir/name.gz if it exists (what the MNIST site serves), else dir/name (as gunzip leaves it), else "".
std::string find_idx(const std::string& dir, const std::string& name) {
  for (const std::string& path : {dir + "/" + name + ".gz", dir + "/" + name}) {
    std::error_code error;  // a folder we cannot look into holds nothing we can read
    if (std::filesystem::exists(path, error)) return path;
  }
  return "";
}

}  // namespace

Digits load_digits(const std::string& dir, const std::string& prefix) {
  const std::string image_name = prefix + "-images-idx3-ubyte", label_name = prefix + "-labels-idx1-ubyte";
  const std::string images = find_idx(dir, image_name), labels = find_idx(dir, label_name);
  if (images.empty() || labels.empty()) {
    const std::string missing = dir + "/" + (images.empty() ? image_name : label_name);
    throw std::runtime_error(
        missing + ".gz: not found, nor " + missing +
        ". MNIST: run scripts/fetch_mnist.sh (it writes data/mnist/); Fashion-MNIST: apt-get install "
        "dataset-fashion-mnist; or point --data-dir at IDX files (gzip-compressed or not)");
  }
  const MnistData set = read_mnist(images, labels);
  if (set.images.shape()[1] != kDigitSize || set.images.shape()[2] != kDigitSize)
    throw std::runtime_error(images + ": images are " + std::to_string(set.images.shape()[1]) + " x " +
                             std::to_string(set.images.shape()[2]) + "; the mnist app trains on and samples " +
                             std::to_string(kDigitSize) + " x " + std::to_string(kDigitSize) + " digits");
  Digits d;
  d.count = set.images.shape()[0];
  d.height = set.images.shape()[1];
  d.width = set.images.shape()[2];
  const Tensor bytes = set.images.contiguous();
  d.pixels.assign(bytes.data<uint8_t>(), bytes.data<uint8_t>() + bytes.numel());
  for (double v : set.labels.values()) d.labels.push_back(static_cast<int64_t>(v));
  return d;
}

std::vector<int64_t> permutation(int64_t n, Generator& gen) {
  std::vector<int64_t> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  if (n < 2) return p;
  const std::vector<double> u = rand({n}, gen, {.dtype = kFloat64}).values();
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = std::min(static_cast<int64_t>(u[i] * static_cast<double>(i + 1)), i);
    std::swap(p[i], p[j]);
  }
  return p;
}

TrainValSplit split_digits(const Digits& all, double val_fraction, uint64_t seed) {
  const int64_t n_val = static_cast<int64_t>(std::llround(val_fraction * static_cast<double>(all.count)));
  if (n_val < 1 || n_val >= all.count)
    throw std::invalid_argument("--val-fraction " + std::to_string(val_fraction) + " of " + std::to_string(all.count) +
                                " images leaves an empty training or validation split");
  Generator gen(derive_seed(seed, 1));
  const std::vector<int64_t> p = permutation(all.count, gen);
  return {all.subset({p.begin() + n_val, p.end()}), all.subset({p.begin(), p.begin() + n_val})};
}

BatchOrder::BatchOrder(int64_t count, int64_t batch, uint64_t seed)
    : count_(count), batch_(batch), steps_per_epoch_(count / batch), seed_(seed) {
  if (steps_per_epoch_ < 1)
    throw std::invalid_argument("--batch " + std::to_string(batch) + " is larger than the training split (" +
                                std::to_string(count) + " images)");
}

std::vector<int64_t> BatchOrder::indices(int64_t step) {
  const int64_t epoch = step / steps_per_epoch_, first = (step % steps_per_epoch_) * batch_;
  if (epoch != epoch_) {
    Generator gen(derive_seed(seed_, 2, static_cast<uint64_t>(epoch)));
    order_ = permutation(count_, gen);
    epoch_ = epoch;
  }
  return {order_.begin() + first, order_.begin() + first + batch_};
}

Tensor dequantize(const Digits& d, const std::vector<int64_t>& indices, Generator& gen) {
  const int64_t b = static_cast<int64_t>(indices.size()), size = d.image_size();
  Tensor x = rand({b, 1, d.height, d.width}, gen);  // u, then (byte + u) / 256 in place
  float* px = x.data<float>();
  for (int64_t i = 0; i < b; ++i) {
    const uint8_t* src = d.pixels.data() + indices[i] * size;
    for (int64_t k = 0; k < size; ++k) px[i * size + k] = (static_cast<float>(src[k]) + px[i * size + k]) / 256.0f;
  }
  return x;
}

}  // namespace scorch::app
