// The Philox RNG on a CUDA device gives the CPU's numbers. Here, without a device: the per-block code
// that each kernel thread runs (write_random_block), run on the CPU block by block, reproduces rand,
// randn and randint exactly, for several seeds, offsets and lengths that end inside a block. With a
// device: the draws themselves, CPU against CUDA, and the generator's offset after each.
#include <gtest/gtest.h>

#include <cstring>

#include "cuda/device.h"
#include "tensor/random.h"
#include "test_util.h"

namespace scorch {
namespace {

// What the CUDA kernel computes, run on the CPU: one call per counter block.
template <typename T, int P, typename BlockFn>
std::vector<T> kernel_on_host(int64_t n, Generator& gen, const BlockFn& fn) {
  std::vector<T> out(n);
  const int64_t blocks = (n + P - 1) / P;
  const uint64_t first = gen.reserve(blocks);
  for (int64_t b = 0; b < blocks; ++b) write_random_block<T, P>(out.data(), n, first, b, gen.key(), fn);
  return out;
}

template <typename T>
bool same_bits(const Tensor& t, const std::vector<T>& v) {
  return t.numel() == static_cast<int64_t>(v.size()) && std::memcmp(t.data<T>(), v.data(), v.size() * sizeof(T)) == 0;
}

struct Draw {
  uint64_t seed, offset;
  int64_t n;
};
const std::vector<Draw> kDraws = {{0, 0, 1}, {0, 0, 7}, {1, 3, 1000}, {123456789, 1ull << 33, 4097}, {~0ull, 5, 64}};

TEST(CudaRandomKernelOnHost, UniformMatchesTheCpuGenerator) {
  for (const Draw& d : kDraws) {
    Generator cpu(d.seed), dev(d.seed);
    cpu.set_offset(d.offset), dev.set_offset(d.offset);
    EXPECT_TRUE(same_bits(rand({d.n}, cpu), kernel_on_host<float, 4>(d.n, dev, UniformBlock{}))) << d.n;
    EXPECT_TRUE(same_bits(rand({d.n}, cpu, {.dtype = kFloat64}), kernel_on_host<double, 2>(d.n, dev, UniformBlock{})));
    EXPECT_EQ(cpu.offset(), dev.offset());
  }
}

TEST(CudaRandomKernelOnHost, NormalMatchesTheCpuGenerator) {
  for (const Draw& d : kDraws) {
    Generator cpu(d.seed), dev(d.seed);
    cpu.set_offset(d.offset), dev.set_offset(d.offset);
    EXPECT_TRUE(same_bits(randn({d.n}, cpu), kernel_on_host<float, 4>(d.n, dev, NormalBlock{}))) << d.n;
    EXPECT_TRUE(same_bits(randn({d.n}, cpu, {.dtype = kFloat64}), kernel_on_host<double, 2>(d.n, dev, NormalBlock{})));
    EXPECT_EQ(cpu.offset(), dev.offset());
  }
}

TEST(CudaRandomKernelOnHost, IntegersMatchTheCpuGenerator) {
  for (const Draw& d : kDraws) {
    Generator cpu(d.seed), dev(d.seed);
    cpu.set_offset(d.offset), dev.set_offset(d.offset);
    const int64_t low = -5, high = 1000;
    const IntegerBlock fn{low, static_cast<uint64_t>(high - low)};
    EXPECT_TRUE(same_bits(randint(low, high, {d.n}, cpu), kernel_on_host<int64_t, 2>(d.n, dev, fn)));
    EXPECT_TRUE(same_bits(randint(0, 256, {d.n}, cpu, {.dtype = kUInt8}),
                          kernel_on_host<uint8_t, 2>(d.n, dev, IntegerBlock{0, 256})));
    EXPECT_EQ(cpu.offset(), dev.offset());
  }
}

// ---- On a device ----

// Exact for uniforms and integers. Normals: Box-Muller runs in double on both sides, and CUDA's log,
// sin and cos may differ from libm's by an ulp in double; float32 results are then still identical but
// for the rare value that lands on a rounding boundary (allowed: one float ulp), float64 ones may differ
// by a few ulp (allowed: 4e-16 relative).
TEST(CudaRandom, SameNumbersAsTheCpuForTheSameSeedAndOffset) {
  if (!cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (const Draw& d : kDraws) {
    for (DType dtype : {kFloat32, kFloat64}) {
      Generator cpu(d.seed), dev(d.seed);
      cpu.set_offset(d.offset), dev.set_offset(d.offset);
      const Tensor u_cpu = rand({d.n}, cpu, {.dtype = dtype}),
                   u_dev = rand({d.n}, dev, {.dtype = dtype, .device = Device::cuda()});
      EXPECT_EQ(u_dev.device(), Device::cuda());
      EXPECT_EQ(u_dev.values(), u_cpu.values()) << "rand " << dtype_name(dtype) << " n " << d.n;
      const Tensor z_cpu = randn({d.n}, cpu, {.dtype = dtype}),
                   z_dev = randn({d.n}, dev, {.dtype = dtype, .device = Device::cuda()});
      const double rtol = dtype == kFloat32 ? 1.2e-7 : 4e-16;
      EXPECT_TRUE(testing::all_close(z_dev, z_cpu, {.rtol = rtol, .atol = 0})) << "randn " << dtype_name(dtype);
      const Tensor i_cpu = randint(-7, 1 << 20, {d.n}, cpu),
                   i_dev = randint(-7, 1 << 20, {d.n}, dev, {.device = Device::cuda()});
      EXPECT_EQ(i_dev.values(), i_cpu.values());
      EXPECT_EQ(dev.offset(), cpu.offset());
    }
  }
}

TEST(CudaRandom, ShapedDrawsAndRequiresGrad) {
  if (!cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  Generator cpu(3), dev(3);
  const Tensor a = randn({4, 5, 6}, cpu), b = randn({4, 5, 6}, dev, {.device = Device::cuda(), .requires_grad = true});
  EXPECT_EQ(b.shape(), a.shape());
  EXPECT_TRUE(b.requires_grad());
  EXPECT_TRUE(testing::all_close(b, a, {.rtol = 1.2e-7, .atol = 0}));
  EXPECT_EQ(rand({0}, dev, {.device = Device::cuda()}).numel(), 0);
}

}  // namespace
}  // namespace scorch
