// launch.cuh: the one-thread-per-element launch of the image and optimizer kernels (pool.cu,
// upsample.cu, optim.cu): a grid-stride loop over n elements, kThreads per block, queued on the
// current stream of t's device and checked.
#pragma once
#include "cuda/check.h"
#include "cuda/runtime.h"
#include "tensor/tensor.h"

// for (i over [0, n) split among the grid's threads)
#define SCORCH_GRID_STRIDE(i, n)                                                         \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

namespace scorch::cuda {

// kernel<<<...>>>(n, args...) for n > 0 elements on t's device; nothing when n is 0.
template <typename Kernel, typename... Args>
void launch_elements(const Tensor& t, int64_t n, Kernel kernel, Args... args) {
  if (n == 0) return;
  const int device = t.device().index;
  const cudaStream_t stream = current_stream(device);
  DeviceGuard guard(device);
  kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, args...);
  SCORCH_CUDA_CHECK(cudaGetLastError());
}

}  // namespace scorch::cuda
