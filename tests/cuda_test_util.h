// cuda_test_util.h: CPU/CUDA parity for the op tests. cuda_matches_cpu runs f on CPU inputs and on
// copies of them on cuda:0 with the same layout (same strides and offset over a copy of the whole
// storage, so transposed, strided and expanded inputs stay so on the device), compares the outputs,
// then backpropagates the same random grad_output through both and compares the gradient of every
// input that requires one.
#pragma once
#include <functional>

#include "autograd/engine.h"
#include "cuda/device.h"
#include "test_util.h"

// The first line of every device test: reports it as skipped, never passed, where there is no device.
#define SKIP_WITHOUT_DEVICE() \
  if (!::scorch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

namespace scorch::testing {

// t's storage copied to `device`, viewed with t's shape, strides and offset; requires_grad as t.
inline Tensor same_layout_on(const Tensor& t, Device device) {
  const int64_t storage_numel = static_cast<int64_t>(t.storage()->nbytes() / dtype_size(t.dtype()));
  const Tensor whole = make_view(t, {storage_numel}, {1}, 0).to(device);
  Tensor d = make_view(whole, t.shape(), t.strides(), t.offset());
  if (t.requires_grad()) d.requires_grad_();
  return d;
}

struct ParityTolerance {
  Tolerance forward, backward;
};

inline ::testing::AssertionResult cuda_matches_cpu(const std::function<Tensor(const TensorList&)>& f,
                                                   const TensorList& inputs, ParityTolerance tol) {
  TensorList device_inputs, cpu_wants, device_wants;
  for (const Tensor& t : inputs) {
    device_inputs.push_back(same_layout_on(t, Device::cuda()));
    if (t.requires_grad()) cpu_wants.push_back(t), device_wants.push_back(device_inputs.back());
  }
  const Tensor y_cpu = f(inputs), y_dev = f(device_inputs);
  if (y_dev.device() != Device::cuda())
    return ::testing::AssertionFailure() << "the output is on " << y_dev.device().str() << ", not cuda:0";
  if (auto r = all_close(y_dev, y_cpu, tol.forward); !r)
    return ::testing::AssertionFailure() << "forward: " << r.message();
  if (cpu_wants.empty() || !y_cpu.requires_grad()) return ::testing::AssertionSuccess();
  const Tensor g = make_input(y_cpu.shape(), y_cpu.dtype(), /*seed=*/99);
  const TensorList g_cpu = grad({y_cpu}, cpu_wants, {g}), g_dev = grad({y_dev}, device_wants, {g.cuda()});
  for (size_t i = 0; i < g_cpu.size(); ++i) {
    if (g_cpu[i].defined() != g_dev[i].defined())
      return ::testing::AssertionFailure() << "gradient " << i << " defined on one device only";
    if (!g_cpu[i].defined()) continue;
    if (g_dev[i].device() != Device::cuda())
      return ::testing::AssertionFailure() << "gradient " << i << " is on " << g_dev[i].device().str();
    if (auto r = all_close(g_dev[i], g_cpu[i], tol.backward); !r)
      return ::testing::AssertionFailure() << "gradient of input " << i << ": " << r.message();
  }
  return ::testing::AssertionSuccess();
}

// f run on cuda:0, as a function of CPU inputs with a CPU output, for gradcheck and gradgradcheck:
// they perturb the CPU inputs, and to(device) carries values and gradients across.
inline std::function<Tensor(const TensorList&)> on_device(std::function<Tensor(const TensorList&)> f) {
  return [f = std::move(f)](const TensorList& x) {
    TensorList d;
    for (const Tensor& t : x) d.push_back(t.cuda());
    return f(d).cpu();
  };
}

}  // namespace scorch::testing
