// bench_workloads.cpp: the benchmark workloads B1-B4 of shared/spec/reference-models.md, timed as
// bench/torch/bench_gmm.py (B1, B4) and bench/torch/bench_unet.py (B2, B3) time them in PyTorch
// (bench/compare runs both).
//   B1  one `mlp` training step: batch 512 GMM samples, annealed DSM (sigmas 10 -> 0.01, L = 10), Adam 1e-3
//   B2  one `unet-small` training step: batch 64 of x ~ U[0, 1] [64, 1, 28, 28], annealed DSM (sigmas
//       1 -> 0.01, L = 10), Adam 2e-4; counters: peak resident memory of the process (MiB) and minor
//       page faults per step (bench/torch/bench_unet.py reports the same two for PyTorch)
//   B3  `unet-small` forward only (one sampler step), batch 64, no graph
//   B4  annealed Langevin with the `mlp`: 10,000 particles, L = 10, T = 100, step_lr 5e-5 (untrained weights)
// Each has a twin named *_cuda that runs it on cuda:0 (skipped with "no CUDA device" where there is none):
// the model and every tensor of the step on the device, the GMM batches drawn on the CPU and copied, and
// the device synchronized before each iteration's time is read. bench/compare --device cuda runs them.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include "autograd/ops.h"
#include "cuda/device.h"
#include "nn/optim.h"
#include "nn/score_models.h"
#include "nn/unet.h"
#include "samplers/gmm.h"
#include "samplers/langevin.h"
#include "samplers/objectives.h"
#include "samplers/schedule.h"

namespace scorch {
namespace {

// The device of a *_cuda twin, or none after reporting the skip.
bool usable(benchmark::State& state, Device device) {
  if (device.is_cpu() || cuda::is_available()) return true;
  state.SkipWithError("no CUDA device");
  return false;
}
// Waits for the device's queued work (loss.item() already does for the training steps).
void sync(Device device) {
  if (device.is_cuda()) cuda::synchronize(device.index);
}

// Registers name (on the CPU) and name_cuda.
#define SCORCH_WORKLOAD(fn)                                            \
  void fn(benchmark::State& state) { fn##_on(state, Device::cpu()); }  \
  void fn##_cuda(benchmark::State& state) {                            \
    if (usable(state, Device::cuda())) fn##_on(state, Device::cuda()); \
  }

GaussianMixture reference_gmm() { return GaussianMixture::diagonal({0.8, 0.2}, {{5, 5}, {-5, -5}}, {{1, 1}, {1, 1}}); }

void B1_mlp_train_step_on(benchmark::State& state, Device device) {
  Generator gen(0);
  const GaussianMixture gmm = reference_gmm();
  const auto model = nn::make_score_model("mlp", gen);
  model->to(device);
  const ModelScore score(model);
  nn::Adam adam(model->parameters(), {.lr = 1e-3});
  const std::vector<double> sigmas = geometric_sigmas(10, 0.01, 10);
  for (auto _ : state) {
    const Tensor x = gmm.sample(512, gen).to(device);
    const Tensor loss = annealed_dsm_loss(score, x, sigmas, gen);
    adam.zero_grad();
    loss.backward();
    adam.step();
    benchmark::DoNotOptimize(loss.item());
  }
}
SCORCH_WORKLOAD(B1_mlp_train_step)
BENCHMARK(B1_mlp_train_step)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(B1_mlp_train_step_cuda)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

rusage usage() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u;
}

std::shared_ptr<nn::ScoreModel> unet_small(Generator& gen) {
  return std::make_shared<nn::UNetSmall>(gen, nn::UNetSmall::Options{});
}

void B2_unet_train_step_on(benchmark::State& state, Device device) {
  Generator gen(0);
  const auto model = unet_small(gen);
  model->to(device);
  const ModelScore score(model);
  nn::Adam adam(model->parameters(), {.lr = 2e-4});
  const std::vector<double> sigmas = geometric_sigmas(1.0, 0.01, 10);
  auto step = [&] {
    const Tensor x = rand({64, 1, 28, 28}, gen, {.device = device});
    const Tensor loss = annealed_dsm_loss(score, x, sigmas, gen);
    adam.zero_grad();
    loss.backward();
    adam.step();
    return loss.item();
  };
  step();  // warm-up: Adam's state and the allocator's cache
  const long faults_before = usage().ru_minflt;
  for (auto _ : state) benchmark::DoNotOptimize(step());
  const rusage after = usage();
  state.counters["peak_rss_mib"] = after.ru_maxrss / 1024.0;
  state.counters["minor_faults_per_step"] = static_cast<double>(after.ru_minflt - faults_before) / state.iterations();
}
SCORCH_WORKLOAD(B2_unet_train_step)
BENCHMARK(B2_unet_train_step)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(B2_unet_train_step_cuda)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

void B3_unet_forward_on(benchmark::State& state, Device device) {
  Generator gen(0);
  const auto model = unet_small(gen);
  model->to(device);
  const Tensor x = rand({64, 1, 28, 28}, gen, {.device = device}), sigma = full({64}, 0.1, {.device = device});
  NoGradGuard no_grad;
  for (auto _ : state) {
    const Tensor s = model->forward(x, sigma);
    sync(device);
    benchmark::DoNotOptimize(s.raw_data());
  }
}
SCORCH_WORKLOAD(B3_unet_forward)
BENCHMARK(B3_unet_forward_cuda)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(B3_unet_forward)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

void B4_annealed_langevin_on(benchmark::State& state, Device device) {
  Generator gen(0);
  const auto model = nn::make_score_model("mlp", gen);
  model->to(device);
  const ModelScore score(model);
  const std::vector<double> sigmas = geometric_sigmas(10, 0.01, 10);
  for (auto _ : state) {
    const Tensor x0 = randn({10000, 2}, gen, {.device = device}) * sigmas.front();
    const SampleResult r =
        annealed_langevin(score, x0, {.sigmas = sigmas, .steps_per_level = 100, .step_lr = 5e-5}, gen);
    sync(device);
    benchmark::DoNotOptimize(r.x.raw_data());
  }
}
SCORCH_WORKLOAD(B4_annealed_langevin)
BENCHMARK(B4_annealed_langevin)->Unit(benchmark::kSecond)->Iterations(3);
BENCHMARK(B4_annealed_langevin_cuda)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace scorch
