// caching_allocator.h: the device allocator behind every CUDA tensor. cudaMalloc and cudaFree are slow
// (cudaFree waits for the whole device), and a training or sampling step allocates the same sizes
// every time, so freed blocks are kept and handed out again.
//
// Rules:
//   - Sizes are rounded up to a size class: multiples of 512 bytes up to 1 MiB (kSmallLimit), multiples
//     of 2 MiB above. A request is served only by a cached block of exactly its class (no splitting), else
//     by a new device malloc; at most 511 bytes or 2 MiB - 1 byte of a block are wasted.
//   - Stream order makes reuse safe. A block freed by the host may still be read or written by kernels
//     queued on the stream it was used on; it goes to the free list of that stream, and only a later
//     request on the same stream gets it back, whose kernels the stream runs after the earlier ones.
//     A block is never handed to another stream (the backend has one stream per device today; the
//     rule keeps it safe when there are more). Host code must not touch device memory it has freed.
//   - Out of memory: the cache of that device is emptied (after waiting for the device) and the malloc
//     tried once more; if it fails again, allocate throws std::runtime_error naming the device, the
//     request and the statistics.
//   - empty_cache() waits for the device, then frees every cached block.
// Statistics per device: bytes handed out (allocated, in rounded sizes), bytes cached, the peak of
// allocated, the number of device mallocs and frees, of requests and of requests served from the cache.
//
// The device itself is behind DeviceMemory, so that the bookkeeping is tested on the CPU with a fake
// (tests/test_cuda_allocator.cpp); cuda/allocator.cpp gives the real one (cudaMalloc on the device's
// current stream). This file has no CUDA types and is built in every configuration.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tensor/storage.h"

namespace scorch::cuda {

struct AllocatorStats {
  size_t allocated = 0;       // bytes in blocks handed out and not yet freed (rounded sizes)
  size_t cached = 0;          // bytes in freed blocks kept for reuse
  size_t peak_allocated = 0;  // the largest `allocated` since start or reset_peak
  uint64_t device_mallocs = 0, device_frees = 0;
  uint64_t requests = 0, cache_hits = 0;
  size_t reserved() const { return allocated + cached; }  // bytes held from the device
};

// What the allocator needs from a device.
struct DeviceMemory {
  virtual ~DeviceMemory() = default;
  // A block of `nbytes`; nullptr when the device is out of memory; throws on any other error.
  virtual void* malloc(int device, size_t nbytes) = 0;
  virtual void free(int device, void* ptr) = 0;
  // Waits until all work queued on the device has finished (before cached blocks go back).
  virtual void synchronize(int device) = 0;
  // The device's current stream (an opaque handle: cudaStream_t in the real backend); throws when the
  // device does not exist.
  virtual void* stream(int device) = 0;
};

class CachingAllocator final : public Allocator {
 public:
  static constexpr size_t kSmallLimit = size_t{1} << 20;  // up to here: 512-byte classes
  static constexpr size_t kSmallRound = 512;
  static constexpr size_t kLargeRound = size_t{2} << 20;

  explicit CachingAllocator(std::unique_ptr<DeviceMemory> memory) : memory_(std::move(memory)) {}

  // The size class of a request of n > 0 bytes.
  static size_t round_size(size_t n) {
    const size_t unit = n <= kSmallLimit ? kSmallRound : kLargeRound;
    return (n + unit - 1) / unit * unit;
  }

  void* allocate(size_t nbytes, Device device) override;  // nullptr for 0 bytes
  void deallocate(void* ptr, size_t nbytes, Device device) override;

  AllocatorStats stats(int device) const;
  void reset_peak(int device);
  void empty_cache();  // every device

 private:
  struct Block {
    size_t size;   // the size class
    void* stream;  // the stream it was allocated on, the only one that may get it back
  };
  struct DeviceState {
    std::map<std::pair<void*, size_t>, std::vector<void*>> free;  // (stream, size class) -> free blocks
    std::unordered_map<void*, Block> live;                        // blocks handed out
    AllocatorStats stats;
  };

  // Waits for the device and frees every cached block of it. Called with mutex_ held.
  void release_cached(int device, DeviceState& s);
  std::string describe_stats(const AllocatorStats& s) const;

  std::unique_ptr<DeviceMemory> memory_;
  mutable std::mutex mutex_;
  std::map<int, DeviceState> devices_;
};

// "1.50 GiB", "512 B": bytes for a message.
std::string format_bytes(size_t bytes);

}  // namespace scorch::cuda
