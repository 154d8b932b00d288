// test_cuda_conv2d.cpp: conv2d and its two backward maps on cuDNN (cuda/conv2d.cpp) against the CPU
// kernels, over the layer shapes of unet-small and refinenet (3x3 "same", stride 2, dilation 2 and 4,
// 1x1, a 1-channel input, odd sizes, batch 1, a non-contiguous input); float64 gradcheck and
// gradgradcheck on the device; the algorithm cache; deterministic mode. Without a device every test
// here but the first (which runs everywhere) reports as skipped.
//
// float32 tolerance: rtol 1e-4, atol 1e-5 for the output and both gradients. Each output sums C R S
// (up to 32 * 9 = 288) products, the weight gradient N P Q (up to 64 * 28 * 28 = 50,176); cuDNN's
// algorithms (implicit GEMM, Winograd, FFT) sum in other orders than the CPU and Winograd/FFT
// transform the operands, which costs a few ulp of the largest partial sums; TF32 is off. The inputs
// are in [-1, 1], so the sums are O(1)..O(100) and 1e-4 relative leaves a margin of about 10x over
// what cuDNN documents for FFT-based algorithms.
#include <gtest/gtest.h>

#include "autograd/ops.h"
#include "autograd/ops/conv2d.h"
#include "cuda/device.h"
#include "cuda_test_util.h"

namespace scorch {
namespace {

using testing::cuda_matches_cpu;
using testing::Layout;
using testing::make_input;

constexpr testing::ParityTolerance kConv32 = {{1e-4, 1e-5}, {1e-4, 1e-5}};

TEST(CudaConv2d, CudnnIsBuiltWithTheBackend) {
  // Runs everywhere: the backend and cuDNN come together (CMakeLists.txt), and the stub reports 0.
  if (cuda::is_built()) {  // cudnnGetVersion needs the library only, no device
    EXPECT_GE(cuda::cudnn_version(), 90000) << "scorch needs cuDNN 9";
  } else {
    EXPECT_EQ(cuda::cudnn_version(), 0);
    EXPECT_EQ(cuda::conv_algorithm_cache_size(), 0u);
  }
}

struct ConvCase {
  Shape x, w;
  Conv2dOptions o;
  bool bias = true;
  Layout layout = Layout::contiguous;
};
std::ostream& operator<<(std::ostream& os, const ConvCase& c) {
  return os << "x " << c.x << " w " << c.w << " stride " << c.o.stride << " pad " << c.o.padding << " dil "
            << c.o.dilation << (c.bias ? " bias " : " ") << testing::layout_name(c.layout);
}

const std::vector<ConvCase> kCases = {
    {{8, 1, 28, 28}, {32, 1, 3, 3}, {.padding = 1}},                        // unet-small's stem
    {{4, 32, 28, 28}, {32, 32, 3, 3}, {.padding = 1}},                      // a 28x28 block
    {{4, 32, 28, 28}, {64, 32, 3, 3}, {.stride = 2, .padding = 1}},         // downsampling
    {{2, 64, 14, 14}, {32, 64, 1, 1}, {}, false},                           // a 1x1 skip
    {{2, 16, 13, 11}, {8, 16, 3, 3}, {.padding = 2, .dilation = 2}},        // refinenet's dilated conv, odd sizes
    {{1, 8, 17, 17}, {8, 8, 3, 3}, {.padding = 4, .dilation = 4}},          // batch 1, dilation 4
    {{3, 5, 9, 9}, {4, 5, 5, 5}, {.stride = 3}, true},                      // 5x5, stride 3, no padding
    {{2, 6, 10, 12}, {7, 6, 3, 3}, {.padding = 1}, true, Layout::strided},  // a non-contiguous input
};

TEST(CudaConv2d, ForwardAndBothGradientsMatchCpu) {
  SKIP_WITHOUT_DEVICE();
  uint64_t seed = 1;
  for (const ConvCase& c : kCases) {
    TensorList in = {make_input(c.x, kFloat32, seed++, c.layout, -1, 1, true),
                     make_input(c.w, kFloat32, seed++, Layout::contiguous, -1, 1, true)};
    if (c.bias) in.push_back(make_input({c.w[0]}, kFloat32, seed++, Layout::contiguous, -1, 1, true));
    const Conv2dOptions o = c.o;
    const auto f = [o](const TensorList& x) { return conv2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), o); };
    EXPECT_TRUE(cuda_matches_cpu(f, in, kConv32)) << c;
  }
}

// The backward maps as ops of their own, with inputs that do not require grad on one side.
TEST(CudaConv2d, BackwardMapsAsOpsMatchCpu) {
  SKIP_WITHOUT_DEVICE();
  const Shape x{3, 6, 12, 12}, w{5, 6, 3, 3};
  const Conv2dOptions o{.stride = 2, .padding = 1};
  const Shape y = conv2d_output_shape(x, w, o);
  const TensorList data_in = {make_input(y, kFloat32, 40, Layout::contiguous, -1, 1, true),
                              make_input(w, kFloat32, 41, Layout::contiguous, -1, 1, true)};
  EXPECT_TRUE(
      cuda_matches_cpu([&](const TensorList& t) { return conv2d_backward_input(t[0], t[1], x, o); }, data_in, kConv32));
  const TensorList filter_in = {make_input(x, kFloat32, 42, Layout::contiguous, -1, 1, true),
                                make_input(y, kFloat32, 43, Layout::contiguous, -1, 1, true)};
  EXPECT_TRUE(cuda_matches_cpu([&](const TensorList& t) { return conv2d_backward_weight(t[0], t[1], w, o); }, filter_in,
                               kConv32));
}

TEST(CudaConv2d, EmptySumsGiveTheBias) {
  SKIP_WITHOUT_DEVICE();
  const Tensor x = zeros({2, 0, 5, 5}).cuda(), w = zeros({3, 0, 3, 3}).cuda();
  const Tensor b = from_vector(std::vector<double>{1, 2, 3}, {3}).cuda();
  const Tensor y = conv2d(x, w, b, {.padding = 1});
  EXPECT_TRUE(testing::all_close(y.cpu(), conv2d(x.cpu(), w.cpu(), b.cpu(), {.padding = 1}), {0, 0}));
  const Tensor none = conv2d(zeros({0, 2, 5, 5}).cuda(), ones({3, 2, 3, 3}).cuda());
  EXPECT_EQ(none.shape(), (Shape{0, 3, 3, 3}));
}

TEST(CudaConv2d, GradcheckOnTheDevice) {
  SKIP_WITHOUT_DEVICE();
  const auto in = [](const Shape& s, uint64_t seed) {
    return make_input(s, kFloat64, seed, Layout::contiguous, -1, 1, true);
  };
  const Conv2dOptions o{.stride = 2, .padding = 1, .dilation = 1};
  EXPECT_TRUE(testing::grads_ok(testing::on_device([o](const TensorList& x) { return conv2d(x[0], x[1], x[2], o); }),
                                {in({2, 3, 6, 5}, 50), in({4, 3, 3, 3}, 51), in({4}, 52)},
                                {.name = "conv2d stride 2"}));
  const Conv2dOptions dilated{.padding = 2, .dilation = 2};
  EXPECT_TRUE(testing::grads_ok(
      testing::on_device([dilated](const TensorList& x) { return conv2d(x[0], x[1], Tensor(), dilated); }),
      {in({1, 2, 5, 6}, 53), in({3, 2, 3, 3}, 54)}, {.name = "conv2d dilation 2"}));
}

TEST(CudaConv2d, AlgorithmChoiceIsCachedPerShape) {
  SKIP_WITHOUT_DEVICE();
  const Tensor x = make_input({2, 4, 9, 9}, kFloat32, 60).cuda(), w = make_input({6, 4, 3, 3}, kFloat32, 61).cuda();
  const size_t before = cuda::conv_algorithm_cache_size();
  conv2d(x, w, Tensor(), {.padding = 1});
  const size_t after_first = cuda::conv_algorithm_cache_size();
  EXPECT_EQ(after_first, before + 1) << "the first call of a new shape searches once";
  conv2d(x, w, Tensor(), {.padding = 1});
  EXPECT_EQ(cuda::conv_algorithm_cache_size(), after_first) << "the same shape again reuses the choice";
  conv2d(x, w, Tensor(), {.stride = 2, .padding = 1});
  EXPECT_EQ(cuda::conv_algorithm_cache_size(), after_first + 1) << "another stride is another shape";
}

// With set_deterministic(true), two runs of the weight gradient (the pass whose fast algorithms sum
// with atomics) give the same bits.
TEST(CudaConv2d, DeterministicWeightGradientsRepeatBitwise) {
  SKIP_WITHOUT_DEVICE();
  struct Restore {
    ~Restore() { cuda::set_deterministic(false); }
  } restore;
  cuda::set_deterministic(true);
  const Tensor x = make_input({32, 32, 28, 28}, kFloat32, 70).cuda(),
               g = make_input({32, 32, 28, 28}, kFloat32, 71).cuda();
  const Conv2dOptions o{.padding = 1};
  const Tensor a = conv2d_backward_weight(x, g, {32, 32, 3, 3}, o).cpu();
  const Tensor b = conv2d_backward_weight(x, g, {32, 32, 3, 3}, o).cpu();
  EXPECT_EQ(a.values(), b.values());
}

}  // namespace
}  // namespace scorch
