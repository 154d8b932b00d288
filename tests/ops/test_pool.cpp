// Pooling: avg_pool2d, max_pool2d and their backward ops against the naive window loops of
// reference/pool_reference.h, over odd sizes, padding, stride != kernel, transposed and strided
// layouts, batch > 1, float32 and float64; gradcheck + gradgradcheck in float64 on tiny shapes.
// Tolerance: average pooling sums up to 25 values in another order (separable passes), so float32
// is held to rtol 1e-5 / atol 1e-6 and float64 to 1e-12; max pooling moves values and is exact.
// Max pooling's inputs are distinct values at least 2/numel apart (no ties): its gradient has a kink
// wherever two elements of a window are equal, and central differences must not cross one.
#include <gmock/gmock.h>

#include <algorithm>
#include <numeric>

#include "tensor/image_index.h"
#include "reference/pool_reference.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::all_close;
using testing::error_of;
using ::testing::HasSubstr;
using testing::Layout;
using testing::make_input;
using testing::Tolerance;

struct PoolCase {
  Shape x;
  int64_t kernel, stride, padding;
  Layout layout = Layout::contiguous;
  reference::Pool2d args() const { return {kernel, stride, padding}; }
};
std::ostream& operator<<(std::ostream& os, const PoolCase& c) {
  return os << "x " << c.x << " kernel " << c.kernel << " stride " << c.stride << " padding " << c.padding << " "
            << testing::layout_name(c.layout);
}

const std::vector<PoolCase> kCases = {
    {{1, 1, 5, 5}, 2, 2, 0},                      // 2x2 mean pooling; the odd last row and column drop out
    {{2, 3, 7, 6}, 5, 1, 2},                      // RefineNet's AvgPool2d(5, stride=1, padding=2)
    {{2, 2, 7, 9}, 3, 2, 1},                      // stride != kernel, with padding
    {{1, 2, 6, 5}, 3, 1, 0, Layout::transposed},  // H and W swapped in memory
    {{2, 1, 5, 8}, 2, 3, 1, Layout::strided},     // stride > kernel: some inputs in no window
    {{1, 1, 3, 2}, 4, 1, 2},                      // kernel larger than the input, padding makes it fit
    {{3, 2, 1, 1}, 1, 1, 0},
};

// Small cases for gradcheck, which is O(numel^2).
const std::vector<PoolCase> kGradCases = {
    {{1, 2, 4, 5}, 3, 2, 1},
    {{2, 1, 4, 4}, 5, 1, 2},
    {{1, 1, 4, 5}, 2, 2, 0, Layout::transposed},
    {{1, 1, 3, 4}, 2, 1, 1, Layout::strided},
};

// Distinct values -1 + 2 k / numel in a shuffled order, in the given layout (see the top comment).
Tensor distinct_input(const Shape& shape, DType dtype, uint64_t seed, Layout layout, bool requires_grad = false) {
  std::vector<double> v(shape.numel());
  std::iota(v.begin(), v.end(), 0.0);
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  for (double& e : v) e = -1 + 2 * e / static_cast<double>(v.size());
  Tensor t = make_input(shape, dtype, seed, layout);
  t.copy_(from_vector(v, shape, {.dtype = dtype}));
  return requires_grad ? t.detach().requires_grad_() : t;
}

Tolerance avg_tolerance(DType dtype) {
  return dtype == kFloat32 ? Tolerance{.rtol = 1e-5, .atol = 1e-6} : Tolerance{.rtol = 1e-12, .atol = 1e-12};
}

TEST(Pool, AvgPool2dMatchesNaiveReference) {
  for (const auto& c : kCases)
    for (DType dtype : {kFloat32, kFloat64}) {
      const Tensor x = make_input(c.x, dtype, 1, c.layout);
      EXPECT_TRUE(all_close(avg_pool2d(x, c.kernel, c.stride, c.padding), reference::avg_pool2d(x, c.args()),
                            avg_tolerance(dtype)))
          << c << " " << dtype_name(dtype);
      const Tensor g = make_input(c.args().out_shape(c.x), dtype, 2, c.layout);
      EXPECT_TRUE(all_close(avg_pool2d_backward(g, c.x, c.kernel, c.stride, c.padding),
                            reference::avg_pool2d_backward(g, c.x, c.args()), avg_tolerance(dtype)))
          << "backward " << c << " " << dtype_name(dtype);
    }
}

TEST(Pool, AvgPool2dStrideDefaultsToKernel) {
  const Tensor x = make_input({2, 3, 6, 7}, kFloat64, 3);
  EXPECT_TRUE(all_close(avg_pool2d(x, 2), reference::avg_pool2d(x, {2, 2, 0})));
  EXPECT_EQ(avg_pool2d(x, 3, std::nullopt, 1).shape(), (Shape{2, 3, 2, 3}));
}

TEST(Pool, MaxPool2dMatchesNaiveReference) {
  for (const auto& c : kCases)
    for (DType dtype : {kFloat32, kFloat64}) {
      const Tensor x = distinct_input(c.x, dtype, 4, c.layout);
      EXPECT_TRUE(all_close(max_pool2d(x, c.kernel, c.stride, c.padding), reference::max_pool2d(x, c.args()),
                            {.rtol = 0, .atol = 0}))
          << c << " " << dtype_name(dtype);
      const Tensor g = make_input(c.args().out_shape(c.x), dtype, 5, c.layout);
      EXPECT_TRUE(all_close(max_pool2d_backward(g, x, c.kernel, c.stride, c.padding),
                            reference::max_pool2d_backward(g, x, c.args()), avg_tolerance(dtype)))
          << "backward " << c << " " << dtype_name(dtype);
    }
}

TEST(Pool, MaxPool2dTiesGoToTheFirstElementAndPaddingIsMinusInfinity) {
  // Two equal maxima in one window: the gradient goes to the first in row-major order, as torch.
  const Tensor x = from_vector({1, 3, 3, 0}, {1, 1, 2, 2}, {.dtype = kFloat64, .requires_grad = true});
  max_pool2d(x, 2).sum().backward();
  EXPECT_EQ(x.grad().values(), (std::vector<double>{0, 1, 0, 0}));
  // All-negative input with padding: the padded border never wins.
  const Tensor n = from_vector({-5, -4, -3, -2}, {1, 1, 2, 2}, {.dtype = kFloat64});
  EXPECT_EQ(max_pool2d(n, 2, 1, 1).values(), (std::vector<double>{-5, -4, -4, -3, -2, -2, -3, -2, -2}));
}

TEST(Pool, AvgPool2dGradients) {
  for (const auto& c : kGradCases) {
    const Tensor x = make_input(c.x, kFloat64, 6, c.layout, -1, 1, true);
    auto f = [&](const TensorList& in) { return avg_pool2d(in[0], c.kernel, c.stride, c.padding); };
    EXPECT_TRUE(testing::grads_ok(f, {x}, {.name = "avg_pool2d"})) << c;
  }
}

TEST(Pool, MaxPool2dGradients) {
  for (const auto& c : kGradCases) {
    const Tensor x = distinct_input(c.x, kFloat64, 7, c.layout, true);
    auto f = [&](const TensorList& in) { return max_pool2d(in[0], c.kernel, c.stride, c.padding); };
    EXPECT_TRUE(testing::grads_ok(f, {x}, {.name = "max_pool2d"})) << c;
    // The backward op on its own, as a function of g (and of x, whose gradient is 0).
    const Tensor g = make_input(c.args().out_shape(c.x), kFloat64, 8, Layout::contiguous, -1, 1, true);
    auto b = [&](const TensorList& in) { return max_pool2d_backward(in[0], in[1], c.kernel, c.stride, c.padding); };
    EXPECT_TRUE(testing::grads_ok(b, {g, x}, {.name = "max_pool2d_backward"})) << c;
  }
}

TEST(Pool, BadArgumentsThrowNamingShapesAndArguments) {
  const Tensor x = zeros({1, 2, 3, 3});
  EXPECT_THAT(error_of([] {
                avg_pool2d(zeros({2, 3, 4}), 2);
              }),
              HasSubstr("avg_pool2d: input [2, 3, 4] must be 4-d [N, C, H, W]"));
  EXPECT_THAT(error_of([&] { avg_pool2d(x, 5); }),
              HasSubstr("avg_pool2d: kernel 5 is larger than the padded input 3x3 (input [1, 2, 3, 3], kernel 5, "
                        "stride 5, padding 0)"));
  EXPECT_THAT(error_of([&] { max_pool2d(x, 2, 0); }),
              HasSubstr("max_pool2d: kernel and stride must be >= 1, got kernel 2, stride 0, padding 0"));
  EXPECT_THAT(error_of([&] { max_pool2d(x, 0); }), HasSubstr("max_pool2d: kernel and stride must be >= 1"));
  EXPECT_THAT(error_of([&] { avg_pool2d(x, 3, 1, 2); }),
              HasSubstr("avg_pool2d: padding must be in [0, kernel / 2], got kernel 3, stride 1, padding 2"));
  EXPECT_THAT(error_of([&] { max_pool2d(zeros({1, 1, 0, 4}), 1); }), HasSubstr("has an empty spatial dim"));
  EXPECT_THAT(error_of([&] {
                avg_pool2d_backward(zeros({1, 1, 3, 3}), {1, 1, 5, 5}, 2, 2, 0);
              }),
              HasSubstr("avg_pool2d_backward: grad [1, 1, 3, 3] does not match the output [1, 1, 2, 2] of input "
                        "[1, 1, 5, 5] (kernel 2, stride 2, padding 0)"));
  EXPECT_THAT(error_of([&] {
                max_pool2d_backward(zeros({1, 2, 3, 3}), x, 2, 1, 0);
              }),
              HasSubstr("max_pool2d_backward: grad [1, 2, 3, 3] does not match the output [1, 2, 2, 2]"));
  EXPECT_THAT(error_of([] {
                avg_pool2d(zeros({1, 1, 2, 2}, {.dtype = kInt64}), 2);
              }),
              HasSubstr("avg_pool2d: expected a float32 or float64 tensor, got int64"));
}

// The index arithmetic the CUDA kernels gather with (image_index.h): outputs_holding(i) is exactly the
// set of outputs whose window start(o) + [0, kernel) holds i, and outputs(t) the outputs whose tap t is
// in range; checked by brute force over every size, kernel, stride and padding up to small bounds.
TEST(Pool, WindowIndexRangesMatchBruteForce) {
  for (int64_t in = 1; in <= 9; ++in)
    for (int64_t kernel = 1; kernel <= 5; ++kernel)
      for (int64_t stride = 1; stride <= 3; ++stride)
        for (int64_t padding = 0; padding <= kernel / 2; ++padding) {
          if (in + 2 * padding < kernel) continue;
          const Window w{in, (in + 2 * padding - kernel) / stride + 1, kernel, stride, padding};
          for (int64_t i = 0; i < in; ++i) {
            std::vector<int64_t> want, got;
            for (int64_t o = 0; o < w.out; ++o)
              if (w.start(o) <= i && i < w.start(o) + kernel) want.push_back(o);
            for (int64_t o = w.outputs_holding(i).lo; o < w.outputs_holding(i).hi; ++o) got.push_back(o);
            EXPECT_EQ(got, want) << "in " << in << " kernel " << kernel << " stride " << stride << " padding "
                                 << padding << " input " << i;
          }
          for (int64_t t = 0; t < kernel; ++t) {
            std::vector<int64_t> want, got;
            for (int64_t o = 0; o < w.out; ++o)
              if (w.start(o) + t >= 0 && w.start(o) + t < in) want.push_back(o);
            for (int64_t o = w.outputs(t).lo; o < w.outputs(t).hi; ++o) got.push_back(o);
            EXPECT_EQ(got, want) << "tap " << t;
          }
        }
}

// The per-element gathers the CUDA kernels run (image_index.h), evaluated here on the CPU over every
// element, against the CPU kernels: the forward average, the average's backward and the max's backward
// (with ties), in float64. They sum the same terms in another order: rtol 1e-12; max is exact.
TEST(Pool, CudaGathersMatchTheCpuKernels) {
  struct Case {
    Shape x;
    int64_t kernel, stride, padding;
  };
  for (const Case& c : {Case{{2, 3, 9, 9}, 3, 2, 1}, Case{{1, 2, 13, 11}, 5, 1, 2}, Case{{2, 2, 8, 8}, 2, 2, 0},
                        Case{{1, 1, 4, 5}, 4, 3, 2}}) {
    SCOPED_TRACE(to_string(c.x) + " kernel " + std::to_string(c.kernel));
    const int64_t H = c.x[2], W = c.x[3], planes = c.x[0] * c.x[1];
    auto window = [&](int64_t in) {
      return Window{in, (in + 2 * c.padding - c.kernel) / c.stride + 1, c.kernel, c.stride, c.padding};
    };
    const PoolGeometry geo{planes, window(H), window(W)};
    const int64_t P = geo.h.out, Q = geo.w.out;
    std::vector<double> xv = make_input(c.x, kFloat64, 1).values();
    for (size_t i = 0; i < xv.size(); i += 3) xv[i] = std::round(xv[i]);  // ties for max pooling
    const Tensor x = from_vector(xv, c.x, {.dtype = kFloat64}), g = make_input({c.x[0], c.x[1], P, Q}, kFloat64, 2);
    const std::vector<double> gv = g.values();
    std::vector<double> y(planes * P * Q), gx_avg(planes * H * W), gx_max(planes * H * W);
    std::vector<int64_t> argmax(planes * P * Q);
    for (int64_t n = 0; n < planes; ++n) {
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          y[(n * P + p) * Q + q] = avg_pool_value(xv.data() + n * H * W, geo, p, q);
          argmax[(n * P + p) * Q + q] = window_argmax(xv.data() + n * H * W, geo, p, q);
        }
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          gx_avg[(n * H + h) * W + w] = avg_pool_grad_value(gv.data() + n * P * Q, geo, h, w);
          gx_max[(n * H + h) * W + w] =
              max_pool_grad_value(argmax.data() + n * P * Q, gv.data() + n * P * Q, geo, h, w);
        }
    }
    const TensorOptions f64{.dtype = kFloat64};
    EXPECT_TRUE(all_close(from_vector(y, {c.x[0], c.x[1], P, Q}, f64), avg_pool2d(x, c.kernel, c.stride, c.padding),
                          {1e-12, 1e-14}));
    EXPECT_TRUE(all_close(from_vector(gx_avg, c.x, f64), avg_pool2d_backward(g, c.x, c.kernel, c.stride, c.padding),
                          {1e-12, 1e-14}));
    EXPECT_TRUE(
        all_close(from_vector(gx_max, c.x, f64), max_pool2d_backward(g, x, c.kernel, c.stride, c.padding), {0, 0}));
  }
}

}  // namespace
}  // namespace scorch
