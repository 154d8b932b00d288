// copy.cpp: copy_ between the CPU and a CUDA device, and between two devices.
//
// Only contiguous bytes cross: host -> device uploads src as it is stored (made contiguous on the host
// first if needed) and converts and broadcasts on the device; device -> host converts and broadcasts on
// the device into a contiguous tensor of dst's shape and dtype, then downloads it. Copies of 1 MiB and
// more go through two pinned host buffers of kChunk bytes, so that the memcpy between pageable and
// pinned memory of one chunk overlaps the DMA of the other; smaller ones are one cudaMemcpyAsync from
// pageable memory. Either way the call returns once the host side is done with its memory: the
// upload's source may be freed, the download's destination holds the values.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "cuda/check.h"
#include "cuda/device.h"
#include "tensor/backend.h"
#include "cuda/runtime.h"

namespace scorch::cuda {
namespace {

constexpr size_t kStagingMin = size_t{1} << 20;
constexpr size_t kChunk = size_t{4} << 20;

size_t nbytes(const Tensor& t) { return static_cast<size_t>(t.numel()) * dtype_size(t.dtype()); }

// Two pinned buffers shared by all copies (one large copy at a time holds them).
struct Staging {
  std::mutex mutex;
  void* buffer[2] = {nullptr, nullptr};
  void ensure() {
    for (void*& b : buffer)
      if (!b) SCORCH_CUDA_CHECK(cudaHostAlloc(&b, kChunk, cudaHostAllocPortable));  // pinned for every device
  }
};
Staging& staging() {
  static Staging* s = new Staging;  // never freed: pinned memory lives as long as the process
  return *s;
}

// Two events on the current device, each marking when one staging buffer's last copy has finished.
struct EventPair {
  cudaEvent_t event[2] = {nullptr, nullptr};
  EventPair() {
    for (cudaEvent_t& e : event) SCORCH_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  ~EventPair() {
    for (cudaEvent_t e : event)
      if (e) (void)cudaEventDestroy(e);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
};

void upload(void* dst, const void* src, size_t bytes, int device) {
  const cudaStream_t stream = current_stream(device);
  DeviceGuard guard(device);
  if (bytes < kStagingMin) {
    SCORCH_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
    // From pageable memory the call may return before it has read src: wait, so the caller may free it.
    SCORCH_CUDA_CHECK(cudaStreamSynchronize(stream));
    return;
  }
  Staging& s = staging();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.ensure();
  EventPair done;
  bool pending[2] = {false, false};
  for (size_t off = 0, c = 0; off < bytes; off += kChunk, ++c) {
    const int b = static_cast<int>(c % 2);
    const size_t len = std::min(kChunk, bytes - off);
    if (pending[b]) SCORCH_CUDA_CHECK(cudaEventSynchronize(done.event[b]));  // its previous chunk is on the device
    std::memcpy(s.buffer[b], static_cast<const char*>(src) + off, len);
    SCORCH_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + off, s.buffer[b], len, cudaMemcpyHostToDevice, stream));
    SCORCH_CUDA_CHECK(cudaEventRecord(done.event[b], stream));
    pending[b] = true;
  }
  SCORCH_CUDA_CHECK(cudaStreamSynchronize(stream));  // the buffers are free for the next copy
}

void download(void* dst, const void* src, size_t bytes, int device) {
  const cudaStream_t stream = current_stream(device);
  DeviceGuard guard(device);
  if (bytes < kStagingMin) {
    SCORCH_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
    SCORCH_CUDA_CHECK(cudaStreamSynchronize(stream));
    return;
  }
  Staging& s = staging();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.ensure();
  EventPair done;
  const size_t chunks = (bytes + kChunk - 1) / kChunk;
  auto length = [&](size_t c) { return std::min(kChunk, bytes - c * kChunk); };
  // Chunk c goes through buffer c % 2. Chunk c + 1 is queued before chunk c is copied out; its buffer
  // held chunk c - 1, already copied out in the previous iteration.
  auto queue = [&](size_t c) {
    const int b = static_cast<int>(c % 2);
    SCORCH_CUDA_CHECK(cudaMemcpyAsync(s.buffer[b], static_cast<const char*>(src) + c * kChunk, length(c),
                                      cudaMemcpyDeviceToHost, stream));
    SCORCH_CUDA_CHECK(cudaEventRecord(done.event[b], stream));
  };
  queue(0);
  for (size_t c = 0; c < chunks; ++c) {
    if (c + 1 < chunks) queue(c + 1);
    const int b = static_cast<int>(c % 2);
    SCORCH_CUDA_CHECK(cudaEventSynchronize(done.event[b]));
    std::memcpy(static_cast<char*>(dst) + c * kChunk, s.buffer[b], length(c));
  }
}

// src converted to `dtype` and broadcast to `shape`, contiguous, on src's own device (src itself when it
// already is all that).
Tensor as_contiguous(const Tensor& src, const Shape& shape, DType dtype) {
  if (src.is_contiguous() && src.shape() == shape && src.dtype() == dtype) return src;
  Tensor t = empty(shape, {.dtype = dtype, .device = src.device()});
  if (src.device().is_cuda())
    copy_on_device(t, src);
  else
    t.copy_(src);
  return t;
}

void host_to_device(const Tensor& dst, const Tensor& src) {
  const Tensor host = as_contiguous(src, src.shape(), src.dtype());
  const bool direct = dst.is_contiguous() && dst.shape() == src.shape() && dst.dtype() == src.dtype();
  const Tensor target = direct ? dst : empty(src.shape(), {.dtype = src.dtype(), .device = dst.device()});
  upload(target.raw_data(), host.raw_data(), nbytes(src), dst.device().index);
  if (!direct) copy_on_device(dst, target);  // convert and broadcast on the device
}

void device_to_host(const Tensor& dst, const Tensor& src) {
  const Tensor source = as_contiguous(src, dst.shape(), dst.dtype());
  if (dst.is_contiguous()) {
    download(dst.raw_data(), source.raw_data(), nbytes(dst), src.device().index);
    return;
  }
  const Tensor host = empty(dst.shape(), dst.options());
  download(host.raw_data(), source.raw_data(), nbytes(dst), src.device().index);
  dst.copy_(host);
}

void device_to_device(const Tensor& dst, const Tensor& src) {
  const int from = src.device().index, to = dst.device().index;
  const Tensor source = as_contiguous(src, dst.shape(), dst.dtype());
  synchronize(from);  // `source` is written by kernels on the other device's stream
  const Tensor target = dst.is_contiguous() ? dst : empty(dst.shape(), dst.options());
  const cudaStream_t stream = current_stream(to);
  DeviceGuard guard(to);
  SCORCH_CUDA_CHECK(cudaMemcpyPeerAsync(target.raw_data(), to, source.raw_data(), from, nbytes(dst), stream));
  // `source` may be reused on its own device's stream as soon as it is freed below: wait for the read.
  SCORCH_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (target.raw_data() != dst.raw_data()) copy_on_device(dst, target);
}

}  // namespace
}  // namespace scorch::cuda

// The entries of tensor/backend.h that this file defines.
namespace scorch::backend {
using namespace cuda;

void copy(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  const Device to = dst.device(), from = src.device();
  if (to.is_cuda() && from == to)
    copy_on_device(dst, src);
  else if (to.is_cuda() && from.is_cuda())
    device_to_device(dst, src);
  else if (to.is_cuda())
    host_to_device(dst, src);
  else
    device_to_host(dst, src);
}

}  // namespace scorch::backend
