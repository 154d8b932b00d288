// The CUDA caching allocator's bookkeeping over a fake device (runs everywhere, no GPU needed): size
// classes, reuse without a device malloc, per-stream free lists, statistics, empty_cache and the
// out-of-memory path. With a device, the real allocator behind CUDA tensors: reuse and statistics.
#include <gtest/gtest.h>

#include <set>

#include "cuda/caching_allocator.h"
#include "cuda/device.h"
#include "test_util.h"

namespace scorch {
namespace {

using cuda::AllocatorStats;
using cuda::CachingAllocator;

// A device with `capacity` bytes: hands out distinct fake addresses and records every call.
struct FakeMemory : cuda::DeviceMemory {
  struct Log {
    size_t capacity = size_t{1} << 40, in_use = 0;
    int mallocs = 0, frees = 0, syncs = 0, failed_mallocs = 0;
    uintptr_t next = 0x10000;
    std::map<void*, size_t> blocks;
    void* stream = reinterpret_cast<void*>(0x1);  // the "current stream"
  };
  std::shared_ptr<Log> log = std::make_shared<Log>();

  void* malloc(int, size_t n) override {
    if (log->in_use + n > log->capacity) {
      ++log->failed_mallocs;
      return nullptr;
    }
    void* p = reinterpret_cast<void*>(log->next);
    log->next += n;
    log->blocks[p] = n;
    log->in_use += n;
    ++log->mallocs;
    return p;
  }
  void free(int, void* p) override {
    auto it = log->blocks.find(p);
    ASSERT_NE(it, log->blocks.end()) << "freeing a block twice or one never allocated";
    log->in_use -= it->second;
    log->blocks.erase(it);
    ++log->frees;
  }
  void synchronize(int) override { ++log->syncs; }
  void* stream(int device) override {
    if (device >= 2) throw std::runtime_error("cuda:" + std::to_string(device) + " does not exist");
    return log->stream;
  }
};

struct Fixture {
  std::unique_ptr<FakeMemory> fake = std::make_unique<FakeMemory>();
  std::shared_ptr<FakeMemory::Log> log = fake->log;
  CachingAllocator alloc{std::move(fake)};
  const Device dev = Device::cuda(0);
};

constexpr size_t kMiB = size_t{1} << 20;

TEST(CachingAllocator, SizeClasses) {
  EXPECT_EQ(CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CachingAllocator::round_size(512), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::round_size(kMiB - 1), kMiB);
  EXPECT_EQ(CachingAllocator::round_size(kMiB), kMiB);
  EXPECT_EQ(CachingAllocator::round_size(kMiB + 1), 2 * kMiB);
  EXPECT_EQ(CachingAllocator::round_size(3 * kMiB), 4 * kMiB);
  EXPECT_EQ(CachingAllocator::round_size(4 * kMiB), 4 * kMiB);
}

TEST(CachingAllocator, ZeroBytesIsNull) {
  Fixture f;
  EXPECT_EQ(f.alloc.allocate(0, f.dev), nullptr);
  f.alloc.deallocate(nullptr, 0, f.dev);
  EXPECT_EQ(f.log->mallocs, 0);
}

TEST(CachingAllocator, ReusesAFreedBlockOfTheSameClassWithoutMalloc) {
  Fixture f;
  void* a = f.alloc.allocate(1000, f.dev);
  f.alloc.deallocate(a, 1000, f.dev);
  void* b = f.alloc.allocate(900, f.dev);  // same 1024-byte class
  EXPECT_EQ(b, a);
  EXPECT_EQ(f.log->mallocs, 1);
  const AllocatorStats s = f.alloc.stats(0);
  EXPECT_EQ(s.requests, 2u);
  EXPECT_EQ(s.cache_hits, 1u);
  EXPECT_EQ(s.device_mallocs, 1u);
  EXPECT_EQ(s.allocated, 1024u);
  EXPECT_EQ(s.cached, 0u);
}

TEST(CachingAllocator, ATrainingLoopMallocsOnlyInItsFirstStep) {
  Fixture f;
  const std::vector<size_t> step = {4 * kMiB, 1000, 3 * kMiB + 5, 64, 4 * kMiB, 200000};
  for (int iter = 0; iter < 5; ++iter) {
    std::vector<void*> live;
    for (size_t n : step) live.push_back(f.alloc.allocate(n, f.dev));
    EXPECT_EQ(std::set<void*>(live.begin(), live.end()).size(), live.size()) << "a block handed out twice";
    for (size_t i = 0; i < live.size(); ++i) f.alloc.deallocate(live[i], step[i], f.dev);
  }
  EXPECT_EQ(f.log->mallocs, static_cast<int>(step.size()));
  const AllocatorStats s = f.alloc.stats(0);
  EXPECT_EQ(s.allocated, 0u);
  EXPECT_EQ(s.cached, 4 * kMiB + 1024 + 4 * kMiB + 512 + 4 * kMiB + 200192);
  EXPECT_EQ(s.peak_allocated, s.cached);
  EXPECT_EQ(s.reserved(), f.log->in_use);
  EXPECT_EQ(s.cache_hits, 4 * step.size());
}

TEST(CachingAllocator, DifferentClassesDoNotShareBlocks) {
  Fixture f;
  void* a = f.alloc.allocate(512, f.dev);
  f.alloc.deallocate(a, 512, f.dev);
  void* b = f.alloc.allocate(1024, f.dev);
  EXPECT_NE(b, a);
  EXPECT_EQ(f.log->mallocs, 2);
  void* c = f.alloc.allocate(2 * kMiB + 1, f.dev);  // 4 MiB class
  f.alloc.deallocate(c, 2 * kMiB + 1, f.dev);
  void* d = f.alloc.allocate(2 * kMiB, f.dev);  // 2 MiB class: not the cached 4 MiB block
  EXPECT_NE(d, c);
  EXPECT_EQ(f.log->mallocs, 4);
}

TEST(CachingAllocator, ABlockIsReusedOnlyOnTheStreamItWasFreedOn) {
  Fixture f;
  void* a = f.alloc.allocate(4096, f.dev);
  f.alloc.deallocate(a, 4096, f.dev);
  f.log->stream = reinterpret_cast<void*>(0x2);  // another current stream
  void* b = f.alloc.allocate(4096, f.dev);
  EXPECT_NE(b, a) << "kernels on the first stream may still use the freed block";
  f.alloc.deallocate(b, 4096, f.dev);
  f.log->stream = reinterpret_cast<void*>(0x1);
  EXPECT_EQ(f.alloc.allocate(4096, f.dev), a);
}

TEST(CachingAllocator, PeakAndReset) {
  Fixture f;
  void* a = f.alloc.allocate(3 * kMiB, f.dev);  // 4 MiB
  void* b = f.alloc.allocate(kMiB, f.dev);      // 1 MiB
  f.alloc.deallocate(a, 3 * kMiB, f.dev);
  AllocatorStats s = f.alloc.stats(0);
  EXPECT_EQ(s.peak_allocated, 5 * kMiB);
  EXPECT_EQ(s.allocated, kMiB);
  EXPECT_EQ(s.cached, 4 * kMiB);
  f.alloc.reset_peak(0);
  EXPECT_EQ(f.alloc.stats(0).peak_allocated, kMiB);
  f.alloc.deallocate(b, kMiB, f.dev);
}

TEST(CachingAllocator, EmptyCacheWaitsThenFreesEveryCachedBlock) {
  Fixture f;
  void* a = f.alloc.allocate(100, f.dev);
  void* b = f.alloc.allocate(5 * kMiB, f.dev);
  void* c = f.alloc.allocate(100, f.dev);
  f.alloc.deallocate(a, 100, f.dev);
  f.alloc.deallocate(b, 5 * kMiB, f.dev);
  f.alloc.empty_cache();
  EXPECT_EQ(f.log->syncs, 1);
  EXPECT_EQ(f.log->frees, 2);
  AllocatorStats s = f.alloc.stats(0);
  EXPECT_EQ(s.cached, 0u);
  EXPECT_EQ(s.allocated, 512u);  // c is still live
  EXPECT_EQ(s.device_frees, 2u);
  EXPECT_EQ(f.log->in_use, 512u);
  f.alloc.deallocate(c, 100, f.dev);
  EXPECT_EQ(f.log->frees, 2) << "a freed block is cached, not given back";
  f.alloc.empty_cache();
  EXPECT_EQ(f.log->in_use, 0u);
  f.alloc.empty_cache();  // nothing cached: no wait, no free
  EXPECT_EQ(f.log->syncs, 2);
}

TEST(CachingAllocator, OutOfMemoryEmptiesTheCacheAndRetriesOnce) {
  Fixture f;
  f.log->capacity = 8 * kMiB;
  void* a = f.alloc.allocate(6 * kMiB, f.dev);
  f.alloc.deallocate(a, 6 * kMiB, f.dev);       // cached: 6 MiB of the 8
  void* b = f.alloc.allocate(4 * kMiB, f.dev);  // fails, then succeeds once the cache is given back
  EXPECT_NE(b, nullptr);
  EXPECT_EQ(f.log->failed_mallocs, 1);
  EXPECT_EQ(f.log->syncs, 1);
  EXPECT_EQ(f.log->frees, 1);
  const AllocatorStats s = f.alloc.stats(0);
  EXPECT_EQ(s.cached, 0u);
  EXPECT_EQ(s.allocated, 4 * kMiB);
  f.alloc.deallocate(b, 4 * kMiB, f.dev);
}

TEST(CachingAllocator, OutOfMemoryThrowsWithTheRequestAndStatistics) {
  Fixture f;
  f.log->capacity = 8 * kMiB;
  void* a = f.alloc.allocate(6 * kMiB, f.dev);
  const std::string msg = testing::error_of([&] { f.alloc.allocate(3 * kMiB, f.dev); });
  EXPECT_EQ(msg,
            "CUDA out of memory: cuda:0 cannot allocate 4.00 MiB (a request of 3145728 bytes); allocated 6.00 MiB, "
            "cached 0 B, peak allocated 6.00 MiB, 1 device mallocs");
  EXPECT_EQ(f.log->failed_mallocs, 1) << "nothing cached: no second try";
  const AllocatorStats s = f.alloc.stats(0);
  EXPECT_EQ(s.allocated, 6 * kMiB) << "a failed request changes nothing";
  f.alloc.deallocate(a, 6 * kMiB, f.dev);
}

TEST(CachingAllocator, DevicesKeepSeparateCachesAndStatistics) {
  Fixture f;
  void* a = f.alloc.allocate(1000, Device::cuda(0));
  f.alloc.deallocate(a, 1000, Device::cuda(0));
  void* b = f.alloc.allocate(1000, Device::cuda(1));
  EXPECT_NE(b, a);
  EXPECT_EQ(f.alloc.stats(0).cached, 1024u);
  EXPECT_EQ(f.alloc.stats(1).allocated, 1024u);
  EXPECT_EQ(f.alloc.stats(7).requests, 0u);
  EXPECT_THROW(f.alloc.allocate(10, Device::cuda(2)), std::runtime_error);
  f.alloc.deallocate(b, 1000, Device::cuda(1));
}

TEST(CachingAllocator, FreeingAnUnknownPointerIsReportedNotFatal) {
  Fixture f;
  ::testing::internal::CaptureStderr();
  f.alloc.deallocate(reinterpret_cast<void*>(0x1234), 8, f.dev);
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("was not handed out by it"), std::string::npos);
  EXPECT_EQ(f.alloc.stats(0).cached, 0u);
}

TEST(CachingAllocator, FormatBytes) {
  EXPECT_EQ(cuda::format_bytes(0), "0 B");
  EXPECT_EQ(cuda::format_bytes(512), "512 B");
  EXPECT_EQ(cuda::format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(cuda::format_bytes(3 * (size_t{1} << 30) / 2), "1.50 GiB");
}

// ---- The real allocator, on a device ----

TEST(CudaAllocator, TensorsReuseFreedMemoryAndCountIt) {
  if (!cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  cuda::synchronize(0);
  cuda::empty_cache();
  const AllocatorStats before = cuda::memory_stats(0);
  EXPECT_EQ(before.cached, 0u);
  void* first = nullptr;
  for (int i = 0; i < 10; ++i) {
    Tensor t = empty({1000, 1000}, {.device = Device::cuda()});  // 4,000,000 bytes: the 4 MiB class
    if (i == 0) first = t.raw_data();
    EXPECT_EQ(t.raw_data(), first);
    EXPECT_EQ(cuda::memory_stats(0).allocated, before.allocated + 4 * kMiB);
  }
  const AllocatorStats after = cuda::memory_stats(0);
  EXPECT_EQ(after.device_mallocs, before.device_mallocs + 1);
  EXPECT_EQ(after.cache_hits, before.cache_hits + 9);
  EXPECT_EQ(after.cached, 4 * kMiB);
  EXPECT_GE(after.peak_allocated, before.allocated + 4 * kMiB);
  cuda::empty_cache();
  EXPECT_EQ(cuda::memory_stats(0).cached, 0u);
  EXPECT_EQ(cuda::memory_stats(0).device_frees, after.device_frees + 1);
}

TEST(CudaAllocator, WithoutDeviceMakingACudaTensorThrows) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  const std::string msg = testing::error_of([] { empty({3}, {.device = Device::cuda()}); });
  if (cuda::is_built())
    EXPECT_EQ(msg, "allocating on cuda:0: no CUDA device");
  else
    EXPECT_NE(msg.find("scorch built without CUDA"), std::string::npos) << msg;
}

}  // namespace
}  // namespace scorch
