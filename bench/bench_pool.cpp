// bench_pool.cpp: the pooling and resizing layers of NCSN's RefineNet, float32, forward and backward:
//   avg_pool2d 5x5     AvgPool2d(5, stride=1, padding=2) on [64, 32, 14, 14] (the RefineNet chained pooling)
//   avg_pool2d 2x2     2x2 mean pooling on [64, 32, 14, 14] -> [64, 32, 7, 7]
//   upsample_nearest2d scale 2 on [64, 128, 7, 7] -> [64, 128, 14, 14]
//   bilinear           interpolate_bilinear 7 -> 14 (align_corners, as NCSN) on [64, 32, 7, 7]
// A backward case times the backward op alone, on a gradient shaped like the forward's output. Bytes
// count the input and the output once each (the kernels read each input element once per plane, from
// cache); the tensors are a few MB, so these run near the caches rather than at memory bandwidth.
// FLOP per call (counter FLOP/s), per element of the call's input x or output y (for a backward, x is
// the gradient of the forward's output and y the gradient of its input):
//   avg_pool2d 5x5            25 per y (24 adds of the window + the scale)
//   avg_pool2d_backward 5x5   25 per y (each input gradient gathers 25 scaled terms; as the forward)
//   avg_pool2d 2x2            4 per y (3 adds + the scale)
//   avg_pool2d_backward 2x2   1 per y (each input gradient is its window's gradient, scaled)
//   upsample_nearest2d        none: a copy, bytes/s only
//   its backward              3 per y (the 4 gradients of a 2x2 block summed)
//   bilinear                  8 per y (4 taps, a multiply and an add each; the weights not counted)
//   its backward              8 per x (each gradient scattered to 4 taps, a multiply and an add each)
#include <benchmark/benchmark.h>

#include <functional>

#include "autograd/ops.h"
#include "tensor/random.h"

namespace scorch {
namespace {

using UnaryFn = std::function<Tensor(const Tensor&)>;

// Times f(x) on a float32 x of `shape` drawn from N(0, 1); flops_x FLOP per element of x and flops_y
// per element of y = f(x) (both 0: no FLOP counter).
void run(benchmark::State& state, const Shape& shape, const UnaryFn& f, double flops_x, double flops_y) {
  Generator gen(0);
  const Tensor x = randn(shape, gen);
  int64_t y_numel = 0;
  for (auto _ : state) {
    Tensor y = f(x);
    benchmark::DoNotOptimize(y.raw_data());
    y_numel = y.numel();
  }
  state.SetBytesProcessed(state.iterations() * (x.numel() + y_numel) * int64_t{sizeof(float)});
  const double flops = flops_x * static_cast<double>(x.numel()) + flops_y * static_cast<double>(y_numel);
  if (flops > 0)
    state.counters["FLOP/s"] =
        benchmark::Counter(flops * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

const Shape kPoolIn{64, 32, 14, 14}, kMeanOut{64, 32, 7, 7};
const Shape kNearestIn{64, 128, 7, 7}, kNearestOut{64, 128, 14, 14};
const Shape kBilinearIn{64, 32, 7, 7}, kBilinearOut{64, 32, 14, 14};

BENCHMARK_CAPTURE(
    run, avg5, kPoolIn, [](const Tensor& x) { return avg_pool2d(x, 5, 1, 2); }, 0.0, 25.0)
    ->Name("avg_pool2d/5x5_s1_p2/64x32x14x14")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(
    run, avg5_backward, kPoolIn, [](const Tensor& g) { return avg_pool2d_backward(g, kPoolIn, 5, 1, 2); }, 0.0, 25.0)
    ->Name("avg_pool2d_backward/5x5_s1_p2/64x32x14x14")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(
    run, mean2, kPoolIn, [](const Tensor& x) { return avg_pool2d(x, 2); }, 0.0, 4.0)
    ->Name("avg_pool2d/2x2_s2/64x32x14x14")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(
    run, mean2_backward, kMeanOut, [](const Tensor& g) { return avg_pool2d_backward(g, kPoolIn, 2, 2, 0); }, 0.0, 1.0)
    ->Name("avg_pool2d_backward/2x2_s2/64x32x14x14")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(
    run, nearest, kNearestIn, [](const Tensor& x) { return upsample_nearest2d(x, 2); }, 0.0, 0.0)
    ->Name("upsample_nearest2d/x2/64x128x7x7")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(
    run, nearest_backward, kNearestOut, [](const Tensor& g) { return upsample_nearest2d_backward(g, 2); }, 0.0, 3.0)
    ->Name("upsample_nearest2d_backward/x2/64x128x7x7")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(
    run, bilinear, kBilinearIn, [](const Tensor& x) { return interpolate_bilinear(x, 14, 14, true); }, 0.0, 8.0)
    ->Name("interpolate_bilinear/7to14_align/64x32x7x7")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(
    run, bilinear_backward, kBilinearOut, [](const Tensor& g) { return interpolate_bilinear_backward(g, 7, 7, true); },
    8.0, 0.0)
    ->Name("interpolate_bilinear_backward/7to14_align/64x32x7x7")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace scorch
