// test_matmul.cpp: matmul against the naive reference of reference/matmul_reference.h (1-d operands,
// batch broadcasting, transposed and strided layouts, empty shapes), gradcheck + gradgradcheck in
// float64, and the error messages.
//
// Tolerance: float32 BLAS sums K products in its own blocked FMA order, the reference in double;
// with |x| < 1 the error grows like K 2^-24, about 1e-5 at the K = 300 of the large cases
// (rtol 1e-5, atol 1e-5). float64: rtol 1e-12.
#include "reference/matmul_reference.h"
#include "tensor/blas.h"
#include "tensor/random.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::all_close;
using testing::error_of;
using testing::grads_ok;
using testing::Layout;
using testing::make_input;
using testing::Tolerance;

struct MatmulCase {
  Shape a, b;
  Layout layout_a = Layout::contiguous, layout_b = Layout::contiguous;

  TensorList make(DType dtype, uint64_t seed, bool requires_grad = false) const {
    return {make_input(a, dtype, seed, layout_a, -1.0, 1.0, requires_grad),
            make_input(b, dtype, seed + 1, layout_b, -1.0, 1.0, requires_grad)};
  }
  friend std::ostream& operator<<(std::ostream& os, const MatmulCase& c) {
    return os << c.a << " (" << testing::layout_name(c.layout_a) << ") @ " << c.b << " ("
              << testing::layout_name(c.layout_b) << ")";
  }
};

const std::vector<MatmulCase> kMatmulCases = {
    {{2, 3}, {3, 4}},  // matrices
    {{3}, {3, 4}},
    {{2, 3}, {3}},
    {{3}, {3}},                 // 1-d operands (the last a dot product)
    {{2, 2, 3}, {3, 4}},        // a batch against one b: one folded gemm
    {{2, 3}, {2, 3, 4}},        // a against a batch of b
    {{2, 1, 2, 3}, {3, 3, 2}},  // both batches broadcast
    {{3}, {2, 3, 4}},
    {{2, 2, 3}, {3}},                                          // 1-d against a batch
    {{3, 2}, {2, 4}, Layout::transposed, Layout::transposed},  // BLAS transpose flags, no copy
    {{2, 3, 2}, {2, 4}, Layout::transposed},                   // transposed batch: not folded
    {{3, 4}, {4, 2}, Layout::strided, Layout::strided},        // neither stride is 1: copied
    {{2, 3, 4}, {2, 4, 2}, Layout::strided, Layout::transposed},
    {{0, 3}, {3, 2}},
    {{2, 0}, {0, 3}},
    {{0, 2, 3}, {3, 2}},  // M = 0, K = 0 (zeros), no batch
};

// Forward only: BLAS blocking and batches of small products.
const std::vector<MatmulCase> kLargeCases = {
    {{64, 129}, {129, 65}},
    {{48, 9, 7}, {48, 7, 5}},
    {{32, 64, 64}, {32, 64, 64}},  // products small enough that threads split the batch
    {{4, 50, 60}, {60, 70}, Layout::transposed, Layout::strided},
    {{200, 300}, {300, 100}, Layout::transposed, Layout::transposed},
    // Thin products (K or N <= 4) skip BLAS: each layout of the loop kernel, and the fallbacks.
    {{300, 3}, {3, 100}},
    {{300, 3}, {3, 100}, Layout::transposed, Layout::transposed},
    {{300, 100}, {100, 2}, Layout::contiguous, Layout::transposed},
    {{300, 100}, {100, 2}},
    {{2, 80, 4}, {4, 3}, Layout::strided},
};

Tolerance forward_tolerance(DType dtype) {
  return dtype == kFloat32 ? Tolerance{.rtol = 1e-5, .atol = 1e-5} : Tolerance{.rtol = 1e-12, .atol = 1e-12};
}

void expect_matches_reference(const std::vector<MatmulCase>& cases) {
  for (const auto& c : cases) {
    for (DType dtype : {kFloat32, kFloat64}) {
      const TensorList in = c.make(dtype, /*seed=*/1);
      EXPECT_TRUE(all_close(matmul(in[0], in[1]), reference::matmul(in[0], in[1]), forward_tolerance(dtype)))
          << c << ", " << dtype_name(dtype);
    }
  }
}

TEST(Matmul, MatchesNaiveReference) { expect_matches_reference(kMatmulCases); }
TEST(Matmul, LargeInputsMatchNaiveReference) { expect_matches_reference(kLargeCases); }

TEST(Matmul, Gradients) {
  for (const auto& c : kMatmulCases) {
    EXPECT_TRUE(grads_ok([](const TensorList& in) { return matmul(in[0], in[1]); },
                         c.make(kFloat64, /*seed=*/2, /*requires_grad=*/true)))
        << c;
  }
}

TEST(Matmul, GradientsWhenOnlyOneInputRequiresGrad) {  // the other input's product is skipped
  for (int i : {0, 1}) {
    TensorList in = MatmulCase{{2, 2, 3}, {2, 3, 4}}.make(kFloat64, /*seed=*/3);
    in[i] = in[i].detach().requires_grad_();
    EXPECT_TRUE(grads_ok([](const TensorList& x) { return matmul(x[0], x[1]); }, in)) << "input " << i;
  }
}

// linear(x, W, b) = x W^T + b against the reference matmul plus a hand-broadcast bias.
struct LinearCase {
  Shape x;
  int64_t n;
  Layout layout = Layout::contiguous;
};
const std::vector<LinearCase> kLinearCases = {
    {{4, 3}, 5}, {{3}, 2},     {{2, 3, 4}, 3}, {{5, 4}, 3, Layout::transposed}, {{2, 4}, 3, Layout::strided},
    {{0, 3}, 2}, {{70, 3}, 5}, {{70, 6}, 2}};  // thin: rows >= 64 with K or N <= 4 take the loop kernel

TEST(Linear, MatchesNaiveReference) {
  for (const auto& c : kLinearCases)
    for (DType dtype : {kFloat32, kFloat64}) {
      const Tensor x = make_input(c.x, dtype, 1, c.layout), w = make_input({c.n, c.x.back()}, dtype, 2),
                   b = make_input({c.n}, dtype, 3);
      const Tensor xw = reference::matmul(x, w.transpose(0, 1));
      const std::vector<double> v = xw.values(), vb = b.values();
      std::vector<double> expected(v.size());
      for (size_t i = 0; i < v.size(); ++i) expected[i] = v[i] + vb[i % c.n];
      EXPECT_TRUE(
          all_close(linear(x, w, b), from_vector(expected, xw.shape(), {.dtype = kFloat64}), forward_tolerance(dtype)))
          << c.x << " n " << c.n;
      EXPECT_TRUE(all_close(linear(x, w, Tensor()), xw, forward_tolerance(dtype))) << c.x << " without bias";
    }
}

TEST(Linear, EmptyInnerDimGivesTheBias) {
  const Tensor y = linear(empty({3, 0}), empty({2, 0}), from_vector({7, 8}));
  EXPECT_EQ(y.values(), (std::vector<double>{7, 8, 7, 8, 7, 8}));
}

TEST(Linear, Gradients) {
  for (const auto& c : kLinearCases) {
    const TensorList in = {make_input(c.x, kFloat64, 4, c.layout, -1, 1, true),
                           make_input({c.n, c.x.back()}, kFloat64, 5, Layout::contiguous, -1, 1, true),
                           make_input({c.n}, kFloat64, 6, Layout::contiguous, -1, 1, true)};
    EXPECT_TRUE(grads_ok([](const TensorList& t) { return linear(t[0], t[1], t[2]); }, in, {.name = "linear"})) << c.x;
  }
}

// blas_gemm's tiles follow from the shape alone, cover c once, and number at most 8.
TEST(BlasGemm, TilesCoverTheOutputAndFollowTheShapeOnly) {
  for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1},
                                {1024, 128, 128},
                                {128, 128, 1024},
                                {10000, 128, 128},
                                {64, 2000, 576},
                                {7, 5000, 3},
                                {3000, 17, 900},
                                {0, 5, 5}}) {
    const GemmTiling t = gemm_tiling(m, n, k);
    SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k));
    EXPECT_GE(t.rows, 1);
    EXPECT_GE(t.cols, 1);
    EXPECT_LE(t.count(m, n), 8);
    if (2.0 * m * n * k >= 8 * (1 << 22) && m >= 256 && n >= 256) {
      EXPECT_GE(t.count(m, n), 4);
    }
    EXPECT_TRUE(t.rows == std::max<int64_t>(m, 1) || t.rows % 16 == 0);
    EXPECT_TRUE(t.cols == std::max<int64_t>(n, 1) || t.cols % 16 == 0);
  }
  EXPECT_GT(gemm_tiling(1024, 128, 128).count(1024, 128), 1);  // the gmm mlp's layers are split
}

// The same bits at 1, 2 and 3 threads, for the mlp's products (forward, input and weight gradients,
// sampling), under whatever OpenBLAS kernels run (ctest runs this again under the other core type:
// tests/CMakeLists.txt). OpenBLAS's own threading failed this under OPENBLAS_CORETYPE=Haswell.
TEST(BlasGemm, SameBitsAtAnyThreadCount) {
  testing::ThreadCountGuard guard;
  struct Product {
    int64_t m, n, k;
    CBLAS_TRANSPOSE ta, tb;
  };
  for (const Product& p : {Product{1024, 128, 128, CblasNoTrans, CblasTrans},
                           {1024, 128, 128, CblasNoTrans, CblasNoTrans},
                           {128, 128, 1024, CblasTrans, CblasNoTrans},
                           {2000, 130, 128, CblasNoTrans, CblasTrans},
                           {64, 3000, 288, CblasNoTrans, CblasNoTrans}}) {
    Generator gen(7);
    const Tensor a = p.ta == CblasNoTrans ? randn({p.m, p.k}, gen) : randn({p.k, p.m}, gen);
    const Tensor b = p.tb == CblasNoTrans ? randn({p.k, p.n}, gen) : randn({p.n, p.k}, gen);
    const int64_t lda = a.shape()[1], ldb = b.shape()[1];
    std::vector<std::vector<double>> runs;
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      Tensor c = zeros({p.m, p.n});
      blas_gemm<float>(p.ta, p.tb, p.m, p.n, p.k, 1.0f, a.data<float>(), lda, b.data<float>(), ldb, 0.0f,
                       c.data<float>(), p.n);
      runs.push_back(c.values());
    }
    EXPECT_EQ(runs[0], runs[1]) << p.m << "x" << p.n << "x" << p.k << ": 1 vs 2 threads";
    EXPECT_EQ(runs[0], runs[2]) << p.m << "x" << p.n << "x" << p.k << ": 1 vs 3 threads";
    EXPECT_TRUE(all_close(
        from_vector(runs[0], {p.m, p.n}, {.dtype = kFloat64}),
        reference::matmul(p.ta == CblasNoTrans ? a : a.transpose(0, 1), p.tb == CblasNoTrans ? b : b.transpose(0, 1)),
        {.rtol = 1e-4, .atol = 1e-4}));
  }
}

TEST(Matmul, Flops) {
  const Tensor a = zeros({2, 3, 4}), b = zeros({4, 5}), v = zeros({4});
  EXPECT_EQ(matmul_flops(a, b), 2.0 * 2 * 3 * 5 * 4);
  EXPECT_EQ(matmul_flops(v, b), 2.0 * 5 * 4);
  EXPECT_EQ(matmul_flops(v, v), 2.0 * 4);
}

TEST(Matmul, ErrorsNameBothShapes) {
  auto error = [](const Shape& a, const Shape& b) {
    return error_of<std::invalid_argument>([&] { matmul(zeros(a), zeros(b)); });
  };
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "matmul: a [2, 3] and b [4, 5] do not match (K: 3 vs 4)",
                      error({2, 3}, {4, 5}));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "matmul: a [3] and b [4] do not match (K: 3 vs 4)", error({3}, {4}));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring,
                      "matmul: a [2, 3, 4] and b [3, 4, 5] do not broadcast (batch dim 0: 2 vs 3)",
                      error({2, 3, 4}, {3, 4, 5}));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "matmul: a [] and b [3] must both have at least 1 dim", error({}, {3}));
  const Tensor f32 = zeros({2, 3}), f64 = zeros({3, 2}, {.dtype = kFloat64});
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "matmul", error_of<std::invalid_argument>([&] { matmul(f32, f64); }));
}

}  // namespace
}  // namespace scorch
