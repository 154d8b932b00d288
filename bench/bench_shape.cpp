// bench_shape.cpp: the shape ops that move data (views cost nothing and are not timed here).
//   contiguous  a transposed [4096, 4096] float32 made contiguous: a strided read, 128 MB moved
//   concat      two [4096, 2048] along dim 1 into [4096, 4096]: 128 MB moved
// No arithmetic, so no FLOP counter: bytes/s only (input + output, each once).
// Compare with memory bandwidth, about 48 GB/s on 2 threads (perf-notes.md).
#include <benchmark/benchmark.h>

#include "autograd/ops.h"
#include "tensor/random.h"

namespace scorch {
namespace {

constexpr int64_t kN = 4096;

void contiguous_of_transpose(benchmark::State& state) {
  Generator gen(0);
  const Tensor t = transpose(randn({kN, kN}, gen), 0, 1);
  for (auto _ : state) {
    Tensor y = contiguous(t);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * kN * kN * 2 * int64_t{sizeof(float)});
}

void concat_columns(benchmark::State& state) {
  Generator gen(0);
  const Tensor a = randn({kN, kN / 2}, gen), b = randn({kN, kN / 2}, gen);
  for (auto _ : state) {
    Tensor y = concat({a, b}, 1);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * kN * kN * 2 * int64_t{sizeof(float)});
}

BENCHMARK(contiguous_of_transpose)
    ->Name("contiguous/transposed_4096x4096")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(concat_columns)->Name("concat/2x4096x2048")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace scorch
