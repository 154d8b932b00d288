// runtime.cpp: current streams, the device guard, synchronize, the TF32 and determinism switches.
#include "cuda/runtime.h"

#include <atomic>
#include <mutex>

#include "cuda/device.h"

namespace scorch::cuda {
namespace {

std::atomic<bool> tf32_allowed{false};
std::atomic<bool> deterministic_on{false};

}  // namespace

cudaStream_t current_stream(int device) {
  if (device < 0 || device >= device_count())  // throws, naming what is missing
    check_device(Device::cuda(device).str(), Device::cuda(device));
  static std::once_flag created[kMaxDevices];
  static cudaStream_t streams[kMaxDevices] = {};
  std::call_once(created[device], [device] {  // an exception leaves the flag unset: a later call retries
    DeviceGuard guard(device);
    SCORCH_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[device], cudaStreamNonBlocking));
  });
  return streams[device];
}

DeviceGuard::DeviceGuard(int device) : device_(device) {
  SCORCH_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device_) SCORCH_CUDA_CHECK(cudaSetDevice(device_));
}

DeviceGuard::~DeviceGuard() {
  if (previous_ != device_) (void)cudaSetDevice(previous_);  // a destructor does not throw
}

void set_allow_tf32(bool allow) { tf32_allowed.store(allow); }
bool allow_tf32() { return tf32_allowed.load(); }
void set_deterministic(bool on) { deterministic_on.store(on); }
bool deterministic() { return deterministic_on.load(); }

}  // namespace scorch::cuda

namespace scorch::backend {

void synchronize(int device) {
  const cudaStream_t stream = cuda::current_stream(device);
  cuda::DeviceGuard guard(device);
  SCORCH_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace scorch::backend
