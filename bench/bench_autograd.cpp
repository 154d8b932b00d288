// bench_autograd.cpp: the fixed cost of an op, on tensors so small ([4] float32) that the arithmetic
// is free: what is left is allocating the output, dispatch, recording the graph node and, backward,
// walking the graph and running each op's backward formula (itself a few ops).
//   chain_forward_backward   100 ops   x -> x * c -> x + c -> tanh -> exp -> ... ; then y.backward(ones)
//   chain_forward_no_grad    the same 100 ops under NoGradGuard (no graph)
//   .../profiled             the same with a Profiler alive: one event per op (and per backward node)
// time_per_op = time per iteration / 100 (forward + backward per op in the first case). PyTorch eager
// takes several microseconds per op here (bench/torch/bench_foundation.py measures the same chain).
#include <benchmark/benchmark.h>

#include <optional>

#include "autograd/ops.h"
#include "autograd/profiler.h"

namespace scorch {
namespace {

constexpr int kChainOps = 100;

// Four ops per round, chosen so that the values stay in a narrow range for any number of rounds:
// tanh maps to (-1, 1), exp then to (0.37, 2.72), and * 0.5 + 0.1 keeps it there.
Tensor chain(Tensor x, const Tensor& scale, const Tensor& shift) {
  for (int i = 0; i < kChainOps / 4; ++i) x = exp(tanh(x * scale + shift));
  return x;
}

void set_time_per_op(benchmark::State& state) {
  // ops per second, inverted: seconds per op (shown as e.g. "450n", i.e. 450 ns)
  const double ops = static_cast<double>(state.iterations()) * kChainOps;
  using benchmark::Counter;
  state.counters["time_per_op"] = Counter(ops, Counter::kIsRate | Counter::kInvert);
}

// With `profiled`, a Profiler records every op; it is restarted (untimed) every 1000 iterations so
// that its buffer stays small.
class MaybeProfiler {
 public:
  explicit MaybeProfiler(bool on) : on_(on) {
    if (on_) profiler_.emplace();
  }
  void tick(benchmark::State& state) {
    if (!on_ || ++iterations_ % 1000 != 0) return;
    state.PauseTiming();
    profiler_.reset();
    profiler_.emplace();
    state.ResumeTiming();
  }

 private:
  bool on_;
  int64_t iterations_ = 0;
  std::optional<Profiler> profiler_;
};

void chain_forward_backward(benchmark::State& state, bool profiled) {
  const Tensor x = from_vector({0.1, -0.2, 0.3, 0.4}, {.requires_grad = true});
  const Tensor scale = full({4}, 0.5), shift = full({4}, 0.1), grad_y = ones({4});
  MaybeProfiler profiler(profiled);
  for (auto _ : state) {
    profiler.tick(state);
    x.zero_grad();
    chain(x, scale, shift).backward(grad_y);
    benchmark::DoNotOptimize(x.grad().raw_data());
  }
  set_time_per_op(state);
}

void chain_forward_no_grad(benchmark::State& state, bool profiled) {
  const Tensor x = from_vector({0.1, -0.2, 0.3, 0.4}, {.requires_grad = true});
  const Tensor scale = full({4}, 0.5), shift = full({4}, 0.1);
  NoGradGuard no_grad;
  MaybeProfiler profiler(profiled);
  for (auto _ : state) {
    profiler.tick(state);
    Tensor y = chain(x, scale, shift);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_time_per_op(state);
}

BENCHMARK_CAPTURE(chain_forward_backward, plain, false)
    ->Name("autograd_chain100/forward_backward")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(chain_forward_no_grad, plain, false)
    ->Name("autograd_chain100/forward_no_grad")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(chain_forward_backward, profiled, true)
    ->Name("autograd_chain100/forward_backward/profiled")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(chain_forward_no_grad, profiled, true)
    ->Name("autograd_chain100/forward_no_grad/profiled")
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace scorch
