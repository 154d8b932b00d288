// test_cuda_training.cpp: training on a CUDA device. The fused SGD, Adam and EMA kernels (cuda/optim.cu)
// against the CPU loops over several steps; Module::to(Device); and one annealed-DSM training step of
// `mlp` and `unet-small` on each device from the same weights, batch and noise (the generator draws the
// same numbers on both). Module::to's CPU behaviour runs everywhere; the rest reports as skipped
// without a device.
//
// Tolerances:
//   optimizers: rtol 1e-6, atol 1e-7 (float32) and 1e-14 (float64). Both devices run optim_fns.h's
//     formula with the same explicit FMAs and correctly rounded sqrt and division, so the results are
//     expected to be bitwise equal; the tolerance leaves room for a last-bit difference only.
//   a training step: loss rtol 1e-5 (float32 forward passes of different kernels: cuDNN's convolution
//     algorithms and cuBLAS sum in other orders than OpenBLAS and the direct kernels, about 1e-6
//     relative per layer); gradients rtol 1e-3 with atol 1e-5 of the largest |gradient| (the same
//     differences through the backward pass of a ~20-layer network, and cancellations in sums of 50,176
//     terms for the weight gradients); parameters after Adam's first step (which moves each weight by
//     about lr sign(g)) rtol 1e-5 with atol 1e-3 lr.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "autograd/ops.h"
#include "cuda/device.h"
#include "cuda_test_util.h"
#include "nn/optim.h"
#include "nn/score_models.h"
#include "samplers/objectives.h"
#include "samplers/schedule.h"

namespace scorch {
namespace {

using testing::all_close;
using testing::make_input;

testing::Tolerance optimizer_tolerance(DType t) {
  return t == kFloat32 ? testing::Tolerance{1e-6, 1e-7} : testing::Tolerance{1e-14, 1e-14};
}

TEST(CudaTraining, ModuleToCpuIsANoOp) {  // runs everywhere
  Generator gen(1);
  auto model = nn::make_score_model("mlp", gen);
  const nn::NamedTensors before = model->named_parameters();
  std::vector<const void*> data;
  for (const auto& [name, t] : before) data.push_back(t.raw_data());
  model->to(Device::cpu());
  const nn::NamedTensors after = model->named_parameters();
  for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i].second.raw_data(), data[i]) << after[i].first;
}

TEST(CudaTraining, ModuleToWithoutADeviceSaysSo) {  // runs everywhere without a device
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  Generator gen(1);
  auto model = nn::make_score_model("mlp", gen);
  EXPECT_THROW(model->to(Device::cuda()), std::runtime_error);
}

TEST(CudaTraining, ModuleToMovesEveryParameterAndBack) {
  SKIP_WITHOUT_DEVICE();
  Generator gen(2);
  auto model = nn::make_score_model("unet-small", gen);
  const nn::NamedTensors cpu = model->named_parameters();
  std::vector<std::vector<double>> values;
  for (const auto& [name, t] : cpu) values.push_back(t.values());
  model->to(Device::cuda());
  const nn::NamedTensors dev = model->named_parameters();
  for (size_t i = 0; i < dev.size(); ++i) {
    EXPECT_EQ(dev[i].second.device(), Device::cuda()) << dev[i].first;
    EXPECT_EQ(dev[i].second.impl(), cpu[i].second.impl()) << "the handle is kept: " << dev[i].first;
    EXPECT_TRUE(dev[i].second.requires_grad()) << dev[i].first;
  }
  model->to(Device::cpu());
  for (size_t i = 0; i < cpu.size(); ++i) EXPECT_EQ(cpu[i].second.values(), values[i]) << cpu[i].first;
}

// Several steps of an optimizer over the same parameters and gradients on each device.
template <typename MakeOptimizer>
void expect_same_steps(DType dtype, MakeOptimizer make) {
  const Tensor p0 = make_input({1000}, dtype, 1), g0 = make_input({1000}, dtype, 2);
  std::vector<double> results[2];
  for (const Device device : {Device::cpu(), Device::cuda()}) {
    const Tensor p = p0.to(device).detach().requires_grad_();
    auto optimizer = make(TensorList{p});
    for (int step = 0; step < 5; ++step) {
      p.set_grad((g0 * (1.0 + 0.3 * step)).to(device));
      optimizer.step();
    }
    results[device.is_cuda()] = p.values();
  }
  EXPECT_TRUE(all_close(from_vector(results[1], {1000}, {.dtype = kFloat64}),
                        from_vector(results[0], {1000}, {.dtype = kFloat64}), optimizer_tolerance(dtype)));
}

TEST(CudaTraining, FusedOptimizersMatchCpu) {
  SKIP_WITHOUT_DEVICE();
  for (const DType dtype : {kFloat32, kFloat64}) {
    expect_same_steps(dtype, [](TensorList p) { return nn::Adam(p, {.lr = 1e-2}); });
    expect_same_steps(dtype, [](TensorList p) { return nn::Adam(p, {.lr = 1e-2, .weight_decay = 0.1}); });
    expect_same_steps(dtype, [](TensorList p) { return nn::SGD(p, {.lr = 0.1, .momentum = 0.9, .nesterov = true}); });
    expect_same_steps(dtype, [](TensorList p) { return nn::SGD(p, {.lr = 0.1, .weight_decay = 0.01}); });
  }
}

TEST(CudaTraining, EmaAndClipGradNormMatchCpu) {
  SKIP_WITHOUT_DEVICE();
  Generator gen(3);
  auto cpu_model = nn::make_score_model("mlp", gen);
  Generator gen_again(3);
  auto dev_model = nn::make_score_model("mlp", gen_again);
  dev_model->to(Device::cuda());
  nn::EMA cpu_ema(*cpu_model, 0.9), dev_ema(*dev_model, 0.9);
  NoGradGuard no_grad;
  for (int step = 0; step < 3; ++step) {
    for (auto* model : {cpu_model.get(), dev_model.get()})
      for (const Tensor& p : model->parameters()) p.copy_(p * 0.5 + 0.1);
    cpu_ema.update(*cpu_model), dev_ema.update(*dev_model);
  }
  cpu_ema.copy_to(*cpu_model), dev_ema.copy_to(*dev_model);
  const TensorList a = cpu_model->parameters(), b = dev_model->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(all_close(b[i].cpu(), a[i], optimizer_tolerance(kFloat32))) << i;

  const Tensor p_cpu = make_input({300}, kFloat32, 4, testing::Layout::contiguous, -1, 1, true);
  const Tensor p_dev = p_cpu.cuda().detach().requires_grad_();
  p_cpu.set_grad(make_input({300}, kFloat32, 5) * 10.0), p_dev.set_grad(p_cpu.grad().cuda());
  const double n_cpu = nn::clip_grad_norm({p_cpu}, 1.0), n_dev = nn::clip_grad_norm({p_dev}, 1.0);
  EXPECT_NEAR(n_dev, n_cpu, 1e-12 * n_cpu);  // both sum squares in double
  EXPECT_TRUE(all_close(p_dev.grad().cpu(), p_cpu.grad(), {1e-6, 1e-7}));
}

TEST(CudaTraining, OptimizerRefusesAParameterThatMovedAway) {
  SKIP_WITHOUT_DEVICE();
  Generator gen(6);
  auto model = nn::make_score_model("mlp", gen);
  nn::Adam adam(model->parameters());
  model->to(Device::cuda());
  for (const Tensor& p : model->parameters()) p.set_grad(zeros_like(p));
  EXPECT_THROW(adam.step(), std::invalid_argument);  // its state is on the CPU: a clear error, no crash
}

// One step of annealed DSM + Adam from the same weights on the CPU and on cuda:0.
void expect_same_training_step(const char* name, const Shape& batch, double lr) {
  const std::vector<double> sigmas = geometric_sigmas(1.0, 0.01, 10);
  const Tensor x = make_input(batch, kFloat32, 7);
  double loss[2];
  std::vector<Tensor> grads[2], params[2];
  for (const Device device : {Device::cpu(), Device::cuda()}) {
    Generator init(8), noise(9);
    auto model = nn::make_score_model(name, init, geometric_sigmas(1.0, 0.01, 10));
    model->to(device);
    nn::Adam adam(model->parameters(), {.lr = lr});
    const ModelScore score(model);
    const Tensor l = annealed_dsm_loss(score, x.to(device), sigmas, noise);
    l.backward();
    const int k = device.is_cuda();
    loss[k] = l.item();
    for (const Tensor& p : model->parameters()) grads[k].push_back(p.grad().cpu());
    adam.step();
    for (const Tensor& p : model->parameters()) params[k].push_back(p.detach().cpu());
  }
  EXPECT_NEAR(loss[1], loss[0], 1e-5 * std::abs(loss[0])) << name;
  for (size_t i = 0; i < grads[0].size(); ++i) {
    double largest = 0;
    for (double v : grads[0][i].values()) largest = std::max(largest, std::abs(v));
    EXPECT_TRUE(all_close(grads[1][i], grads[0][i], {1e-3, 1e-5 * largest})) << name << " gradient " << i;
    EXPECT_TRUE(all_close(params[1][i], params[0][i], {1e-5, 1e-3 * lr})) << name << " parameter " << i;
  }
}

TEST(CudaTraining, MlpStepMatchesCpu) {
  SKIP_WITHOUT_DEVICE();
  expect_same_training_step("mlp", {512, 2}, 1e-3);  // B1's step
}

TEST(CudaTraining, UnetSmallStepMatchesCpu) {
  SKIP_WITHOUT_DEVICE();
  expect_same_training_step("unet-small", {8, 1, 28, 28}, 2e-4);  // B2's step, batch 8
}

TEST(CudaTraining, RefinenetStepMatchesCpu) {
  SKIP_WITHOUT_DEVICE();
  expect_same_training_step("refinenet", {4, 1, 28, 28}, 1e-3);
}

}  // namespace
}  // namespace scorch
