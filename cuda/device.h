// device.h: the CUDA backend as the rest of scorch sees it, with no CUDA types: is it built, how many
// devices, waiting for queued work, the TF32 switch and the caching allocator's statistics. The
// backend itself (cuda/*.cu, cuda/*.cpp) fills in the kernel side of each op and provides the
// allocator of DeviceType::cuda; a CPU-only build links device_stub.cpp instead, where these report
// "no backend" (device_count() is 0, check_device throws, the statistics stay zero).
//
// Streams: each device has one current stream, a non-blocking stream created on first use; every
// kernel, copy and library call of the backend is queued on it, so ops run in the order they were
// called and the host only waits when it reads results (a copy to the CPU, item(), values()) or calls
// synchronize().
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

#include "cuda/caching_allocator.h"
#include "tensor/backend.h"

namespace scorch::cuda {

// Discovery, the device check and synchronize are the backend's (tensor/backend.h), named here too.
using backend::check_device;
using backend::device_count;
using backend::is_built;
using backend::synchronize;
inline bool is_available() { return device_count() > 0; }

// TF32 for float32 matmuls (cuBLAS's CUBLAS_TF32_TENSOR_OP_MATH: inputs rounded to a 10-bit mantissa,
// float accumulation, several times faster on Ampere and Hopper). Off by default: CPU/CUDA parity and
// gradchecks need full float32 products.
void set_allow_tf32(bool allow);
bool allow_tf32();

// Deterministic kernels: with it on, cuDNN convolutions use only algorithms whose results do not depend
// on scheduling (no atomics in the weight and data gradients) and every scorch kernel that could sum in
// a run-dependent order (atomicAdd scatters) takes its ordered path, so that the same inputs give the
// same bits from run to run on one GPU. Off by default: the fastest algorithm wins. The apps' flag
// --deterministic turns it on (docs/determinism.md).
void set_deterministic(bool on);
bool deterministic();

// cuDNN: the version of the library loaded (e.g. 91400 for 9.14.0; 0 in a CPU-only build), and how
// many convolution algorithm choices are cached (one per pass, device, dtype, shapes and options seen
// so far: cuda/conv2d.cpp).
int cudnn_version();
size_t conv_algorithm_cache_size();

// The caching allocator of DeviceType::cuda (cuda/caching_allocator.h): its statistics for one device,
// resetting the peak to the current allocation, and handing every cached block back to the driver.
AllocatorStats memory_stats(int device = 0);
void reset_peak_memory_stats(int device = 0);
void empty_cache();

}  // namespace scorch::cuda
