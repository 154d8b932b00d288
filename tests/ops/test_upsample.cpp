// Resizing: upsample_nearest2d, interpolate_bilinear and their backward ops against the naive loops
// of reference/upsample_reference.h, over odd sizes, up- and downsampling, size 1, both
// align_corners, transposed and strided layouts, batch > 1, float32 and float64; gradcheck +
// gradgradcheck in float64 on tiny shapes.
// Tolerance: nearest moves values (exact forward; its backward sums up to s^2 values in another
// order); bilinear mixes four values with weights rounded to the dtype: float32 rtol 1e-5 / atol 1e-6,
// float64 1e-12.
#include <gmock/gmock.h>

#include <array>

#include "tensor/image_index.h"
#include "reference/upsample_reference.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::all_close;
using testing::error_of;
using ::testing::HasSubstr;
using testing::Layout;
using testing::make_input;
using testing::Tolerance;

Tolerance tolerance(DType dtype) {
  return dtype == kFloat32 ? Tolerance{.rtol = 1e-5, .atol = 1e-6} : Tolerance{.rtol = 1e-12, .atol = 1e-12};
}

struct NearestCase {
  Shape x;
  int64_t scale;
  Layout layout = Layout::contiguous;
};
std::ostream& operator<<(std::ostream& os, const NearestCase& c) {
  return os << "x " << c.x << " scale " << c.scale << " " << testing::layout_name(c.layout);
}

const std::vector<NearestCase> kNearestCases = {{{1, 1, 3, 3}, 2},
                                                {{2, 3, 4, 5}, 3, Layout::transposed},
                                                {{2, 2, 3, 1}, 1, Layout::strided},
                                                {{1, 2, 2, 3}, 2, Layout::strided},
                                                {{3, 1, 1, 1}, 4}};

struct BilinearCase {
  Shape x;
  int64_t out_h, out_w;
  bool align_corners;
  Layout layout = Layout::contiguous;
};
std::ostream& operator<<(std::ostream& os, const BilinearCase& c) {
  return os << "x " << c.x << " -> " << c.out_h << "x" << c.out_w << " align_corners " << c.align_corners << " "
            << testing::layout_name(c.layout);
}

const std::vector<BilinearCase> kBilinearCases = {
    {{2, 3, 7, 7}, 14, 14, true},
    {{2, 3, 7, 7}, 14, 14, false},  // NCSN's 7 -> 14
    {{1, 2, 5, 4}, 9, 3, true},
    {{1, 2, 5, 4}, 9, 3, false, Layout::transposed},  // up in H, down in W
    {{1, 2, 8, 6}, 3, 4, false},
    {{1, 2, 8, 6}, 3, 4, true, Layout::strided},  // downsampling
    {{2, 1, 1, 1}, 3, 2, true},
    {{2, 1, 1, 1}, 3, 2, false},  // a single pixel
    {{1, 1, 4, 5}, 1, 1, true},
    {{1, 1, 4, 5}, 1, 1, false},                       // a single output
    {{1, 2, 4, 3}, 4, 3, false, Layout::transposed}};  // same size

TEST(Upsample, NearestMatchesNaiveReference) {
  for (const auto& c : kNearestCases)
    for (DType dtype : {kFloat32, kFloat64}) {
      const Tensor x = make_input(c.x, dtype, 1, c.layout);
      EXPECT_TRUE(
          all_close(upsample_nearest2d(x, c.scale), reference::upsample_nearest2d(x, c.scale), {.rtol = 0, .atol = 0}))
          << c << " " << dtype_name(dtype);
      const Tensor g = make_input({c.x[0], c.x[1], c.x[2] * c.scale, c.x[3] * c.scale}, dtype, 2, c.layout);
      EXPECT_TRUE(all_close(upsample_nearest2d_backward(g, c.scale), reference::upsample_nearest2d_backward(g, c.scale),
                            tolerance(dtype)))
          << "backward " << c << " " << dtype_name(dtype);
    }
  EXPECT_EQ(upsample_nearest2d(zeros({2, 3, 4, 5})).shape(), (Shape{2, 3, 8, 10}));  // scale defaults to 2
}

TEST(Upsample, BilinearMatchesNaiveReference) {
  for (const auto& c : kBilinearCases)
    for (DType dtype : {kFloat32, kFloat64}) {
      const Tensor x = make_input(c.x, dtype, 3, c.layout);
      EXPECT_TRUE(all_close(interpolate_bilinear(x, c.out_h, c.out_w, c.align_corners),
                            reference::interpolate_bilinear(x, c.out_h, c.out_w, c.align_corners), tolerance(dtype)))
          << c << " " << dtype_name(dtype);
      const Tensor g = make_input({c.x[0], c.x[1], c.out_h, c.out_w}, dtype, 4, c.layout);
      EXPECT_TRUE(all_close(interpolate_bilinear_backward(g, c.x[2], c.x[3], c.align_corners),
                            reference::interpolate_bilinear_backward(g, c.x[2], c.x[3], c.align_corners),
                            tolerance(dtype)))
          << "backward " << c << " " << dtype_name(dtype);
    }
}

TEST(Upsample, BilinearAlignCornersKeepsTheCorners) {
  const Tensor x = make_input({1, 1, 3, 4}, kFloat64, 5);
  const std::vector<double> v = x.values(), y = interpolate_bilinear(x, 7, 9, true).values();
  EXPECT_DOUBLE_EQ(y[0], v[0]);
  EXPECT_DOUBLE_EQ(y[8], v[3]);
  EXPECT_DOUBLE_EQ(y[54], v[8]);
  EXPECT_DOUBLE_EQ(y[62], v[11]);
}

TEST(Upsample, NearestGradients) {
  for (const NearestCase& c : {NearestCase{{1, 2, 2, 3}, 2}, NearestCase{{2, 1, 2, 2}, 3, Layout::transposed},
                               NearestCase{{1, 1, 3, 2}, 2, Layout::strided}}) {
    const Tensor x = make_input(c.x, kFloat64, 6, c.layout, -1, 1, true);
    auto f = [&](const TensorList& in) { return upsample_nearest2d(in[0], c.scale); };
    EXPECT_TRUE(testing::grads_ok(f, {x}, {.name = "upsample_nearest2d"})) << c;
  }
}

TEST(Upsample, BilinearGradients) {
  const std::vector<BilinearCase> cases = {{{1, 1, 3, 4}, 5, 3, true},
                                           {{1, 1, 3, 4}, 5, 3, false, Layout::transposed},
                                           {{2, 1, 2, 2}, 4, 4, true, Layout::strided},
                                           {{1, 2, 4, 3}, 2, 2, false}};
  for (const auto& c : cases) {
    const Tensor x = make_input(c.x, kFloat64, 7, c.layout, -1, 1, true);
    auto f = [&](const TensorList& in) { return interpolate_bilinear(in[0], c.out_h, c.out_w, c.align_corners); };
    EXPECT_TRUE(testing::grads_ok(f, {x}, {.name = "interpolate_bilinear"})) << c;
  }
}

TEST(Upsample, BadArgumentsThrowNamingShapesAndArguments) {
  const Tensor x = zeros({1, 2, 3, 3});
  EXPECT_THAT(error_of([] {
                upsample_nearest2d(zeros({2, 3, 4}));
              }),
              HasSubstr("upsample_nearest2d: input [2, 3, 4] must be 4-d [N, C, H, W]"));
  EXPECT_THAT(error_of([&] { upsample_nearest2d(x, 0); }),
              HasSubstr("upsample_nearest2d: scale must be >= 1, got 0 (input [1, 2, 3, 3])"));
  EXPECT_THAT(
      error_of([] {
        upsample_nearest2d_backward(zeros({1, 1, 5, 4}), 2);
      }),
      HasSubstr("upsample_nearest2d_backward: grad [1, 1, 5, 4] has H and W that are not multiples of scale 2"));
  EXPECT_THAT(error_of([] {
                interpolate_bilinear(zeros({3, 3}), 4, 4, true);
              }),
              HasSubstr("interpolate_bilinear: input [3, 3] must be 4-d [N, C, H, W]"));
  EXPECT_THAT(error_of([&] { interpolate_bilinear(x, 0, 4, false); }),
              HasSubstr("interpolate_bilinear: output size 0x4 must be at least 1x1 (input [1, 2, 3, 3])"));
  EXPECT_THAT(error_of([] {
                interpolate_bilinear(zeros({1, 1, 0, 3}), 2, 2, false);
              }),
              HasSubstr("interpolate_bilinear: input [1, 1, 0, 3] has an empty spatial dim"));
  EXPECT_THAT(error_of([&] { interpolate_bilinear_backward(x, 2, -1, true); }),
              HasSubstr("interpolate_bilinear_backward: input size 2x-1 must be at least 1x1 (grad [1, 2, 3, 3])"));
  EXPECT_THAT(error_of([] {
                upsample_nearest2d(zeros({1, 1, 2, 2}, {.dtype = kInt64}));
              }),
              HasSubstr("upsample_nearest2d: expected a float32 or float64 tensor, got int64"));
}

// The CUDA kernel's backward (image_index.h: inverted taps, then a gather per input element),
// evaluated on the CPU against the CPU's scatter, in float64 (the same products summed in another
// order: rtol 1e-12), up- and downsampling, with and without align_corners.
TEST(Upsample, CudaBilinearGatherMatchesTheCpuScatter) {
  for (const bool align : {false, true})
    for (const auto& [H, W, P, Q] :
         {std::array<int64_t, 4>{7, 6, 28, 28}, {13, 9, 5, 4}, {1, 1, 3, 2}, {3, 17, 3, 17}}) {
      SCOPED_TRACE(std::to_string(H) + "x" + std::to_string(W) + " -> " + std::to_string(P) + "x" + std::to_string(Q) +
                   (align ? " align_corners" : ""));
      const Tensor g = make_input({2, 3, P, Q}, kFloat64, 5);
      const std::vector<double> gv = g.values();
      const InverseTaps<double> rows = inverse_linear_taps<double>(H, P, align),
                                cols = inverse_linear_taps<double>(W, Q, align);
      std::vector<double> gx(6 * H * W);
      for (int64_t n = 0; n < 6; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w)
            gx[(n * H + h) * W + w] =
                bilinear_grad_value(gv.data() + n * P * Q, Q, rows.first.data(), rows.out.data(), rows.weight.data(),
                                    cols.first.data(), cols.out.data(), cols.weight.data(), h, w);
      EXPECT_TRUE(all_close(from_vector(gx, {2, 3, H, W}, {.dtype = kFloat64}),
                            interpolate_bilinear_backward(g, H, W, align), {1e-12, 1e-14}));
    }
}

}  // namespace
}  // namespace scorch
