// device.h: is a CUDA device usable? The CUDA backend (cuda/*.cu) fills in the kernel side of each
// op and registers its allocator for DeviceType::cuda; a CPU-only build links device_stub.cpp.
#pragma once

namespace scorch::cuda {

bool is_built();        // compiled with the CUDA backend
int device_count();     // 0 without a driver or device
inline bool is_available() { return device_count() > 0; }

}  // namespace scorch::cuda
