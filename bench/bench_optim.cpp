// bench_optim.cpp: one optimizer step, gradient clipping and an EMA update on the parameters of the
// reference `mlp` (17,282 float32 values in 6 tensors: [128, 3], [128], [128, 128], [128], [2, 128], [2]),
// as in B1's training step; and Adam on one 16M-element tensor, where memory bandwidth bounds it.
// Bytes count every array read or written once (Adam: p, g, m, v read, p, m, v written: 28 per element).
#include <benchmark/benchmark.h>

#include "nn/optim.h"
#include "tensor/random.h"

namespace scorch::nn {
namespace {

const std::vector<Shape> kMlpShapes = {{128, 3}, {128}, {128, 128}, {128}, {2, 128}, {2}};

// Parameters with random values and gradients.
TensorList make_params(const std::vector<Shape>& shapes) {
  Generator gen(0);
  TensorList params;
  for (const Shape& s : shapes) {
    Tensor p = randn(s, gen).requires_grad_();
    p.set_grad(randn(s, gen));
    params.push_back(p);
  }
  return params;
}

int64_t total_numel(const TensorList& params) {
  int64_t n = 0;
  for (const Tensor& p : params) n += p.numel();
  return n;
}

void adam_step(benchmark::State& state, std::vector<Shape> shapes) {
  const TensorList params = make_params(shapes);
  Adam adam(params, {.lr = 1e-3});
  for (auto _ : state) {
    adam.step();
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * total_numel(params) * 7 * int64_t{sizeof(float)});
}

void sgd_momentum_step(benchmark::State& state) {
  const TensorList params = make_params(kMlpShapes);
  SGD sgd(params, {.lr = 1e-3, .momentum = 0.9});
  for (auto _ : state) {
    sgd.step();
    benchmark::ClobberMemory();
  }
}

// max_norm above the norm, so the gradients stay as they are from one iteration to the next.
void clip(benchmark::State& state) {
  const TensorList params = make_params(kMlpShapes);
  for (auto _ : state) benchmark::DoNotOptimize(clip_grad_norm(params, 1e30));
}

struct Mlp : Module {
  Mlp() {
    const TensorList params = make_params(kMlpShapes);
    for (size_t i = 0; i < params.size(); ++i) register_parameter(std::to_string(i) + ".weight", params[i]);
  }
};

void ema_update(benchmark::State& state) {
  Mlp model;
  EMA ema(model, 0.999);
  for (auto _ : state) {
    ema.update(model);
    benchmark::ClobberMemory();
  }
}

BENCHMARK_CAPTURE(adam_step, mlp, kMlpShapes)->Name("adam_step/mlp_17282")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(adam_step, big, std::vector<Shape>{{int64_t{1} << 24}})
    ->Name("adam_step/16M")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(sgd_momentum_step)->Name("sgd_momentum_step/mlp_17282")->Unit(benchmark::kMicrosecond);
BENCHMARK(clip)->Name("clip_grad_norm/mlp_17282")->Unit(benchmark::kMicrosecond);
BENCHMARK(ema_update)->Name("ema_update/mlp_17282")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace scorch::nn
