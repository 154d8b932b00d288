// allocator.cpp: the caching allocator of DeviceType::cuda over cudaMalloc/cudaFree, and the
// statistics functions of cuda/device.h.
#include <cuda_runtime.h>

#include "cuda/caching_allocator.h"
#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/runtime.h"

namespace scorch::cuda {
namespace {

class CudaMemory final : public DeviceMemory {
 public:
  void* malloc(int device, size_t nbytes) override {
    DeviceGuard guard(device);
    void* ptr = nullptr;
    const cudaError_t status = cudaMalloc(&ptr, nbytes);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky: clear it, the allocator decides what to do
      return nullptr;
    }
    detail::check_cuda(status, "cudaMalloc(&ptr, nbytes)", __FILE__, __LINE__);
    return ptr;
  }
  void free(int device, void* ptr) override {
    DeviceGuard guard(device);
    SCORCH_CUDA_CHECK(cudaFree(ptr));
  }
  void synchronize(int device) override {
    DeviceGuard guard(device);
    SCORCH_CUDA_CHECK(cudaDeviceSynchronize());
  }
  void* stream(int device) override {
    if (device < 0 || device >= device_count())  // the message names what was being done
      check_device("allocating on " + Device::cuda(device).str(), Device::cuda(device));
    return current_stream(device);
  }
};

// Never destroyed, like the CPU allocator: tensors in static storage may be freed after any destructor
// here would run (and after the CUDA runtime has shut down, when cudaFree would fail).
CachingAllocator& caching_allocator() {
  static CachingAllocator* allocator = new CachingAllocator(std::make_unique<CudaMemory>());
  return *allocator;
}

}  // namespace

AllocatorStats memory_stats(int device) { return caching_allocator().stats(device); }
void reset_peak_memory_stats(int device) { caching_allocator().reset_peak(device); }
void empty_cache() { caching_allocator().empty_cache(); }

}  // namespace scorch::cuda

namespace scorch::backend {

Allocator* allocator() { return &cuda::caching_allocator(); }

}  // namespace scorch::backend
