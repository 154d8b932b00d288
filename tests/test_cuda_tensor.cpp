// CUDA tensors: to(device) and back, copy_ between and on devices (any layout, broadcast, dtype
// conversion, small and staged sizes), fill_, values(), item(), printing, and the errors without a
// backend or a device. Copies are exact, so these compare with ==.
#include <gtest/gtest.h>

#include <sstream>

#include "autograd/ops.h"
#include "cuda/device.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::error_of;
using testing::Layout;
using testing::make_input;

TEST(CudaTensor, ToCudaWithoutDeviceOrBackendSaysWhy) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  const Tensor x = ones({2});
  const std::string msg = error_of([&] { x.to(Device::cuda()); });
  EXPECT_EQ(msg, cuda::is_built() ? "tensor.to(cuda:0): no CUDA device"
                                  : "tensor.to(cuda:0): this build has no CUDA backend");
  EXPECT_EQ(error_of([&] { x.cuda(1); }).rfind("tensor.to(cuda:1): ", 0), 0u);
}

TEST(CudaTensor, ToTheSameDeviceIsTheTensorItself) {
  const Tensor x = ones({2});
  EXPECT_EQ(x.to(Device::cpu()).raw_data(), x.raw_data());
  EXPECT_EQ(x.cpu().raw_data(), x.raw_data());
}

TEST(CudaTensor, RoundTripKeepsValuesShapeAndDtype) {
  if (!cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (DType dtype : {kFloat32, kFloat64, kInt64, kUInt8})
    for (const Shape& shape : {Shape{}, Shape{0}, Shape{5}, Shape{3, 4, 5}}) {
      const Tensor x = make_input(shape, kFloat64, 1, Layout::contiguous, 0, 100).to(dtype);
      const Tensor d = x.cuda();
      EXPECT_EQ(d.device(), Device::cuda());
      EXPECT_EQ(d.shape(), shape);
      EXPECT_EQ(d.dtype(), dtype);
      EXPECT_TRUE(d.is_contiguous());
      const Tensor back = d.cpu();
      EXPECT_EQ(back.device(), Device::cpu());
      EXPECT_EQ(back.values(), x.values()) << dtype_name(dtype) << " " << shape;
      EXPECT_EQ(d.values(), x.values());
    }
}

TEST(CudaTensor, CopiesOfViewsAndLargeTensors) {
  if (!cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  // Views on either side, and sizes below and above the 1 MiB staging threshold (3 chunks of 4 MiB).
  for (Layout layout : {Layout::contiguous, Layout::transposed, Layout::strided})
    for (const Shape& shape : {Shape{7, 9}, Shape{1024, 1025}, Shape{3, 1024, 1025}}) {
      const Tensor x = make_input(shape, kFloat32, 2, layout);
      const Tensor d = x.cuda();  // a non-contiguous source is made contiguous on the host
      EXPECT_EQ(d.values(), x.values()) << testing::layout_name(layout) << " " << shape;
      const Tensor dv = make_input(shape, kFloat32, 3, layout).cuda();  // contiguous on the device
      const Tensor view = dv.transpose(-1, -2);                         // a device view, downloaded
      EXPECT_EQ(view.cpu().values(), make_input(shape, kFloat32, 3, layout).transpose(-1, -2).values());
      // Into a non-contiguous destination on each side.
      const Tensor host_dst = zeros(shape).transpose(-1, -2);
      host_dst.copy_(d.transpose(-1, -2));
      EXPECT_EQ(host_dst.values(), x.transpose(-1, -2).values());
      const Tensor dev_dst = zeros(shape, {.device = Device::cuda()}).transpose(-1, -2);
      dev_dst.copy_(x.transpose(-1, -2));
      EXPECT_EQ(dev_dst.values(), x.transpose(-1, -2).values());
    }
}

TEST(CudaTensor, CopyBroadcastsAndConverts) {
  if (!cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Tensor row = from_vector({1.5, -2.25, 3}, {.dtype = kFloat64});
  const Tensor dst = zeros({4, 3}, {.device = Device::cuda()});
  dst.copy_(row);  // host float64 [3] -> device float32 [4, 3]
  EXPECT_EQ(dst.values(), row.expand({4, 3}).values());
  const Tensor ints = empty({4, 3}, {.dtype = kInt64, .device = Device::cuda()});
  ints.copy_(dst);  // device float32 -> device int64, truncating as static_cast
  EXPECT_EQ(ints.values(), (std::vector<double>{1, -2, 3, 1, -2, 3, 1, -2, 3, 1, -2, 3}));
  const Tensor host = zeros({2, 4, 3}, {.dtype = kFloat64});
  host.copy_(dst.slice(0, 0, 1));  // device [1, 3] broadcast into host [2, 4, 3]
  EXPECT_EQ(host.values(), row.expand({2, 4, 3}).values());
  // A copy within one storage (overlapping) reads a copy of the source first.
  const Tensor a = arange(0, 6, 1, {.device = Device::cuda()});
  a.slice(0, 1, 6).copy_(a.slice(0, 0, 5));
  EXPECT_EQ(a.values(), (std::vector<double>{0, 0, 1, 2, 3, 4}));
}

TEST(CudaTensor, FillValuesItemAndPrinting) {
  if (!cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Tensor t = full({2, 3}, 2.5, {.device = Device::cuda()});
  EXPECT_EQ(t.values(), std::vector<double>(6, 2.5));
  t.slice(1, 0, 3, 2).fill_(-1);  // a strided view
  EXPECT_EQ(t.values(), (std::vector<double>{-1, 2.5, -1, -1, 2.5, -1}));
  EXPECT_EQ(scalar_tensor(4, {.dtype = kFloat64, .device = Device::cuda()}).item(), 4.0);
  EXPECT_EQ(from_vector({1, 2, 3}, {.dtype = kInt64, .device = Device::cuda()}).values(),
            (std::vector<double>{1, 2, 3}));
  std::ostringstream on_device, on_cpu;
  on_device << t;
  on_cpu << t.cpu();
  std::string expected = on_cpu.str();
  expected.replace(expected.find("device=cpu"), 10, "device=cuda:0");
  EXPECT_EQ(on_device.str(), expected);
}

TEST(CudaTensor, ToDeviceIsDifferentiable) {
  if (!cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Tensor x = from_vector({1, 2, 3}, {.dtype = kFloat64, .requires_grad = true});
  const Tensor y = x.cuda();
  EXPECT_TRUE(y.requires_grad());
  (y * y).sum().backward();  // the gradient comes back to the CPU leaf
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().device(), Device::cpu());
  EXPECT_EQ(x.grad().values(), (std::vector<double>{2, 4, 6}));
}

}  // namespace
}  // namespace scorch
