#include "tensor/storage.h"

#include <array>
#include <cstdlib>
#include <new>
#include <stdexcept>

namespace scorch {
namespace {

// 64-byte aligned host memory, so that AVX-512 loads of a fresh tensor never split a cache line.
struct CpuAllocator final : Allocator {
  void* allocate(size_t nbytes) override {
    if (nbytes == 0) return nullptr;
    void* p = std::aligned_alloc(64, (nbytes + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void deallocate(void* ptr, size_t) override { std::free(ptr); }
};

std::array<Allocator*, 2>& allocator_table() {
  static CpuAllocator cpu;
  static std::array<Allocator*, 2> table{&cpu, nullptr};
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
    : device_(device), nbytes_(nbytes), data_(allocator_for(device).allocate(nbytes)) {}

Storage::~Storage() {
  if (data_) allocator_for(device_).deallocate(data_, nbytes_);
}

}  // namespace scorch
