// test_cuda_norm_pool.cpp: group_norm, group_norm_silu, instance_norm, avg/max pooling, nearest and
// bilinear upsampling on a CUDA device (cuda/norm.cu, pool.cu, upsample.cu) against the CPU kernels,
// forward and backward, float64 gradcheck (and gradgradcheck) on the device, and the layouts and
// corner cases of the CPU tests: odd sizes, padding, ties, groups = 1 and = C, no affine, a
// non-contiguous input. Without a device every test here reports as skipped.
//
// float32 tolerances, and why:
//   group_norm(_silu): rtol 1e-5, atol 1e-6. Both devices take the moments in double and apply the
//     same float formula (group_norm_fns.h); the GPU's double sums add in another order (a tree, not
//     8 lanes) and nvcc contracts (x - m) scale + shift into an FMA, so outputs differ in the last bit
//     or two; silu's exp differs by up to 2 ulp (elementwise_fns.h). Gradients: the same, with the
//     [N, C] sums reduced over n by sum() on each device.
//   pooling and nearest upsampling: rtol 1e-6, atol 1e-7: the same additions of the same values, in
//     the same order for the forward passes and in another (a gather instead of a scatter) for the
//     backward ones; max pooling is exact (a copy).
//   bilinear: rtol 1e-5, atol 1e-6: the same weights (image_index.h), products associated differently
//     in the backward.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/ops.h"
#include "autograd/ops/group_norm.h"
#include "autograd/ops/pool.h"
#include "autograd/ops/upsample.h"
#include "cuda/device.h"
#include "cuda_test_util.h"

namespace scorch {
namespace {

using testing::cuda_matches_cpu;
using testing::Layout;
using testing::make_input;
using testing::ParityTolerance;

constexpr ParityTolerance kNorm32 = {{1e-5, 1e-6}, {1e-5, 1e-6}};
constexpr ParityTolerance kSums32 = {{1e-6, 1e-7}, {1e-6, 1e-7}};
constexpr ParityTolerance kBilinear32 = {{1e-5, 1e-6}, {1e-5, 1e-6}};

Tensor in32(const Shape& s, uint64_t seed, Layout layout = Layout::contiguous, double lo = -1, double hi = 1) {
  return make_input(s, kFloat32, seed, layout, lo, hi, true);
}
Tensor in64(const Shape& s, uint64_t seed) { return make_input(s, kFloat64, seed, Layout::contiguous, -1, 1, true); }

// Values in {-1, -0.5, 0, 0.5, 1}: windows full of ties.
Tensor tied_input(const Shape& s, uint64_t seed) {
  std::vector<double> v = make_input(s, kFloat64, seed).values();
  for (double& e : v) e = std::round(e * 2) / 2;
  return from_vector(v, s).requires_grad_();
}

struct NormCase {
  Shape x;
  int64_t groups;
  bool affine = true;
  Layout layout = Layout::contiguous;
};

TEST(CudaGroupNorm, ForwardAndBackwardMatchCpu) {
  SKIP_WITHOUT_DEVICE();
  const std::vector<NormCase> cases = {
      {{16, 32, 28, 28}, 8},     // unet-small's blocks (batch 16)
      {{4, 64, 7, 7}, 8},        // the 7x7 level
      {{3, 6, 5, 5}, 1},         // one group
      {{3, 6, 5, 5}, 6, false},  // one channel per group, no affine (instance_norm)
      {{2, 4, 9, 3}, 2, true, Layout::strided},
      {{5, 8}, 4},  // no spatial dims
  };
  uint64_t seed = 1;
  for (const NormCase& c : cases)
    for (const bool silu : {false, true}) {
      TensorList in = {in32(c.x, seed++, c.layout, -2, 3)};
      if (c.affine)
        in.push_back(in32({c.x[1]}, seed++, Layout::contiguous, 0.5, 1.5)), in.push_back(in32({c.x[1]}, seed++));
      const int64_t groups = c.groups;
      const auto f = [groups, silu](const TensorList& t) {
        const Tensor w = t.size() > 1 ? t[1] : Tensor(), b = t.size() > 2 ? t[2] : Tensor();
        return silu ? group_norm_silu(t[0], groups, w, b) : group_norm(t[0], groups, w, b);
      };
      EXPECT_TRUE(cuda_matches_cpu(f, in, kNorm32)) << "x " << c.x << " groups " << groups << (silu ? " silu" : "");
    }
}

// Gradients of gradients take the composite backward (built from ops) on the device.
TEST(CudaGroupNorm, GradcheckAndGradgradcheckOnTheDevice) {
  SKIP_WITHOUT_DEVICE();
  for (const bool silu : {false, true}) {
    const auto f = testing::on_device([silu](const TensorList& t) {
      return silu ? group_norm_silu(t[0], 2, t[1], t[2]) : group_norm(t[0], 2, t[1], t[2]);
    });
    EXPECT_TRUE(testing::grads_ok(f, {in64({2, 4, 3, 3}, 10), in64({4}, 11), in64({4}, 12)},
                                  {.name = silu ? "group_norm_silu" : "group_norm"}));
  }
  EXPECT_TRUE(testing::grads_ok(testing::on_device([](const TensorList& t) { return instance_norm(t[0]); }),
                                {in64({2, 3, 4, 4}, 13)}, {.name = "instance_norm"}));
}

TEST(CudaGroupNorm, FusedBackwardOnTheDevice) {
  SKIP_WITHOUT_DEVICE();
  // The fused backward (grad mode off inside backward: a training step) reads the saved mean and rstd,
  // which must live on the device, and finishes the weight and bias gradients there.
  const Tensor x = make_input({4, 8, 6, 6}, kFloat32, 20), w = make_input({8}, kFloat32, 21),
               b = make_input({8}, kFloat32, 22);
  TensorList grads[2];
  for (const Device device : {Device::cpu(), Device::cuda()}) {
    const TensorList in = {x.to(device).requires_grad_(), w.to(device).requires_grad_(), b.to(device).requires_grad_()};
    Tensor loss = sum(square(group_norm_silu(in[0], 4, in[1], in[2])));
    loss.backward();
    for (const Tensor& t : in) {
      EXPECT_EQ(t.grad().device(), device);
      grads[device.is_cuda()].push_back(t.grad().cpu());
    }
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(testing::all_close(grads[1][i], grads[0][i], kNorm32.backward)) << i;
}

struct PoolCase {
  Shape x;
  int64_t kernel, stride, padding;
};
const std::vector<PoolCase> kPoolCases = {
    {{4, 8, 28, 28}, 2, 2, 0},  // unet-small-style 2x2 mean pooling
    {{2, 6, 13, 11}, 5, 1, 2},  // refinenet's 5x5 stride-1 pooling, odd sizes
    {{2, 3, 9, 9}, 3, 2, 1},    // overlapping windows with padding
    {{1, 2, 4, 5}, 4, 3, 2},
};

TEST(CudaPool, AvgPoolMatchesCpu) {
  SKIP_WITHOUT_DEVICE();
  uint64_t seed = 30;
  for (const PoolCase& c : kPoolCases) {
    const auto f = [c](const TensorList& t) { return avg_pool2d(t[0], c.kernel, c.stride, c.padding); };
    EXPECT_TRUE(cuda_matches_cpu(f, {in32(c.x, seed++)}, kSums32)) << c.x << " k " << c.kernel;
    EXPECT_TRUE(cuda_matches_cpu(f, {in32(c.x, seed++, Layout::strided)}, kSums32)) << c.x << " strided";
  }
}

TEST(CudaPool, MaxPoolMatchesCpuTiesAndAll) {
  SKIP_WITHOUT_DEVICE();
  uint64_t seed = 40;
  for (const PoolCase& c : kPoolCases) {
    const auto f = [c](const TensorList& t) { return max_pool2d(t[0], c.kernel, c.stride, c.padding); };
    EXPECT_TRUE(cuda_matches_cpu(f, {in32(c.x, seed++)}, kSums32)) << c.x << " k " << c.kernel;
    // Values rounded to 4 levels: many ties, which both devices must break the same way.
    EXPECT_TRUE(cuda_matches_cpu(f, {tied_input(c.x, seed++)}, kSums32)) << c.x << " ties";
  }
}

TEST(CudaPool, GradcheckOnTheDevice) {
  SKIP_WITHOUT_DEVICE();
  EXPECT_TRUE(testing::grads_ok(testing::on_device([](const TensorList& t) { return avg_pool2d(t[0], 3, 2, 1); }),
                                {in64({1, 2, 5, 6}, 50)}, {.name = "avg_pool2d"}));
  EXPECT_TRUE(testing::grads_ok(testing::on_device([](const TensorList& t) { return max_pool2d(t[0], 2, 1, 1); }),
                                {in64({1, 2, 4, 5}, 51)}, {.name = "max_pool2d"}));
}

TEST(CudaUpsample, NearestAndBilinearMatchCpu) {
  SKIP_WITHOUT_DEVICE();
  const auto nearest = [](int64_t s) { return [s](const TensorList& t) { return upsample_nearest2d(t[0], s); }; };
  EXPECT_TRUE(cuda_matches_cpu(nearest(2), {in32({4, 8, 7, 7}, 60)}, kSums32));
  EXPECT_TRUE(cuda_matches_cpu(nearest(3), {in32({2, 3, 5, 4}, 61, Layout::strided)}, kSums32));
  for (const bool align : {false, true})
    for (const auto& [h, w] : {std::pair<int64_t, int64_t>{28, 28}, {13, 9}, {3, 17}, {1, 1}}) {
      const auto f = [h, w, align](const TensorList& t) { return interpolate_bilinear(t[0], h, w, align); };
      EXPECT_TRUE(cuda_matches_cpu(f, {in32({2, 3, 7, 6}, 62)}, kBilinear32)) << h << "x" << w << " align " << align;
    }
}

TEST(CudaUpsample, GradcheckOnTheDevice) {
  SKIP_WITHOUT_DEVICE();
  EXPECT_TRUE(testing::grads_ok(testing::on_device([](const TensorList& t) { return upsample_nearest2d(t[0], 2); }),
                                {in64({1, 2, 3, 3}, 70)}, {.name = "upsample_nearest2d"}));
  for (const bool align : {false, true})
    EXPECT_TRUE(testing::grads_ok(
        testing::on_device([align](const TensorList& t) { return interpolate_bilinear(t[0], 5, 7, align); }),
        {in64({1, 2, 3, 4}, 71)}, {.name = "interpolate_bilinear"}));
}

}  // namespace
}  // namespace scorch
