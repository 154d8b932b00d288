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
//
// elementwise/<name>/1M: every op of the test table tests/ops/elementwise_cases.h (the same list the
// reference, gradient and CUDA parity tests run) on 1M float32 elements drawn in its input range, one
// per input; bytes count the inputs and the output once (no FLOP counter: the ops differ too much).
#include <benchmark/benchmark.h>

#include "autograd/ops.h"
#include "tests/ops/elementwise_cases.h"
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
    map_cpu<float, float, float>(
        out, [](float x, float y) { return x + y; }, a, b);
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
BENCHMARK(add_broadcast_f32)->Name("add_broadcast/4096x4096+4096")->Unit(benchmark::kMillisecond)->UseRealTime();

constexpr int64_t kTableN = int64_t{1} << 20;  // 1M

Tensor table_input(uint64_t seed, double lo, double hi) {
  Generator gen(seed);
  return rand({kTableN}, gen) * (hi - lo) + lo;
}

// Registers elementwise/<name>/1M; `inputs` makes the op's inputs when the benchmark runs, so that the
// table's tensors are not all alive at once.
void register_table(const std::string& name, std::function<Tensor(const TensorList&)> op,
                    std::function<TensorList()> inputs) {
  const auto run = [op = std::move(op), inputs = std::move(inputs)](benchmark::State& state) {
    const TensorList in = inputs();
    for (auto _ : state) {
      Tensor out = op(in);
      benchmark::DoNotOptimize(out.raw_data());
    }
    state.SetBytesProcessed(state.iterations() * kTableN * static_cast<int64_t>(in.size() + 1) *
                            int64_t{sizeof(float)});
  };
  benchmark::RegisterBenchmark(("elementwise/" + name + "/1M").c_str(), run)
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
}

const bool kTableRegistered = [] {
  for (const auto& c : testing::unary_cases())
    register_table(
        c.name, [op = c.op](const TensorList& x) { return op(x[0]); },
        [lo = c.lo, hi = c.hi] { return TensorList{table_input(1, lo, hi)}; });
  for (const auto& c : testing::binary_cases())
    register_table(
        c.name, [op = c.op](const TensorList& x) { return op(x[0], x[1]); },
        [lo = c.lo, hi = c.hi] {
          return TensorList{table_input(1, -1, 1), table_input(2, lo, hi)};
        });
  for (const auto& c : testing::ternary_cases())
    register_table(c.name, c.op, [mask = c.first_is_condition] {
      const Tensor first = table_input(1, -1, 1);
      return TensorList{mask ? gt(first, scalar_tensor(0)) : first, table_input(2, -1, 1), table_input(3, -1, 1)};
    });
  return true;
}();

}  // namespace
}  // namespace scorch
