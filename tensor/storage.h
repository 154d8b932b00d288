// storage.h: a reference-counted block of device memory. The device tag selects the allocator from a
// per-device table; the CUDA backend registers its (caching) allocator there, nothing else changes.
#pragma once
#include <cstddef>
#include <memory>

#include "tensor/dtype.h"

namespace scorch {

// `device` is the device of the Storage (its index picks the GPU); deallocate gets the same device and
// size that allocate was called with.
struct Allocator {
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes, Device device) = 0;
  virtual void deallocate(void* ptr, size_t nbytes, Device device) = 0;
};

// The allocator of a device type; throws if none is registered (CUDA in a CPU-only build). The CUDA
// entry starts as the backend's caching allocator (cuda/caching_allocator.h).
Allocator& allocator_for(Device device);
void register_allocator(DeviceType type, Allocator* allocator);

class Storage {
 public:
  Storage(Device device, size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  Device device() const { return device_; }
  size_t nbytes() const { return nbytes_; }
  void* data() const { return data_; }

 private:
  Device device_;
  size_t nbytes_;
  void* data_;
};

}  // namespace scorch
