// The CUDA backend's plumbing: checked calls (the error messages run here, without a device), the
// device checks and, with a device, streams and synchronize. Without the backend or a device the
// device tests report as skipped.
#include <gtest/gtest.h>

#include <iostream>

#include "cuda/device.h"
#include "test_util.h"

#if SCORCH_HAS_CUDA
#include <cublas_v2.h>

#include "cuda/check.h"
#include "cuda/runtime.h"
#endif

namespace scorch {
namespace {

using testing::error_of;

TEST(CudaDevice, CheckDeviceNamesWhatIsMissing) {
  const std::string msg = error_of([] { cuda::check_device("tensor.to(cuda:0)", Device::cuda(0)); });
  if (!cuda::is_built()) {
    EXPECT_EQ(msg, "tensor.to(cuda:0): this build has no CUDA backend");
  } else if (!cuda::is_available()) {
    EXPECT_EQ(msg, "tensor.to(cuda:0): no CUDA device");
  } else {
    EXPECT_EQ(msg, "(no exception)");
    const int n = cuda::device_count();
    EXPECT_NE(error_of([&] { cuda::check_device("x", Device::cuda(n)); }).find("does not exist"), std::string::npos);
  }
}

TEST(CudaDevice, WithoutDeviceSynchronizeThrows) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_NE(error_of([] { cuda::synchronize(0); }), "(no exception)");
}

TEST(CudaDevice, Tf32IsOffByDefault) {
  EXPECT_FALSE(cuda::allow_tf32());
  cuda::set_allow_tf32(true);
  EXPECT_TRUE(cuda::allow_tf32());
  cuda::set_allow_tf32(false);
}

#if SCORCH_HAS_CUDA
// Runs here with or without a device: a failing runtime call is easy to make (an absurd device
// ordinal), and a cuBLAS or cuDNN status is just a value.
TEST(CudaCheck, RuntimeErrorNamesCallFileLineAndError) {
  int line = 0;
  const std::string msg = error_of([&] {
    line = __LINE__ + 1;
    SCORCH_CUDA_CHECK(cudaSetDevice(12345));
  });
  EXPECT_EQ(msg.rfind("CUDA error: cudaSetDevice(12345) failed at ", 0), 0u) << msg;
  std::cout << "  message: " << msg << "\n";
  EXPECT_NE(msg.find("test_cuda_runtime.cpp:" + std::to_string(line) + ": "), std::string::npos) << msg;
  // The runtime's name and description of whatever status it gave (no driver, no device, invalid device).
  const cudaError_t status = cudaSetDevice(12345);
  (void)cudaGetLastError();
  ASSERT_NE(status, cudaSuccess);
  EXPECT_NE(msg.find(std::string(cudaGetErrorName(status)) + " (" + cudaGetErrorString(status) + ")"),
            std::string::npos)
      << msg;
}

TEST(CudaCheck, CublasErrorNamesTheStatus) {
  const std::string msg = error_of([] { SCORCH_CUBLAS_CHECK(CUBLAS_STATUS_INVALID_VALUE); });
  EXPECT_EQ(msg.rfind("cuBLAS error: CUBLAS_STATUS_INVALID_VALUE failed at ", 0), 0u) << msg;
  EXPECT_NE(
      msg.find("CUBLAS_STATUS_INVALID_VALUE (" + std::string(cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE)) + ")"),
      std::string::npos)
      << msg;
  EXPECT_EQ(error_of([] { SCORCH_CUBLAS_CHECK(CUBLAS_STATUS_SUCCESS); }), "(no exception)");
}

TEST(CudaCheck, SuccessDoesNotThrow) {
  EXPECT_EQ(error_of([] { SCORCH_CUDA_CHECK(cudaSuccess); }), "(no exception)");
}

TEST(CudaStream, OneNonBlockingStreamPerDevice) {
  if (!cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const cudaStream_t s = cuda::current_stream(0);
  EXPECT_EQ(cuda::current_stream(0), s);
  unsigned flags = 0;
  ASSERT_EQ(cudaStreamGetFlags(s, &flags), cudaSuccess);
  EXPECT_EQ(flags & cudaStreamNonBlocking, static_cast<unsigned>(cudaStreamNonBlocking));
  EXPECT_NO_THROW(cuda::synchronize(0));
}
#endif

}  // namespace
}  // namespace scorch
