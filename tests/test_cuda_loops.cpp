// The index arithmetic of the CUDA kernels, run on the CPU (no device needed), against the CPU ops:
//   - every "thread" i of map_element over the plan that map_cuda builds (cuda/loops.h) writes what the
//     CPU loop writes, for broadcast, transposed, strided, 0-d and empty operands and non-contiguous
//     outputs;
//   - the reductions' (output, term) -> offset plan (make_reduce_plan) folds to the CPU's sums and maxes;
//   - the row-major -> column-major cuBLAS arguments (cuda/gemm.h), fed to a reference column-major
//     gemm written from the BLAS definition, give the CPU's products.
// This is the part of the kernels that can be wrong in ways a device would only show as garbage.
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "cuda/gemm.h"
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
      const Tensor dst =
          n >= 2 ? zeros(shape, {.dtype = kInt64}).transpose(n - 2, n - 1).contiguous().transpose(n - 2, n - 1)
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

// ---- Reductions ----

// The reduction kernels' arithmetic on the host: output o folds in[kept(o) + reduced(r)] over r.
std::vector<double> reduce_on_host(const Tensor& a, uint32_t mask, bool max) {
  const cuda::ReducePlan p = cuda::make_reduce_plan(a, mask);
  std::vector<double> out(p.outputs);
  const double* in = a.data<double>();
  for (int64_t o = 0; o < p.outputs; ++o) {
    int64_t base[1], off[1];
    p.kept.get(o, base);
    double acc = max ? -INFINITY : 0;
    for (int64_t r = 0; r < p.length; ++r) {
      p.reduced.get(r, off);
      acc = max ? std::max(acc, in[base[0] + off[0]]) : acc + in[base[0] + off[0]];
    }
    out[o] = acc;
  }
  return out;
}

TEST(CudaLoopsOnHost, ReducePlanFoldsLikeTheCpu) {
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;
    Layout layout;
  };
  const std::vector<Case> cases = {{{}, {}, Layout::contiguous},
                                   {{5}, {0}, Layout::contiguous},
                                   {{3, 4}, {1}, Layout::contiguous},
                                   {{3, 4}, {0}, Layout::transposed},
                                   {{2, 3, 4}, {0, 2}, Layout::strided},
                                   {{2, 3, 4, 5}, {1, 3}, Layout::transposed},
                                   {{4, 1, 6}, {0, 1}, Layout::contiguous},
                                   {{3, 4}, {}, Layout::transposed}};
  for (const Case& c : cases) {
    const Tensor a = make_input(c.shape, kFloat64, 8, c.layout);
    uint32_t mask = 0;
    for (int64_t d : c.dims) mask |= 1u << d;
    if (c.dims.empty()) mask = (1u << c.shape.size()) - 1;
    const std::vector<double> s = reduce_on_host(a, mask, false), m = reduce_on_host(a, mask, true);
    const std::vector<double> s_cpu = sum(a, c.dims).values(), m_cpu = max(a, c.dims).values();
    ASSERT_EQ(s.size(), s_cpu.size()) << c.shape;
    for (size_t i = 0; i < s.size(); ++i) {
      EXPECT_NEAR(s[i], s_cpu[i], 1e-12) << c.shape << " output " << i;
      EXPECT_EQ(m[i], m_cpu[i]) << c.shape << " output " << i;
    }
  }
  // An expanded input: stride 0 along a reduced dim.
  const Tensor e = make_input({3, 1}, kFloat64, 9).expand({3, 5});
  EXPECT_EQ(reduce_on_host(e, 0b10, false), sum(e, {1}).values());
}

// ---- cuBLAS arguments ----

// C = op(A) op(B) column-major, from the BLAS definition: op(X)(i, l) is X[i + l ldx], or X[l + i ldx]
// when transposed.
void reference_column_major_gemm(const cuda::ColumnMajorGemm& g, const double* A, const double* B, double* C) {
  for (int64_t j = 0; j < g.n; ++j)
    for (int64_t i = 0; i < g.m; ++i) {
      double s = 0;
      for (int64_t l = 0; l < g.k; ++l) {
        const double a = g.trans_a ? A[l + i * g.lda] : A[i + l * g.lda];
        const double b = g.trans_b ? B[j + l * g.ldb] : B[l + j * g.ldb];
        s += a * b;
      }
      C[i + j * g.ldc] = s;
    }
}

TEST(CudaLoopsOnHost, GemmArgumentsGiveTheRowMajorProduct) {
  // a [M, K], b [K, N] as contiguous, transposed views, column slices (ld > cols) and single rows/columns.
  const auto slice_cols = [](const Tensor& t) {  // the same values with a leading dimension 3 wider
    Tensor wide = zeros({t.shape()[0], t.shape()[1] + 3}, {.dtype = kFloat64});
    Tensor v = wide.narrow(1, 1, t.shape()[1]);
    v.copy_(t);
    return v;
  };
  for (const auto& [M, N, K] :
       std::vector<std::array<int64_t, 3>>{{3, 5, 4}, {1, 5, 4}, {3, 1, 4}, {3, 5, 1}, {1, 1, 7}})
    for (int la = 0; la < 3; ++la)
      for (int lb = 0; lb < 3; ++lb) {
        const Tensor a0 = make_input({M, K}, kFloat64, 10), b0 = make_input({K, N}, kFloat64, 11);
        const Tensor a = la == 0 ? a0 : la == 1 ? a0.transpose(0, 1).contiguous().transpose(0, 1) : slice_cols(a0);
        const Tensor b = lb == 0 ? b0 : lb == 1 ? b0.transpose(0, 1).contiguous().transpose(0, 1) : slice_cols(b0);
        const auto oa = cuda::row_major_operand(M, K, a.strides()[0], a.strides()[1]);
        const auto ob = cuda::row_major_operand(K, N, b.strides()[0], b.strides()[1]);
        ASSERT_TRUE(oa && ob);
        const cuda::ColumnMajorGemm g = cuda::column_major_gemm(*oa, *ob, M, N, K, N);
        EXPECT_EQ(g.m, N);
        EXPECT_EQ(g.n, M);
        EXPECT_GE(g.lda, std::max<int64_t>(1, g.trans_a ? g.k : g.m)) << "cuBLAS's rule for lda";
        EXPECT_GE(g.ldb, std::max<int64_t>(1, g.trans_b ? g.n : g.k)) << "cuBLAS's rule for ldb";
        const Tensor c = zeros({M, N}, {.dtype = kFloat64});
        reference_column_major_gemm(g, b.data<double>(), a.data<double>(), c.data<double>());  // cuBLAS's A is b
        EXPECT_TRUE(testing::all_close(c, matmul(a0, b0), {.rtol = 1e-12, .atol = 1e-14}))
            << M << "x" << N << "x" << K << " layouts " << la << " " << lb;
      }
  EXPECT_FALSE(cuda::row_major_operand(3, 4, 8, 2)) << "neither stride 1: copy first";
  EXPECT_FALSE(cuda::row_major_operand(3, 4, 0, 1)) << "expanded rows: copy first";
}

}  // namespace
}  // namespace scorch
