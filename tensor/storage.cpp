#include "tensor/storage.h"

#include <array>
#include <bit>
#include <mutex>
#include <unordered_map>
#include <vector>
#include <cstdlib>
#include <new>
#include <stdexcept>

#include "tensor/backend.h"

namespace scorch {
namespace {

// 64-byte aligned host memory, so that AVX-512 loads of a fresh tensor never split a cache line.
// Blocks of 64 KiB and more are cached by size class when freed and handed out again: a training or
// sampling step allocates the same sizes every time, and a fresh block from the OS costs a page
// fault per 4 KiB on first touch (PyTorch's B2 step takes ~10,000 of them). Size classes are
// powers of two split in four (at most 19% waste); at most kMaxCached bytes stay cached.
class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes, Device) override {
    if (nbytes == 0) return nullptr;
    const size_t size = round_up(nbytes);
    if (size >= kMinCached) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& bin = cache_[size];
      if (!bin.empty()) {
        void* p = bin.back();
        bin.pop_back();
        cached_bytes_ -= size;
        return p;
      }
    }
    void* p = std::aligned_alloc(64, size);
    if (!p) throw std::bad_alloc();
    return p;
  }

  void deallocate(void* ptr, size_t nbytes, Device) override {
    if (!ptr) return;
    const size_t size = round_up(nbytes);
    if (size >= kMinCached) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_bytes_ + size <= kMaxCached) {
        cache_[size].push_back(ptr);
        cached_bytes_ += size;
        return;
      }
    }
    std::free(ptr);
  }

 private:
  static constexpr size_t kMinCached = size_t{64} << 10;
  static constexpr size_t kMaxCached = size_t{1} << 30;

  static size_t round_up(size_t n) {
    n = (n + 63) / 64 * 64;
    if (n < kMinCached) return n;
    const size_t quarter = std::bit_floor(n) / 4;  // four classes per power of two
    return (n + quarter - 1) / quarter * quarter;
  }

  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> cache_;
  size_t cached_bytes_ = 0;
};

std::array<Allocator*, 2>& allocator_table() {
  // Never destroyed: tensors in static storage may be freed after any destructor here would run.
  static CpuAllocator* cpu = new CpuAllocator;
  static std::array<Allocator*, 2> table{cpu, backend::allocator()};
  return table;
}

}  // namespace

Allocator& allocator_for(Device device) {
  Allocator* a = allocator_table()[static_cast<size_t>(device.type)];
  if (!a) throw std::runtime_error("no allocator for device " + device.str() + " (scorch built without CUDA?)");
  return *a;
}

void register_allocator(DeviceType type, Allocator* allocator) {
  allocator_table()[static_cast<size_t>(type)] = allocator;
}

Storage::Storage(Device device, size_t nbytes)
    : device_(device), nbytes_(nbytes), data_(allocator_for(device).allocate(nbytes, device)) {}

Storage::~Storage() {
  if (data_) allocator_for(device_).deallocate(data_, nbytes_, device_);
}

}  // namespace scorch
