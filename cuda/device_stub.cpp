// device_stub.cpp: the CPU-only build: no CUDA backend, no device. The entry points that tensor/ calls
// for CUDA tensors (cuda/ops.h) throw; they are never reached, since no CUDA tensor can be made.
#include "cuda/device.h"
#include "cuda/ops.h"

namespace scorch::cuda {
namespace {

bool tf32_allowed = false;
bool deterministic_on = false;

[[noreturn]] void no_backend(const char* what) {
  throw std::runtime_error(std::string(what) + ": this build has no CUDA backend");
}

}  // namespace

bool is_built() { return false; }
int device_count() { return 0; }
void synchronize(int device) { check_device("synchronize", Device::cuda(device)); }
void set_allow_tf32(bool allow) { tf32_allowed = allow; }
bool allow_tf32() { return tf32_allowed; }
void set_deterministic(bool on) { deterministic_on = on; }
bool deterministic() { return deterministic_on; }
AllocatorStats memory_stats(int) { return {}; }
void reset_peak_memory_stats(int) {}
void empty_cache() {}
Allocator* device_allocator() { return nullptr; }
int cudnn_version() { return 0; }
size_t conv_algorithm_cache_size() { return 0; }

void fill(const Tensor&, double) { no_backend("fill_"); }
void copy(const Tensor&, const Tensor&) { no_backend("copy_"); }
void copy_on_device(const Tensor&, const Tensor&) { no_backend("copy_"); }
void fill_random(const Tensor&, const RandomDraw&) { no_backend("random"); }

}  // namespace scorch::cuda
