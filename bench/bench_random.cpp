// bench_random.cpp: the Philox RNG filling 16M values (64 MiB of float32) on the CPU. randn pays
// for Box-Muller's log, sin and cos; rand is Philox alone, the floor under every draw.
#include <benchmark/benchmark.h>

#include "tensor/random.h"

namespace {

using namespace scorch;

constexpr int64_t kSamples = int64_t{1} << 24;

template <Tensor (*Draw)(const Shape&, Generator&, TensorOptions)>
void draw_float32(benchmark::State& state) {
  Generator gen(0);
  for (auto _ : state) {
    Tensor x = Draw({kSamples}, gen, {});
    benchmark::DoNotOptimize(x.raw_data());
  }
  const double samples = static_cast<double>(kSamples) * static_cast<double>(state.iterations());
  state.counters["samples/s"] = benchmark::Counter(samples, benchmark::Counter::kIsRate);
  state.counters["bytes/s"] = benchmark::Counter(samples * sizeof(float), benchmark::Counter::kIsRate);
}

BENCHMARK_TEMPLATE(draw_float32, randn)->Name("randn_float32_16M")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(draw_float32, rand)->Name("rand_float32_16M")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
