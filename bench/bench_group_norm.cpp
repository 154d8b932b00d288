// bench_group_norm.cpp: group_norm and group_norm_silu (8 groups, affine) on the three activation shapes
// of unet-small at batch 64 (reference-models.md): [64, 32, 28, 28], [64, 64, 14, 14], [64, 128, 7, 7],
// 1.6M, 0.8M and 0.4M float32 elements (6.4, 3.2 and 1.6 MB per tensor).
//   forward    y = op(x)                              x, y          8 bytes per element
//   backward   grad(y, {x, w, b}, g), the fused kernel   g, x, gx     12 bytes per element
// Bytes count every tensor read or written once (the kernels read a group's data two or three times,
// from cache). FLOP per element, counted from the kernels in autograd/ops/group_norm.cpp, with silu =
// 4 FLOP (negate, exp counted as 1, add, divide; bench_elementwise's convention):
//   group_norm       forward 7   (moments: sum x, (x - m)^2 summed: 4; (x - m) scale + shift: 3)
//                    backward 9  (sums of gy (x - m) and gy: 4; gx = alpha gy + beta (x - m) + gamma: 5)
//   group_norm_silu  forward 11  (group_norm's 7 + silu)
//                    backward 21 (group_norm's 9 + recompute a: 3, sigmoid: 4, gy = g s (1 + a (1 - s)): 5)
// The backward is timed alone (manual time): the forward that records its node runs
// outside the timer.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>

#include "autograd/ops.h"
#include "tensor/random.h"

namespace scorch {
namespace {

constexpr int64_t kGroups = 8;

void set_flops(benchmark::State& state, double flops_per_iteration) {
  state.counters["FLOP/s"] =
      benchmark::Counter(flops_per_iteration * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

struct Inputs {
  Tensor x, weight, bias;
};

Inputs make_inputs(const Shape& shape, bool requires_grad) {
  Generator gen(0);
  const int64_t C = shape[1];
  Inputs in{randn(shape, gen), rand({C}, gen) + 0.5, randn({C}, gen) * 0.1};
  if (requires_grad)
    for (Tensor* t : {&in.x, &in.weight, &in.bias}) t->requires_grad_();
  return in;
}

Tensor run(const Inputs& in, bool silu) {
  return silu ? group_norm_silu(in.x, kGroups, in.weight, in.bias) : group_norm(in.x, kGroups, in.weight, in.bias);
}

void forward(benchmark::State& state, Shape shape, bool silu) {
  const Inputs in = make_inputs(shape, /*requires_grad=*/false);
  for (auto _ : state) {
    Tensor y = run(in, silu);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * shape.numel() * 2 * int64_t{sizeof(float)});
  set_flops(state, (silu ? 11.0 : 7.0) * static_cast<double>(shape.numel()));
}

void backward(benchmark::State& state, Shape shape, bool silu) {
  const Inputs in = make_inputs(shape, /*requires_grad=*/true);
  Generator gen(1);
  const Tensor g = randn(shape, gen);
  for (auto _ : state) {
    const Tensor y = run(in, silu);
    const auto start = std::chrono::steady_clock::now();
    const TensorList grads = grad({y}, {in.x, in.weight, in.bias}, {g});
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    benchmark::DoNotOptimize(grads[0].raw_data());
  }
  state.SetBytesProcessed(state.iterations() * shape.numel() * 3 * int64_t{sizeof(float)});
  set_flops(state, (silu ? 21.0 : 9.0) * static_cast<double>(shape.numel()));
}

// Registered as "group_norm_silu/backward/64x32x28x28".
const bool registered = [] {
  for (const Shape& shape : {Shape{64, 32, 28, 28}, Shape{64, 64, 14, 14}, Shape{64, 128, 7, 7}})
    for (bool silu : {false, true}) {
      std::string dims = std::to_string(shape[0]);
      for (int d = 1; d < shape.size(); ++d) dims.append("x").append(std::to_string(shape[d]));
      const std::string op = silu ? "group_norm_silu" : "group_norm";
      benchmark::RegisterBenchmark((op + "/forward/" + dims).c_str(), forward, shape, silu)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
      benchmark::RegisterBenchmark((op + "/backward/" + dims).c_str(), backward, shape, silu)
          ->Unit(benchmark::kMillisecond)
          ->UseManualTime();
    }
  return true;
}();

}  // namespace
}  // namespace scorch
