// device_stub.cpp: the CPU-only build: no CUDA backend, no device.
#include "cuda/device.h"

namespace scorch::cuda {
namespace {

bool tf32_allowed = false;

}  // namespace

bool is_built() { return false; }
int device_count() { return 0; }
void synchronize(int device) { check_device("synchronize", Device::cuda(device)); }
void set_allow_tf32(bool allow) { tf32_allowed = allow; }
bool allow_tf32() { return tf32_allowed; }
AllocatorStats memory_stats(int) { return {}; }
void reset_peak_memory_stats(int) {}
void empty_cache() {}
Allocator* device_allocator() { return nullptr; }

}  // namespace scorch::cuda
