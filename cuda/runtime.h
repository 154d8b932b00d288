// runtime.h: what the backend's own files share about the CUDA runtime: the current stream of each
// device, a guard that makes a device current, and the launch shape of the elementwise kernels.
// Only the CUDA build includes it (it needs <cuda_runtime.h>); the rest of scorch sees cuda/device.h.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <mutex>

#include "cuda/check.h"
#include "tensor/backend.h"
#include "tensor/tensor.h"

namespace scorch::cuda {

// The argument types of tensor/backend.h's entries, which the backend's own files take apart.
using backend::ConvParams;
using backend::NormDims;
using backend::RandomDraw;
using backend::RandomKind;
using backend::ReduceKind;

inline constexpr int kMaxDevices = 128;  // Device::index is an int8_t

// The device's current stream: a non-blocking stream created on first use and kept for the life of
// the process (so that ops queued on it never wait for the legacy default stream). Throws as
// check_device when the device does not exist.
cudaStream_t current_stream(int device);

// Makes `device` current for the scope (cudaSetDevice), restoring the previous one after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  explicit DeviceGuard(Device device) : DeviceGuard(static_cast<int>(device.index)) {}
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0, device_ = 0;
};

// One library handle per device (cuBLAS, cuDNN), made on first use by create(stream) with the device
// current and the device's stream to bind it to; thread-safe, and an exception leaves it to be made by
// a later call. Tag tells the tables of two libraries with the same handle type apart.
template <typename Tag, typename Handle, typename Create>
Handle per_device_handle(int device, Create create) {
  static std::once_flag created[kMaxDevices];
  static Handle handles[kMaxDevices] = {};
  const cudaStream_t stream = current_stream(device);  // checks the device
  std::call_once(created[device], [&] {
    DeviceGuard guard(device);
    handles[device] = create(stream);
  });
  return handles[device];
}

// dst = src converted to dst's dtype and broadcast to its shape, both on one device: one elementwise
// kernel (cuda/copy.cu). backend::copy calls it for device-to-device copies.
void copy_on_device(const Tensor& dst, const Tensor& src);

// Elementwise kernels run kThreads threads per block over a grid-stride loop; the grid is capped at
// kMaxBlocks blocks (enough to fill any current GPU several times over), the loop covering the rest.
inline constexpr int kThreads = 256;
inline constexpr int64_t kMaxBlocks = 65535;
inline unsigned blocks_for(int64_t n) {  // n > 0
  return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
}

}  // namespace scorch::cuda
