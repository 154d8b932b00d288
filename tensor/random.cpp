#include "tensor/random.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tensor/backend.h"
#include "tensor/parallel.h"

namespace scorch {
namespace {

// Elements per thread below which a fill stays serial: a normal costs a log, a sin and a cos, some
// ten times a simple elementwise op, so the grain is a fraction of kGrainElementwise.
constexpr int64_t kGrainRandom = 4096;

void check_args(std::string_view op, const Shape& shape, const TensorOptions& options) {
  for (int64_t d : shape)
    if (d < 0) throw std::invalid_argument(std::string(op) + ": negative size in shape " + to_string(shape));
  if (options.device.is_cuda()) backend::check_device(op, options.device);
}

// Takes the draw's counter blocks from `gen` and fills the contiguous `out` block by block:
// block_fn(philox(counter(first + b), key), values) writes the PerBlock values of block b.
// On a CUDA device, the kernel of cuda/random.cu computes the same blocks (`draw` says which functor).
template <typename T, int PerBlock, typename BlockFn>
void fill_blocks(const Tensor& out, Generator& gen, BlockFn block_fn, backend::RandomDraw draw) {
  const int64_t n = out.numel();
  T* data = out.data<T>();
  const PhiloxKey key = gen.key();
  const uint64_t first = gen.reserve(static_cast<uint64_t>((n + PerBlock - 1) / PerBlock));
  if (out.device().is_cuda()) {
    draw.seed = gen.seed();
    draw.first_block = first;
    backend::fill_random(out, draw);
    return;
  }
  auto block = [&](int64_t i) {
    return philox4x32_10(philox_counter(first + static_cast<uint64_t>(i / PerBlock)), key);
  };
  // Element i depends on i alone; chunks start at block boundaries so no block is computed twice.
  parallel_for(
      n, kGrainRandom,
      [&](int64_t begin, int64_t end) {
        int64_t i = begin;
        for (; i + PerBlock <= end; i += PerBlock) block_fn(block(i), data + i);
        if (i < end) {  // the draw's last block, partly used
          T tail[PerBlock];
          block_fn(block(i), tail);
          std::copy(tail, tail + (end - i), data + i);
        }
      },
      PerBlock);
}

// Checks the arguments, allocates, runs fill(out), and only then sets requires_grad (a leaf that
// requires grad cannot be written in place).
template <typename Fill>
Tensor make_random(std::string_view op, const Shape& shape, const TensorOptions& options, Fill&& fill) {
  check_args(op, shape, options);
  Tensor out = empty(shape, {.dtype = options.dtype, .device = options.device});
  fill(out);
  if (options.requires_grad) out.requires_grad_();
  return out;
}

}  // namespace

Generator& default_generator() {
  static Generator gen;
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().set_seed(seed); }

Tensor rand(const Shape& shape, Generator& gen, TensorOptions options) {
  return make_random("rand", shape, options, [&](const Tensor& out) {
    dispatch_float("rand", options.dtype, [&]<typename T>() {
      fill_blocks<T, kRandPerBlock<T>>(out, gen, UniformBlock{}, {.kind = backend::RandomKind::uniform});
    });
  });
}

Tensor randn(const Shape& shape, Generator& gen, TensorOptions options) {
  return make_random("randn", shape, options, [&](const Tensor& out) {
    dispatch_float("randn", options.dtype, [&]<typename T>() {
      fill_blocks<T, kRandPerBlock<T>>(out, gen, NormalBlock{}, {.kind = backend::RandomKind::normal});
    });
  });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen, TensorOptions options) {
  if (low >= high)
    throw std::invalid_argument("randint: expected low < high, got low " + std::to_string(low) + ", high " +
                                std::to_string(high));
  if (options.dtype == kUInt8 && (low < 0 || high > 256))
    throw std::invalid_argument("randint: [" + std::to_string(low) + ", " + std::to_string(high) +
                                ") does not fit uint8 (expected 0 <= low < high <= 256)");
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);  // wraps correctly
  return make_random("randint", shape, options, [&](const Tensor& out) {
    dispatch_all(options.dtype, [&]<typename T>() {
      fill_blocks<T, kRandintPerBlock>(out, gen, IntegerBlock{low, range},
                                       {.kind = backend::RandomKind::integer, .low = low, .range = range});
    });
  });
}

Tensor rand(const Shape& shape, TensorOptions options) { return rand(shape, default_generator(), options); }
Tensor randn(const Shape& shape, TensorOptions options) { return randn(shape, default_generator(), options); }
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options) {
  return randint(low, high, shape, default_generator(), options);
}

}  // namespace scorch
