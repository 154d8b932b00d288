// bench_pool.cpp: the pooling and resizing layers of NCSN's RefineNet, float32, forward and backward:
//   avg_pool2d 5x5     AvgPool2d(5, stride=1, padding=2) on [64, 32, 14, 14] (the RefineNet chained pooling)
//   avg_pool2d 2x2     2x2 mean pooling on [64, 32, 14, 14] -> [64, 32, 7, 7]
//   upsample_nearest2d scale 2 on [64, 128, 7, 7] -> [64, 128, 14, 14]
//   bilinear           interpolate_bilinear 7 -> 14 (align_corners, as NCSN) on [64, 32, 7, 7]
// A backward case times the backward op alone, on a gradient shaped like the forward's output. Bytes
// count the input and the output once each (the kernels read each input element once per plane, from
// cache); the tensors are a few MB, so these run near the caches rather than at memory bandwidth.
#include <benchmark/benchmark.h>

#include <functional>

#include "autograd/ops.h"
#include "tensor/random.h"

namespace scorch {
namespace {

using UnaryFn = std::function<Tensor(const Tensor&)>;

// Times f(x) on a float32 x of `shape` drawn from N(0, 1).
void run(benchmark::State& state, const Shape& shape, const UnaryFn& f) {
  Generator gen(0);
  const Tensor x = randn(shape, gen);
  int64_t elements = 0;
  for (auto _ : state) {
    Tensor y = f(x);
    benchmark::DoNotOptimize(y.raw_data());
    elements = x.numel() + y.numel();
  }
  state.SetBytesProcessed(state.iterations() * elements * int64_t{sizeof(float)});
}

const Shape kPoolIn{64, 32, 14, 14}, kMeanOut{64, 32, 7, 7};
const Shape kNearestIn{64, 128, 7, 7}, kNearestOut{64, 128, 14, 14};
const Shape kBilinearIn{64, 32, 7, 7}, kBilinearOut{64, 32, 14, 14};

BENCHMARK_CAPTURE(run, avg5, kPoolIn, [](const Tensor& x) { return avg_pool2d(x, 5, 1, 2); })
    ->Name("avg_pool2d/5x5_s1_p2/64x32x14x14")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(run, avg5_backward, kPoolIn, [](const Tensor& g) { return avg_pool2d_backward(g, kPoolIn, 5, 1, 2); })
    ->Name("avg_pool2d_backward/5x5_s1_p2/64x32x14x14")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(run, mean2, kPoolIn, [](const Tensor& x) { return avg_pool2d(x, 2); })
    ->Name("avg_pool2d/2x2_s2/64x32x14x14")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(run, mean2_backward, kMeanOut, [](const Tensor& g) { return avg_pool2d_backward(g, kPoolIn, 2, 2, 0); })
    ->Name("avg_pool2d_backward/2x2_s2/64x32x14x14")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(run, nearest, kNearestIn, [](const Tensor& x) { return upsample_nearest2d(x, 2); })
    ->Name("upsample_nearest2d/x2/64x128x7x7")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(run, nearest_backward, kNearestOut, [](const Tensor& g) { return upsample_nearest2d_backward(g, 2); })
    ->Name("upsample_nearest2d_backward/x2/64x128x7x7")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(run, bilinear, kBilinearIn, [](const Tensor& x) { return interpolate_bilinear(x, 14, 14, true); })
    ->Name("interpolate_bilinear/7to14_align/64x32x7x7")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(run, bilinear_backward, kBilinearOut,
                  [](const Tensor& g) { return interpolate_bilinear_backward(g, 7, 7, true); })
    ->Name("interpolate_bilinear_backward/7to14_align/64x32x7x7")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace scorch
