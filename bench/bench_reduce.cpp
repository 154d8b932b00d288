// bench_reduce.cpp: float32 sums on inputs past the caches, so they measure memory bandwidth. Bytes
// count the input and the output once each (the outputs are small); FLOP: 1 add per input element:
//   sum/16M              y = sum(x)          x [16M] (64 MB)       threads split the reduced range
//   sum_rows/4096x1024   y = sum(x, {1})     x [4096, 1024]        each output folds a contiguous row
//   sum_cols/4096x1024   y = sum(x, {0})     x [4096, 1024]        a bias gradient: each input row is
//                                                                  added into a block of outputs
//   sum_cols/512x128     the bias gradient of a small layer (256 KB, in cache: the fixed costs)
// Compare with STREAM triad, about 48 GB/s on 2 threads here (perf-notes.md).
#include <benchmark/benchmark.h>

#include "autograd/ops.h"
#include "tensor/random.h"

namespace scorch {
namespace {

void sum_f32(benchmark::State& state, Shape shape, std::vector<int64_t> dims) {
  Generator gen(0);
  const Tensor x = randn(shape, gen);
  for (auto _ : state) {
    Tensor y = sum(x, dims);
    benchmark::DoNotOptimize(y.raw_data());
  }
  const int64_t out_numel = dims.empty() ? 1 : x.numel() / shape[dims[0]];
  state.SetBytesProcessed(state.iterations() * (x.numel() + out_numel) * int64_t{sizeof(float)});
  state.counters["FLOP/s"] = benchmark::Counter(
      static_cast<double>(x.numel()) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(sum_f32, all, Shape{int64_t{1} << 24}, std::vector<int64_t>{})
    ->Name("sum/16M")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(sum_f32, rows, Shape{4096, 1024}, std::vector<int64_t>{1})
    ->Name("sum_rows/4096x1024")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(sum_f32, cols, Shape{4096, 1024}, std::vector<int64_t>{0})
    ->Name("sum_cols/4096x1024")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(sum_f32, small_cols, Shape{512, 128}, std::vector<int64_t>{0})
    ->Name("sum_cols/512x128")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace scorch
