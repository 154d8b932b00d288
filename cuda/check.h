// check.h: every CUDA runtime, cuBLAS and cuDNN call goes through one of these macros. A failed call
// throws std::runtime_error naming the library, the call as written, file:line and the library's own
// name and description of the status:
//   CUDA error: cudaMalloc(&ptr, nbytes) failed at /src/cuda/allocator.cpp:41: cudaErrorMemoryAllocation (out of
//   memory)
// Kernel launches report through cudaGetLastError() right after the launch:
//   kernel<<<grid, block, 0, stream>>>(...);  SCORCH_CUDA_CHECK(cudaGetLastError());
// SCORCH_CUBLAS_CHECK and SCORCH_CUDNN_CHECK need <cublas_v2.h> and <cudnn.h> in the file that uses them.
// NOTE: asynchronous errors (a kernel's bad memory access) surface at a later call, which then names
// itself, not the kernel; compute-sanitizer or CUDA_LAUNCH_BLOCKING=1 pin them down.
#pragma once
#include <cuda_runtime.h>

namespace scorch::cuda::detail {

// Throws "<library> error: <call> failed at <file>:<line>: <name> (<description>)"; without a name,
// "... failed at <file>:<line>: <description> (status <code>)".
[[noreturn]] void throw_error(const char* library, const char* call, const char* file, int line, long code,
                              const char* name, const char* description);

// The body of SCORCH_CUDA_CHECK, for the few places that look at a status before deciding it is an
// error (cudaMalloc's out of memory): clears the runtime's last error and throws.
inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  (void)cudaGetLastError();  // reset the (non-sticky) error so that the next check does not see it again
  throw_error("CUDA", call, file, line, static_cast<long>(status), cudaGetErrorName(status),
              cudaGetErrorString(status));
}

}  // namespace scorch::cuda::detail

#define SCORCH_CUDA_CHECK(expr) ::scorch::cuda::detail::check_cuda((expr), #expr, __FILE__, __LINE__)

#define SCORCH_CUBLAS_CHECK(expr)                                                                                      \
  do {                                                                                                                 \
    const cublasStatus_t scorch_status_ = (expr);                                                                      \
    if (scorch_status_ != CUBLAS_STATUS_SUCCESS)                                                                       \
      ::scorch::cuda::detail::throw_error("cuBLAS", #expr, __FILE__, __LINE__, static_cast<long>(scorch_status_),      \
                                          cublasGetStatusName(scorch_status_), cublasGetStatusString(scorch_status_)); \
  } while (0)

#define SCORCH_CUDNN_CHECK(expr)                                                                                 \
  do {                                                                                                           \
    const cudnnStatus_t scorch_status_ = (expr);                                                                 \
    if (scorch_status_ != CUDNN_STATUS_SUCCESS)                                                                  \
      ::scorch::cuda::detail::throw_error("cuDNN", #expr, __FILE__, __LINE__, static_cast<long>(scorch_status_), \
                                          nullptr, cudnnGetErrorString(scorch_status_));                         \
  } while (0)
