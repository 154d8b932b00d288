// test_conv2d.cpp: conv2d, conv2d_backward_input and conv2d_backward_weight against the naive
// reference of reference/conv2d_reference.h (stride, padding, dilation, bias, 1x1, non-contiguous
// inputs, batches smaller and larger than the thread count), gradcheck + gradgradcheck in float64,
// and the error messages.
//
// Tolerance: float32 gemm sums C R S (up to 2304 here) products of |values| < 1 in its own blocked
// order, the reference in double: rtol 1e-4, atol 1e-4 (about 2304 * 2^-24 * a few). float64: 1e-12.
#include "reference/conv2d_reference.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::all_close;
using testing::error_of;
using testing::grads_ok;
using testing::Layout;
using testing::make_input;
using testing::Tolerance;

struct ConvCase {
  Shape x, w;
  Conv2dOptions o{};
  bool bias = true;
  Layout layout = Layout::contiguous;

  TensorList make(DType dtype, uint64_t seed, bool requires_grad = false) const {
    TensorList in = {make_input(x, dtype, seed, layout, -1, 1, requires_grad),
                     make_input(w, dtype, seed + 1, Layout::contiguous, -1, 1, requires_grad)};
    if (bias) in.push_back(make_input({w[0]}, dtype, seed + 2, Layout::contiguous, -1, 1, requires_grad));
    return in;
  }
  Tensor run(const TensorList& in) const { return conv2d(in[0], in[1], bias ? in[2] : Tensor(), o); }
  friend std::ostream& operator<<(std::ostream& os, const ConvCase& c) {
    return os << "x " << c.x << " (" << testing::layout_name(c.layout) << ") w " << c.w << " stride " << c.o.stride
              << " pad " << c.o.padding << " dil " << c.o.dilation << (c.bias ? " bias" : "");
  }
};

// Small enough for gradcheck (O(numel^2) evaluations).
const std::vector<ConvCase> kCases = {
    {{1, 1, 4, 4}, {1, 1, 3, 3}},                                            // one filter, no padding
    {{2, 2, 5, 4}, {3, 2, 3, 3}, {.padding = 1}},                            // same-size output, H != W
    {{2, 2, 5, 5}, {2, 2, 3, 3}, {.stride = 2, .padding = 1}, false},        // the downsampling conv
    {{1, 2, 7, 6}, {2, 2, 3, 3}, {.padding = 2, .dilation = 2}},             // RefineNet's dilated conv
    {{2, 3, 4, 4}, {2, 3, 1, 1}},                                            // 1x1: no im2col
    {{1, 2, 6, 5}, {2, 2, 2, 3}, {.stride = 3, .padding = 1}},               // stride > kernel rows
    {{2, 2, 4, 5}, {2, 2, 3, 3}, {.padding = 1}, true, Layout::transposed},  // H and W swapped in memory
    {{3, 2, 3, 4}, {1, 2, 3, 3}, {.padding = 1}, true, Layout::strided},
    {{0, 2, 4, 4}, {3, 2, 3, 3}, {.padding = 1}},  // empty batch
};

// Forward only: unet-small's layer shapes at batch 5 (threads split the batch), and a deep 1x1.
const std::vector<ConvCase> kLargeCases = {
    {{5, 32, 28, 28}, {32, 32, 3, 3}, {.padding = 1}},
    {{5, 64, 14, 14}, {64, 64, 3, 3}, {.stride = 2, .padding = 1}},
    {{5, 256, 7, 7}, {128, 256, 3, 3}, {.padding = 1}},
    {{5, 128, 7, 7}, {64, 128, 1, 1}, {}, false},
    {{3, 16, 14, 14}, {16, 16, 3, 3}, {.padding = 4, .dilation = 4}},
};

// float32 stride-1 convs take the direct AVX-512 kernels (conv2d_direct.h) on CPUs that have them.
// Spatial tiles: output channels that are not a multiple of 8 (7, 1), taps not a multiple of 6,
// dilation, no padding, R != S (whose data gradient falls back to the gemm), several images per
// weight-gradient reduction.
const std::vector<ConvCase> kDirectCases = {
    {{3, 5, 16, 20}, {7, 5, 3, 3}, {.padding = 1}},
    {{2, 3, 18, 18}, {1, 3, 3, 3}, {.padding = 1}},
    {{2, 4, 20, 20}, {5, 4, 3, 3}, {.padding = 2, .dilation = 2}},
    {{2, 4, 17, 30}, {6, 4, 3, 5}, {.padding = 1}, false},
    {{2, 3, 20, 20}, {4, 3, 3, 3}, {}, true, Layout::transposed},
    // Channel-vector tiles (K a multiple of 16 or 32): rows of 14 and of 7, taps not a multiple of 12,
    // two channel blocks, dilation, and the 24-position tile of K = 48.
    {{2, 5, 14, 14}, {32, 5, 3, 3}, {.padding = 1}},
    {{2, 3, 7, 7}, {64, 3, 3, 3}, {.padding = 1}},
    {{2, 4, 12, 12}, {48, 4, 3, 3}, {.padding = 2, .dilation = 2}},
    {{2, 6, 28, 28}, {32, 6, 3, 3}, {.padding = 2, .dilation = 2}, false},
    // Row tiles with stride 2 (forward and weight gradient; the data gradient takes the gemm), 1x1, and
    // no padding (the tiles read x itself).
    {{2, 3, 28, 28}, {32, 3, 3, 3}, {.stride = 2, .padding = 1}},
    {{3, 16, 28, 28}, {32, 16, 1, 1}},
    {{2, 4, 16, 30}, {32, 4, 3, 3}, {}, true, Layout::strided},
};

Tolerance tolerance(DType dtype) {
  return dtype == kFloat32 ? Tolerance{.rtol = 1e-4, .atol = 1e-4} : Tolerance{.rtol = 1e-12, .atol = 1e-12};
}

void expect_matches_reference(const std::vector<ConvCase>& cases) {
  for (const auto& c : cases)
    for (DType dtype : {kFloat32, kFloat64}) {
      const TensorList in = c.make(dtype, 1);
      const Tensor b = c.bias ? in[2] : Tensor();
      const Tensor y = c.run(in);
      EXPECT_TRUE(all_close(y, reference::conv2d(in[0], in[1], b, c.o), tolerance(dtype))) << c << " forward";
      const Tensor g = make_input(y.shape(), dtype, 7, Layout::transposed);
      EXPECT_TRUE(all_close(conv2d_backward_input(g, in[1], c.x, c.o),
                            reference::conv2d_backward_input(g, in[1], c.x, c.o), tolerance(dtype)))
          << c << " backward_input";
      EXPECT_TRUE(all_close(conv2d_backward_weight(in[0], g, c.w, c.o),
                            reference::conv2d_backward_weight(in[0], g, c.w, c.o), tolerance(dtype)))
          << c << " backward_weight";
    }
}

TEST(Conv2d, MatchesNaiveReference) { expect_matches_reference(kCases); }
TEST(Conv2d, LargeInputsMatchNaiveReference) { expect_matches_reference(kLargeCases); }
TEST(Conv2d, DirectKernelShapesMatchNaiveReference) { expect_matches_reference(kDirectCases); }

// One thread lowers the whole batch as one group (the serial path); two split it. Groups change the
// gemm shapes, so sums may round differently: float32 tolerance.
TEST(Conv2d, OneThreadMatchesTwo) {
  const ConvCase c{{4, 8, 9, 9}, {6, 8, 3, 3}, {.padding = 1}};
  const TensorList in = c.make(kFloat32, 3);
  const Tensor y = c.run(in), g = make_input(y.shape(), kFloat32, 4);
  const Tensor gw = conv2d_backward_weight(in[0], g, c.w, c.o);
  Tensor y1, gw1;
  {
    testing::ThreadCountGuard guard;
    set_num_threads(1);
    y1 = c.run(in);
    gw1 = conv2d_backward_weight(in[0], g, c.w, c.o);
  }
  EXPECT_TRUE(all_close(y1, y, tolerance(kFloat32)));
  EXPECT_TRUE(all_close(gw1, gw, tolerance(kFloat32)));
}

TEST(Conv2d, Gradients) {
  for (const auto& c : kCases)
    EXPECT_TRUE(
        grads_ok([&c](const TensorList& in) { return c.run(in); }, c.make(kFloat64, 2, true), {.name = "conv2d"}))
        << c;
}

TEST(Conv2d, GradientsWhenOnlyOneInputRequiresGrad) {
  const ConvCase c{{2, 2, 4, 4}, {2, 2, 3, 3}, {.padding = 1}, false};
  for (int i : {0, 1}) {
    TensorList in = c.make(kFloat64, 5);
    in[i] = in[i].detach().requires_grad_();
    EXPECT_TRUE(grads_ok([&c](const TensorList& t) { return c.run(t); }, in)) << "input " << i;
  }
}

TEST(Conv2d, BackwardMapsHaveGradients) {  // each backward map on its own, as a function of both inputs
  const ConvCase c{{2, 2, 5, 4}, {2, 2, 3, 3}, {.stride = 2, .padding = 1}, false};
  const Shape y = conv2d_output_shape(c.x, c.w, c.o);
  const TensorList gi = {make_input(y, kFloat64, 8, Layout::contiguous, -1, 1, true),
                         make_input(c.w, kFloat64, 9, Layout::contiguous, -1, 1, true)};
  EXPECT_TRUE(grads_ok([&](const TensorList& t) { return conv2d_backward_input(t[0], t[1], c.x, c.o); }, gi));
  const TensorList gw = {make_input(c.x, kFloat64, 10, Layout::contiguous, -1, 1, true),
                         make_input(y, kFloat64, 11, Layout::contiguous, -1, 1, true)};
  EXPECT_TRUE(grads_ok([&](const TensorList& t) { return conv2d_backward_weight(t[0], t[1], c.w, c.o); }, gw));
}

TEST(Conv2d, ErrorsNameTheShapes) {
  const Tensor x = zeros({64, 3, 28, 28}), w = zeros({32, 1, 3, 3});
  EXPECT_EQ(error_of([&] { conv2d(x, w); }),
            "conv2d: input [64, 3, 28, 28] has 3 channels, weight [32, 1, 3, 3] expects 1");
  EXPECT_EQ(error_of([&] { conv2d(zeros({3, 28, 28}), w); }), "conv2d: input [3, 28, 28] must be 4-d [N, C, H, W]");
  EXPECT_EQ(error_of([&] {
              conv2d(zeros({1, 1, 2, 2}), w);
            }),
            "conv2d: weight [32, 1, 3, 3] (dilation 1) does not fit input [1, 1, 2, 2] padded by 0");
  EXPECT_EQ(error_of([&] {
              conv2d(zeros({1, 1, 4, 4}), w, zeros({31}));
            }),
            "conv2d: bias [31] must be [32] for weight [32, 1, 3, 3]");
  EXPECT_EQ(error_of([&] {
              conv2d(zeros({1, 1, 4, 4}), w, Tensor(), {.stride = 0});
            }),
            "conv2d: needs stride >= 1, padding >= 0, dilation >= 1; got stride 0, padding 0, dilation 1");
  EXPECT_EQ(error_of([&] {
              conv2d_backward_input(zeros({1, 32, 3, 3}), w, {1, 1, 4, 4}, {});
            }),
            "conv2d_backward_input: grad [1, 32, 3, 3] must be [1, 32, 2, 2], the output of input [1, 1, 4, 4] and "
            "weight [32, 1, 3, 3]");
}

TEST(Conv2d, Flops) {  // 2 N K P Q C R S
  EXPECT_EQ(conv2d_flops({64, 32, 28, 28}, {32, 32, 3, 3}, {.padding = 1}), 2.0 * 64 * 32 * 28 * 28 * 32 * 9);
  EXPECT_EQ(conv2d_flops({2, 3, 9, 9}, {4, 3, 3, 3}, {.stride = 2}), 2.0 * 2 * 4 * 4 * 4 * 3 * 9);
}

}  // namespace
}  // namespace scorch
