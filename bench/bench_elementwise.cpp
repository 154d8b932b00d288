// bench_elementwise.cpp: elementwise ops on 16M float32 elements (64 MB per tensor, far past the caches),
// so they measure memory bandwidth. Bytes count every tensor read or written once:
//   add            out = a + b          a, b, out [16M]                12 bytes per element
//   silu           out = x sigmoid(x)   x, out [16M]                    8 bytes per element
//   add_broadcast  out = a + b          a [4096, 4096], b [4096], out   8 bytes per element (b is cached)
//   add_out        add's loop alone, into a preallocated out (as torch.add(a, b, out=c))
// Each op call allocates its output, as in a model; the page faults of that fresh memory are part of
// the figure (PyTorch pays them too), and add_out shows what the loop alone reaches. Compare with
// STREAM triad: about 48 GB/s on 2 threads here (perf-notes.md).
// FLOP per element (counter FLOP/s; bench/roofline reads both counters): add 1; silu 4 by convention
// (x / (1 + exp(-x)): negate, exp counted as 1, add, divide; exp is really a dozen or more
// instructions, so silu's FLOP/s understates its work).
#include <benchmark/benchmark.h>

#include "autograd/ops.h"
#include "tensor/cpu_loops.h"
#include "tensor/random.h"

namespace scorch {
namespace {

// Bytes and FLOP of one call, as rates over the iterations run.
void set_rates(benchmark::State& state, int64_t bytes, double flops) {
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["FLOP/s"] =
      benchmark::Counter(flops * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

constexpr int64_t kN = int64_t{1} << 24;  // 16M
constexpr int64_t kRows = 4096, kCols = 4096;

void add_f32(benchmark::State& state) {
  Generator gen(0);
  const Tensor a = randn({kN}, gen), b = randn({kN}, gen);
  for (auto _ : state) {
    Tensor out = add(a, b);
    benchmark::DoNotOptimize(out.raw_data());
  }
  set_rates(state, kN * 3 * int64_t{sizeof(float)}, 1.0 * kN);
}

void add_out_f32(benchmark::State& state) {
  Generator gen(0);
  const Tensor a = randn({kN}, gen), b = randn({kN}, gen), out = empty({kN});
  for (auto _ : state) {
    map_cpu<float, float, float>(out, [](float x, float y) { return x + y; }, a, b);
    benchmark::ClobberMemory();
  }
  set_rates(state, kN * 3 * int64_t{sizeof(float)}, 1.0 * kN);
}

void silu_f32(benchmark::State& state) {
  Generator gen(0);
  const Tensor x = randn({kN}, gen);
  for (auto _ : state) {
    Tensor out = silu(x);
    benchmark::DoNotOptimize(out.raw_data());
  }
  set_rates(state, kN * 2 * int64_t{sizeof(float)}, 4.0 * kN);
}

void add_broadcast_f32(benchmark::State& state) {
  Generator gen(0);
  const Tensor a = randn({kRows, kCols}, gen), b = randn({kCols}, gen);
  for (auto _ : state) {
    Tensor out = add(a, b);
    benchmark::DoNotOptimize(out.raw_data());
  }
  set_rates(state, (2 * kRows * kCols + kCols) * int64_t{sizeof(float)}, 1.0 * kRows * kCols);
}

// The Langevin update x + alpha s + beta z: fused (one pass, 4 arrays moved) and as the three ops it
// replaced (two scalar multiplies and two adds: 4 passes, 11 arrays moved).
void add_scaled_f32(benchmark::State& state) {
  Generator gen(0);
  const Tensor x = randn({kN}, gen), s = randn({kN}, gen), z = randn({kN}, gen);
  for (auto _ : state) {
    Tensor out = add_scaled(x, s, 0.01, z, 0.1414);
    benchmark::DoNotOptimize(out.raw_data());
  }
  set_rates(state, kN * 4 * int64_t{sizeof(float)}, 4.0 * kN);
}

void add_scaled_as_ops_f32(benchmark::State& state) {
  Generator gen(0);
  const Tensor x = randn({kN}, gen), s = randn({kN}, gen), z = randn({kN}, gen);
  for (auto _ : state) {
    Tensor out = x + s * 0.01 + z * 0.1414;
    benchmark::DoNotOptimize(out.raw_data());
  }
  set_rates(state, kN * 4 * int64_t{sizeof(float)}, 4.0 * kN);
}

BENCHMARK(add_scaled_f32)->Name("add_scaled/16M")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(add_scaled_as_ops_f32)->Name("add_scaled_as_ops/16M")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(add_f32)->Name("add/16M")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(add_out_f32)->Name("add_out/16M")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(silu_f32)->Name("silu/16M")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(add_broadcast_f32)
    ->Name("add_broadcast/4096x4096+4096")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace scorch
