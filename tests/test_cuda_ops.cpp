// CPU/CUDA parity of every op with a CUDA kernel so far (elementwise, reductions, matmul, linear),
// forward and backward (the elementwise ops and their accuracy classes from the one table of
// tests/ops/elementwise_cases.h), over broadcast, transposed, strided, 0-d and empty inputs; float64 gradcheck
// and gradgradcheck through the device for a representative set; a small MLP's gradients on both.
// Without a device every test here reports as skipped.
//
// float32 tolerances, and why:
//   exact arithmetic (add, sub, mul, div, neg, abs, square, relu, clamp, sign, where, comparisons):
//     rtol 1e-6: IEEE results on both sides, but nvcc contracts a * b + c into one FMA where GCC does
//     not (backward formulas), a last-bit difference;
//   transcendental (exp, log, sqrt, rsqrt, sin, cos, tanh, sigmoid, silu, softplus, elu, pow):
//     rtol 1e-5, atol 1e-6: each side's float exp/log/... is within 2 ulp (CPU: vec_math.h), so a few
//     ulp apart, more after the backward formulas compose them;
//   sum, mean: rtol 1e-6 (both accumulate in double; only the order of the double additions differs);
//   max: exact;
//   matmul, linear: rtol 1e-4, atol 1e-5 (summation order and FMA differ; TF32 off).
// float64: rtol 1e-12 everywhere but matmul (1e-10).
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/ops.h"
#include "cuda/device.h"
#include "cuda_test_util.h"
#include "ops/elementwise_cases.h"

namespace scorch {
namespace {

using testing::cuda_matches_cpu;
using testing::Layout;
using testing::make_input;
using testing::ParityTolerance;

ParityTolerance exact32 = {{1e-6, 1e-7}, {1e-6, 1e-7}};
ParityTolerance transcendental32 = {{1e-5, 1e-6}, {1e-5, 1e-6}};
ParityTolerance tight64 = {{1e-12, 1e-14}, {1e-12, 1e-14}};

struct BinaryCase {
  Shape a, b;
  Layout layout = Layout::contiguous;
};
std::ostream& operator<<(std::ostream& os, const BinaryCase& c) {
  return os << "a " << c.a << " b " << c.b << " " << testing::layout_name(c.layout);
}
const std::vector<BinaryCase> kBinaryCases = {{{2, 3}, {2, 3}},
                                              {{4, 1, 3}, {2, 1}},
                                              {{}, {5}},
                                              {{5}, {}},
                                              {{0, 3}, {1, 3}},
                                              {{3, 4}, {3, 4}, Layout::transposed},
                                              {{2, 3, 4}, {4}, Layout::strided},
                                              {{3, 1}, {1, 4}},
                                              {{64, 33}, {33}},
                                              {{300, 700}, {300, 1}, Layout::transposed}};

// float32 parity tolerance of an op of tests/ops/elementwise_cases.h; float64 is tight64 for all.
ParityTolerance tolerance(testing::Accuracy accuracy, DType dtype) {
  if (dtype == kFloat64) return tight64;
  return accuracy == testing::Accuracy::transcendental ? transcendental32 : exact32;
}

TEST(CudaElementwise, BinaryMatchesCpu) {
  SKIP_WITHOUT_DEVICE();
  for (const auto& op : testing::binary_cases())
    for (const auto& c : kBinaryCases)
      for (DType dtype : {kFloat32, kFloat64}) {
        const TensorList in = {make_input(c.a, dtype, 1, c.layout, -1, 1, true),
                               make_input(c.b, dtype, 2, c.layout, op.lo, op.hi, true)};
        EXPECT_TRUE(
            cuda_matches_cpu([&](const TensorList& x) { return op.op(x[0], x[1]); }, in, tolerance(op.accuracy, dtype)))
            << op.name << " " << c << " " << dtype_name(dtype);
      }
}

const std::vector<std::pair<Shape, Layout>> kUnaryCases = {
    {{}, Layout::contiguous},     {{0}, Layout::contiguous},    {{7}, Layout::contiguous},
    {{3, 5}, Layout::transposed}, {{2, 3, 4}, Layout::strided}, {{1000, 1001}, Layout::contiguous}};

TEST(CudaElementwise, UnaryMatchesCpu) {
  SKIP_WITHOUT_DEVICE();
  for (const auto& op : testing::unary_cases())
    for (const auto& [shape, layout] : kUnaryCases)
      for (DType dtype : {kFloat32, kFloat64}) {
        const TensorList in = {make_input(shape, dtype, 3, layout, op.lo, op.hi, true)};
        EXPECT_TRUE(
            cuda_matches_cpu([&](const TensorList& x) { return op.op(x[0]); }, in, tolerance(op.accuracy, dtype)))
            << op.name << " " << shape << " " << testing::layout_name(layout) << " " << dtype_name(dtype);
      }
}

// where and add_scaled (the fused Langevin update; nvcc's FMA: exact32's rtol), broadcast and transposed.
TEST(CudaElementwise, TernaryMatchesCpu) {
  SKIP_WITHOUT_DEVICE();
  for (const auto& op : testing::ternary_cases())
    for (DType dtype : {kFloat32, kFloat64}) {
      Tensor first = make_input({1000, 1, 2}, dtype, 30, Layout::contiguous, -1, 1, !op.first_is_condition);
      if (op.first_is_condition) first = gt(first, scalar_tensor(0, {.dtype = dtype}));
      const TensorList in = {first, make_input({3, 2}, dtype, 31, Layout::transposed, -1, 1, true),
                             make_input({2}, dtype, 32, Layout::contiguous, -1, 1, true)};
      EXPECT_TRUE(cuda_matches_cpu(op.op, in, tolerance(testing::Accuracy::exact, dtype)))
          << op.name << " " << dtype_name(dtype);
    }
}

TEST(CudaElementwise, ErrorsNameTheOp) {
  SKIP_WITHOUT_DEVICE();
  const Tensor i = zeros({3}, {.dtype = kInt64, .device = Device::cuda()});
  EXPECT_NE(testing::error_of([&] { exp(i); }).find("exp: expected a float32 or float64 tensor, got int64"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] {
              add(zeros({3}, {.device = Device::cuda()}), zeros({3}));
            }).find("add: inputs must have the same device"),
            std::string::npos);
}

// ---- Reductions ----

struct ReduceCase {
  Shape shape;
  std::vector<int64_t> dims;
  bool keepdim = false;
  Layout layout = Layout::contiguous;
};
std::ostream& operator<<(std::ostream& os, const ReduceCase& c) {
  os << c.shape << " dims [";
  for (int64_t d : c.dims) os << d << ' ';
  return os << "] keepdim " << c.keepdim << " " << testing::layout_name(c.layout);
}
// Short folds (one thread per output), long ones (a block per output), few outputs with very long
// folds (split in chunks), columns, all-dims, 0-d and empty.
const std::vector<ReduceCase> kReduceCases = {{{}, {}},
                                              {{5}, {}},
                                              {{0, 3}, {0}},
                                              {{4, 0}, {1}, true},
                                              {{3, 4}, {1}},
                                              {{3, 4}, {0}, true, Layout::transposed},
                                              {{2, 3, 4}, {0, 2}, false, Layout::strided},
                                              {{128, 300}, {1}},
                                              {{300, 128}, {0}},
                                              {{64, 8, 7, 7}, {0, 2, 3}, true},
                                              {{3, 100000}, {1}},
                                              {{200000}, {}},
                                              {{1000, 3}, {0}, false, Layout::transposed}};

void expect_reduce_parity(Tensor (*op)(const Tensor&, const std::vector<int64_t>&, bool), ParityTolerance tol32,
                          bool skip_empty) {
  for (const auto& c : kReduceCases)
    for (DType dtype : {kFloat32, kFloat64}) {
      if (skip_empty && c.shape.numel() == 0) continue;
      const TensorList in = {make_input(c.shape, dtype, 7, c.layout, -1, 1, true)};
      EXPECT_TRUE(cuda_matches_cpu([&](const TensorList& x) { return op(x[0], c.dims, c.keepdim); }, in,
                                   dtype == kFloat64 ? tight64 : tol32))
          << c << " " << dtype_name(dtype);
    }
}

TEST(CudaReduce, SumMatchesCpu) {
  SKIP_WITHOUT_DEVICE();
  expect_reduce_parity(scorch::sum, {{1e-6, 1e-7}, {1e-6, 1e-7}}, false);
}
TEST(CudaReduce, MeanMatchesCpu) {
  SKIP_WITHOUT_DEVICE();
  expect_reduce_parity(scorch::mean, {{1e-6, 1e-7}, {1e-6, 1e-7}}, false);
}
TEST(CudaReduce, MaxMatchesCpu) {  // distinct random inputs: no ties
  SKIP_WITHOUT_DEVICE();
  expect_reduce_parity(scorch::max, {{0, 0}, {0, 0}}, true);
}

TEST(CudaReduce, SumToOfBroadcastGradients) {
  SKIP_WITHOUT_DEVICE();
  for (DType dtype : {kFloat32, kFloat64}) {
    const TensorList in = {make_input({64, 32, 14, 14}, dtype, 8, Layout::contiguous, -1, 1, true)};
    EXPECT_TRUE(cuda_matches_cpu(
        [](const TensorList& x) {
          return sum_to(x[0], {32, 1, 1});
        },
        in, dtype == kFloat64 ? tight64 : ParityTolerance{{1e-6, 1e-7}, {0, 0}}));
  }
}

TEST(CudaReduce, EmptyFoldsAndNan) {
  SKIP_WITHOUT_DEVICE();
  const Tensor e = zeros({0, 3}, {.device = Device::cuda()});
  EXPECT_EQ(sum(e, {0}).values(), (std::vector<double>{0, 0, 0}));
  EXPECT_TRUE(std::isnan(mean(e, {0}).values()[0]));
  const Tensor x = from_vector({1, NAN, 3}, {.device = Device::cuda()});
  EXPECT_TRUE(std::isnan(max(x).item()));
}

// ---- Matmul and linear ----

struct MatmulCase {
  Shape a, b;
  Layout layout = Layout::contiguous;
};
std::ostream& operator<<(std::ostream& os, const MatmulCase& c) {
  return os << "a " << c.a << " b " << c.b << " " << testing::layout_name(c.layout);
}
const std::vector<MatmulCase> kMatmulCases = {{{3, 4}, {4, 5}},
                                              {{4}, {4}},
                                              {{4}, {4, 3}},
                                              {{2, 4}, {4}},
                                              {{1, 4}, {4, 1}},
                                              {{3, 0}, {0, 5}},
                                              {{0, 4}, {4, 5}},
                                              {{5, 4}, {4, 3}, Layout::transposed},
                                              {{5, 4}, {4, 6}, Layout::strided},
                                              {{2, 3, 4}, {4, 5}},
                                              {{2, 3, 4}, {2, 4, 5}},
                                              {{2, 1, 3, 4}, {5, 4, 6}},
                                              {{3, 2, 3, 4}, {1, 4, 6}, Layout::transposed},
                                              {{7, 1, 4}, {1, 4, 1}},
                                              {{65, 129}, {129, 33}},
                                              {{4, 96, 128}, {128, 64}, Layout::transposed}};

TEST(CudaMatmul, MatchesCpu) {
  SKIP_WITHOUT_DEVICE();
  for (const auto& c : kMatmulCases)
    for (DType dtype : {kFloat32, kFloat64}) {
      const TensorList in = {make_input(c.a, dtype, 9, c.layout, -1, 1, true),
                             make_input(c.b, dtype, 10, c.layout, -1, 1, true)};
      const ParityTolerance tol = dtype == kFloat64 ? ParityTolerance{{1e-10, 1e-12}, {1e-10, 1e-12}}
                                                    : ParityTolerance{{1e-4, 1e-5}, {1e-4, 1e-5}};
      EXPECT_TRUE(cuda_matches_cpu([](const TensorList& x) { return matmul(x[0], x[1]); }, in, tol))
          << c << " " << dtype_name(dtype);
    }
}

TEST(CudaMatmul, ExpandedOperandsAreCopiedFirst) {
  SKIP_WITHOUT_DEVICE();
  const Tensor a = make_input({1, 4}, kFloat32, 11).expand({3, 4});  // stride 0 rows: no BLAS layout
  const Tensor b = make_input({4, 5}, kFloat32, 12);
  EXPECT_TRUE(
      cuda_matches_cpu([](const TensorList& x) { return matmul(x[0], x[1]); }, {a, b}, {{1e-4, 1e-5}, {1e-4, 1e-5}}));
}

TEST(CudaLinear, MatchesCpu) {
  SKIP_WITHOUT_DEVICE();
  const std::vector<std::pair<Shape, int64_t>> cases = {
      {{5, 3}, 4}, {{2, 7, 16}, 8}, {{512, 128}, 128}, {{0, 4}, 3}, {{6, 0}, 2}};
  for (const auto& [x_shape, n] : cases)
    for (DType dtype : {kFloat32, kFloat64}) {
      const int64_t k = x_shape.back();
      const TensorList in = {make_input(x_shape, dtype, 13, Layout::contiguous, -1, 1, true),
                             make_input({n, k}, dtype, 14, Layout::contiguous, -1, 1, true),
                             make_input({n}, dtype, 15, Layout::contiguous, -1, 1, true)};
      const ParityTolerance tol = dtype == kFloat64 ? ParityTolerance{{1e-10, 1e-12}, {1e-10, 1e-12}}
                                                    : ParityTolerance{{1e-4, 1e-5}, {1e-4, 1e-5}};
      EXPECT_TRUE(cuda_matches_cpu([](const TensorList& x) { return linear(x[0], x[1], x[2]); }, in, tol))
          << x_shape << " n " << n << " " << dtype_name(dtype);
    }
}

TEST(CudaMatmul, Tf32IsOptIn) {
  SKIP_WITHOUT_DEVICE();
  const Tensor a = make_input({256, 256}, kFloat32, 16).cuda(), b = make_input({256, 256}, kFloat32, 17).cuda();
  const Tensor strict = matmul(a, b);
  cuda::set_allow_tf32(true);
  const Tensor tf32 = matmul(a, b);
  cuda::set_allow_tf32(false);
  // TF32 keeps 10 mantissa bits of each input: ~1e-3 relative per product, less after summing.
  EXPECT_TRUE(testing::all_close(tf32, strict, {.rtol = 2e-2, .atol = 2e-2}));
  EXPECT_TRUE(testing::all_close(matmul(a, b), strict, {.rtol = 0, .atol = 0})) << "TF32 off again: same bits";
}

// ---- Gradients computed on the device, checked in float64 ----

// f runs on cuda:0 (testing::on_device).
TEST(CudaGradcheck, RepresentativeOps) {
  SKIP_WITHOUT_DEVICE();
  const auto in = [](const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
    return make_input(s, kFloat64, seed, Layout::contiguous, lo, hi, true);
  };
  struct Check {
    const char* name;
    std::function<Tensor(const TensorList&)> f;
    TensorList inputs;
  };
  const std::vector<Check> checks = {
      {"mul broadcast", [](const TensorList& x) { return mul(x[0], x[1]); }, {in({2, 3}, 1), in({3}, 2)}},
      {"div", [](const TensorList& x) { return div(x[0], x[1]); }, {in({4}, 3), in({4}, 4, 0.5, 2)}},
      {"silu", [](const TensorList& x) { return silu(x[0]); }, {in({2, 3}, 5, -3, 3)}},
      {"exp", [](const TensorList& x) { return exp(x[0]); }, {in({5}, 6)}},
      {"log", [](const TensorList& x) { return log(x[0]); }, {in({5}, 7, 0.5, 2)}},
      {"tanh", [](const TensorList& x) { return tanh(x[0]); }, {in({5}, 8)}},
      {"sum dims",
       [](const TensorList& x) {
         return sum(x[0], {0, 2});
       },
       {in({2, 3, 4}, 9)}},
      {"mean keepdim", [](const TensorList& x) { return mean(x[0], {1}, true); }, {in({3, 4}, 10)}},
      {"max", [](const TensorList& x) { return max(x[0], {1}); }, {in({3, 4}, 11)}},
      {"matmul batched", [](const TensorList& x) { return matmul(x[0], x[1]); }, {in({2, 3, 4}, 12), in({4, 2}, 13)}},
      {"linear",
       [](const TensorList& x) { return linear(x[0], x[1], x[2]); },
       {in({3, 4}, 14), in({2, 4}, 15), in({2}, 16)}},
  };
  for (const Check& c : checks)
    EXPECT_TRUE(testing::grads_ok(testing::on_device(c.f), c.inputs, {.name = c.name})) << c.name;
}

// ---- A small model ----

TEST(CudaModel, TwoLayerMlpGradientsMatchCpu) {
  SKIP_WITHOUT_DEVICE();
  const TensorList in = {make_input({256, 3}, kFloat32, 20),
                         make_input({128, 3}, kFloat32, 21, Layout::contiguous, -0.5, 0.5, true),
                         make_input({128}, kFloat32, 22, Layout::contiguous, -0.5, 0.5, true),
                         make_input({2, 128}, kFloat32, 23, Layout::contiguous, -0.1, 0.1, true),
                         make_input({2}, kFloat32, 24, Layout::contiguous, -0.1, 0.1, true),
                         make_input({256, 2}, kFloat32, 25)};
  const auto loss = [](const TensorList& x) {
    const Tensor h = silu(linear(x[0], x[1], x[2]));
    return mean(square(linear(h, x[3], x[4]) - x[5]));
  };
  EXPECT_TRUE(cuda_matches_cpu(loss, in, {{1e-5, 1e-6}, {1e-4, 1e-6}}));
}

}  // namespace
}  // namespace scorch
