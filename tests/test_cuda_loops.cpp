// The index arithmetic of the CUDA kernels, run on the CPU (no device needed), against the CPU ops:
// every "thread" i of map_element over the plan that map_cuda builds (cuda/loops.h) writes what the
// CPU loop writes, for broadcast, transposed, strided, 0-d and empty operands and non-contiguous
// outputs. This is the part of the kernels that can be wrong in ways a device would only show as garbage.
#include <gtest/gtest.h>

#include <cmath>

#include "cuda/loops.h"
#include "tensor/cpu_loops.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::Layout;
using testing::make_input;

// map_cuda's host side and kernel, with the kernel's threads run one after another on the CPU.
template <typename Out, typename In, int NIn, typename F>
void map_on_host(const Tensor& out, const F& f, const std::array<Tensor, NIn>& in) {
  const int64_t n = out.numel();
  if (n == 0) return;
  std::array<Shape, NIn + 1> strides;
  strides[0] = out.strides();
  cuda::InputPtrs<In, NIn> ptrs;
  for (int k = 0; k < NIn; ++k) {
    strides[k + 1] = broadcast_strides(in[k], out.shape());
    ptrs.p[k] = in[k].template data<In>();
  }
  const cuda::OffsetCalc<NIn + 1> calc = cuda::make_offset_calc(make_loop_plan<NIn + 1>(out.shape(), strides));
  for (int64_t i = 0; i < n; ++i) cuda::map_element<Out, In, NIn>(i, calc, f, out.template data<Out>(), ptrs);
}

struct AxpbFn {  // distinguishes the operands' order
  double operator()(double a, double b) const { return 3 * a - b; }
  double operator()(double c, double a, double b) const { return c > 0 ? a : 10 * b; }
};

struct Case {
  Shape a, b;
  Layout layout = Layout::contiguous;
};
const std::vector<Case> kCases = {{{2, 3}, {2, 3}},
                                  {{4, 1, 3}, {2, 1}},
                                  {{}, {5}},
                                  {{5}, {}},
                                  {{}, {}},
                                  {{0, 3}, {1, 3}},
                                  {{3, 4}, {3, 4}, Layout::transposed},
                                  {{2, 3, 4}, {4}, Layout::strided},
                                  {{3, 1}, {1, 4}},
                                  {{2, 1, 3, 1, 5}, {3, 4, 1}, Layout::transposed},
                                  {{2, 3, 2, 3, 2, 3, 2, 3}, {3}, Layout::strided}};  // kMaxDims dims

TEST(CudaLoopsOnHost, BinaryMatchesTheCpuLoop) {
  for (const Case& c : kCases) {
    const Tensor a = make_input(c.a, kFloat64, 1, c.layout), b = make_input(c.b, kFloat64, 2, c.layout);
    const Shape shape = broadcast_shapes("test", c.a, c.b);
    const Tensor expected = empty(shape, {.dtype = kFloat64}), got = full(shape, NAN, {.dtype = kFloat64});
    map_cpu<double, double, double>(expected, AxpbFn{}, a, b);
    map_on_host<double, double, 2>(got, AxpbFn{}, {a, b});
    EXPECT_EQ(got.values(), expected.values()) << c.a << " " << c.b << " " << testing::layout_name(c.layout);
  }
}

TEST(CudaLoopsOnHost, TernaryMatchesTheCpuLoop) {
  for (const Case& c : kCases) {
    const Tensor cond = make_input(c.b, kFloat64, 5, c.layout), a = make_input(c.a, kFloat64, 6, c.layout);
    const Tensor b = make_input({1}, kFloat64, 7);
    const Shape shape = broadcast_shapes("test", broadcast_shapes("test", c.b, c.a), Shape{1});
    const Tensor expected = empty(shape, {.dtype = kFloat64}), got = full(shape, NAN, {.dtype = kFloat64});
    map_cpu<double, double, double, double>(expected, AxpbFn{}, cond, a, b);
    map_on_host<double, double, 3>(got, AxpbFn{}, {cond, a, b});
    EXPECT_EQ(got.values(), expected.values()) << c.a << " " << c.b;
  }
}

TEST(CudaLoopsOnHost, CopyIntoNonContiguousOutputsWithConversion) {
  for (Layout layout : {Layout::contiguous, Layout::transposed, Layout::strided})
    for (const Shape& shape : {Shape{6}, Shape{3, 5}, Shape{2, 3, 4}}) {
      const Tensor src = make_input(shape, kFloat32, 3, layout, -50, 50);
      // Destination: a transposed view of a fresh buffer.
      const int n = shape.size();
      const Tensor dst = n >= 2 ? zeros(shape, {.dtype = kInt64}).transpose(n - 2, n - 1).contiguous().transpose(n - 2, n - 1)
                                : zeros(shape, {.dtype = kInt64}).slice(0, 0, shape[0]);
      map_on_host<int64_t, float, 1>(dst, cuda::CastFn<int64_t>{}, {src});
      const Tensor expected = src.to(kInt64);
      EXPECT_EQ(dst.values(), expected.values()) << shape << " " << testing::layout_name(layout);
    }
}

TEST(CudaLoopsOnHost, FillWritesEveryElementOfAView) {
  const Tensor base = zeros({4, 6});
  const Tensor view = base.slice(1, 1, 6, 2);  // columns 1, 3, 5
  map_on_host<float, float, 0>(view, cuda::FillFn<float>{7}, {});
  const std::vector<double> v = base.values();
  for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(v[i], i % 2 == 1 ? 7 : 0) << i;
}

TEST(CudaLoopsOnHost, OffsetsOfAMergedPlan) {
  // [2, 3, 4] contiguous with a [3, 1] input broadcast: output dims stay split where the input jumps.
  const Tensor out = empty({2, 3, 4}), in = empty({3, 1});
  const auto plan = make_loop_plan<2>(out.shape(), {out.strides(), broadcast_strides(in, out.shape())});
  const cuda::OffsetCalc<2> calc = cuda::make_offset_calc(plan);
  for (int64_t i = 0; i < 24; ++i) {
    int64_t off[2];
    calc.get(i, off);
    EXPECT_EQ(off[0], i);
    EXPECT_EQ(off[1], (i / 4) % 3) << i;
  }
  const auto flat = cuda::make_offset_calc(make_loop_plan<1>(out.shape(), {out.strides()}));
  EXPECT_EQ(flat.ndim, 1) << "a contiguous operation is one flat dim";
  EXPECT_EQ(flat.sizes[0], 24);
}

}  // namespace
}  // namespace scorch
