// caching_allocator.cpp: the bookkeeping of the CUDA caching allocator (rules in caching_allocator.h).
#include "cuda/caching_allocator.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace scorch::cuda {

std::string format_bytes(size_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) v /= 1024, ++unit;
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.2f %s", v, kUnits[unit]);
  return buf;
}

void* CachingAllocator::allocate(size_t nbytes, Device device) {
  if (nbytes == 0) return nullptr;
  const int d = device.index;
  const size_t size = round_size(nbytes);
  void* const stream = memory_->stream(d);  // throws when the device does not exist
  std::lock_guard<std::mutex> lock(mutex_);
  DeviceState& s = devices_[d];
  ++s.stats.requests;
  void* ptr = nullptr;
  auto it = s.free.find({stream, size});
  if (it != s.free.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    s.stats.cached -= size;
    ++s.stats.cache_hits;
  } else {
    ptr = memory_->malloc(d, size);
    if (!ptr && s.stats.cached > 0) {  // out of memory: give the cache back and try once more
      release_cached(d, s);
      ptr = memory_->malloc(d, size);
    }
    if (!ptr)
      throw std::runtime_error("CUDA out of memory: " + device.str() + " cannot allocate " + format_bytes(size) +
                               " (a request of " + std::to_string(nbytes) + " bytes); " + describe_stats(s.stats));
    ++s.stats.device_mallocs;
  }
  s.live.emplace(ptr, Block{size, stream});
  s.stats.allocated += size;
  s.stats.peak_allocated = std::max(s.stats.peak_allocated, s.stats.allocated);
  return ptr;
}

void CachingAllocator::deallocate(void* ptr, size_t /*nbytes*/, Device device) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  DeviceState& s = devices_[device.index];
  auto it = s.live.find(ptr);
  if (it == s.live.end()) {  // a bug elsewhere; called from destructors, so report rather than throw
    std::fprintf(stderr, "scorch: CUDA allocator: %p on %s was not handed out by it; not freed\n", ptr,
                 device.str().c_str());
    return;
  }
  const Block block = it->second;
  s.live.erase(it);
  s.free[{block.stream, block.size}].push_back(ptr);
  s.stats.allocated -= block.size;
  s.stats.cached += block.size;
}

void CachingAllocator::release_cached(int device, DeviceState& s) {
  if (s.stats.cached == 0) return;
  memory_->synchronize(device);  // kernels queued before the frees may still use these blocks
  // Take the lists out first: should a free throw, no block stays listed to be freed twice.
  const auto lists = std::move(s.free);
  s.free.clear();
  for (const auto& [key, blocks] : lists)
    for (void* ptr : blocks) {
      s.stats.cached -= key.second;
      ++s.stats.device_frees;
      memory_->free(device, ptr);
    }
}

AllocatorStats CachingAllocator::stats(int device) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = devices_.find(device);
  return it == devices_.end() ? AllocatorStats{} : it->second.stats;
}

void CachingAllocator::reset_peak(int device) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = devices_.find(device);
  if (it != devices_.end()) it->second.stats.peak_allocated = it->second.stats.allocated;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [device, s] : devices_) release_cached(device, s);
}

std::string CachingAllocator::describe_stats(const AllocatorStats& s) const {
  return "allocated " + format_bytes(s.allocated) + ", cached " + format_bytes(s.cached) + ", peak allocated " +
         format_bytes(s.peak_allocated) + ", " + std::to_string(s.device_mallocs) + " device mallocs";
}

}  // namespace scorch::cuda
