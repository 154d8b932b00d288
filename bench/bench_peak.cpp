// bench_peak.cpp: the roofs of peak.h as benchmarks (FLOP/s or bytes/s counters), so bench/compare and
// bench/results record them next to the figures that are shares of them.
#include <benchmark/benchmark.h>

#include "tensor/peak.h"

namespace scorch::bench {
namespace {

void peak_fma(benchmark::State& state) {
  double gflops = 0;
  for (auto _ : state) gflops = measure_fma_gflops(0.2);
  state.counters["FLOP/s"] = gflops * 1e9;
}
void peak_sgemm_2048(benchmark::State& state) {
  double gflops = 0;
  for (auto _ : state) gflops = measure_sgemm_gflops(2048, 3);
  state.counters["FLOP/s"] = gflops * 1e9;
}
void peak_stream_triad(benchmark::State& state) {
  double gbs = 0;
  for (auto _ : state) gbs = measure_stream_gbs(5);
  state.counters["bytes_per_second"] = gbs * 1e9;
}

BENCHMARK(peak_fma)->Name("peak/fma")->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(peak_sgemm_2048)->Name("peak/sgemm_2048")->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(peak_stream_triad)->Name("peak/stream_triad")->Iterations(3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace scorch::bench
