// Pointwise ops, every one of the table in elementwise_cases.h: forward vs the naive reference over
// equal, broadcast, scalar, empty, transposed and strided inputs; gradcheck + gradgradcheck in float64
// for every differentiable op.
// Tolerance: float32 forward rtol 1e-5 (libm float vs double results differ by a few ulp);
// float64 forward rtol 1e-12.
#include <cmath>
#include <set>
#include <string>

#include "ops/elementwise_cases.h"
#include "reference/elementwise_reference.h"
#include "tensor/elementwise_fns.h"
#include "tensor/parallel.h"
#include "tensor/vec_math.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::Layout;
using testing::make_input;

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
                                              {{3, 1}, {1, 4}}};

TEST(Elementwise, BinaryMatchesNaiveReference) {
  for (const auto& op : testing::binary_cases())
    for (const auto& c : kBinaryCases)
      for (DType dtype : {kFloat32, kFloat64}) {
        const Tensor a = make_input(c.a, dtype, 1, c.layout), b = make_input(c.b, dtype, 2, c.layout, op.lo, op.hi);
        const double rtol = dtype == kFloat32 ? 1e-5 : 1e-14;
        EXPECT_TRUE(testing::all_close(op.op(a, b), reference::binary(a, b, op.ref), {.rtol = rtol, .atol = 1e-7}))
            << op.name << " " << c << " " << dtype_name(dtype);
      }
}

TEST(Elementwise, BinaryGradients) {
  for (const auto& op : testing::binary_cases())
    for (const auto& c : kBinaryCases) {
      if (!op.differentiable) continue;
      const TensorList in = {make_input(c.a, kFloat64, 3, c.layout, -1, 1, true),
                             make_input(c.b, kFloat64, 4, c.layout, op.lo, op.hi, true)};
      EXPECT_TRUE(testing::grads_ok([&](const TensorList& x) { return op.op(x[0], x[1]); }, in, {.name = op.name}))
          << op.name << " " << c;
    }
}

TEST(Elementwise, ComparisonsGiveZeroOrOneAndNoGraph) {
  const Tensor a = from_vector({1, 2, 3, 4}), b = from_vector({2, 2, 2, 2});
  EXPECT_EQ(eq(a, b).values(), (std::vector<double>{0, 1, 0, 0}));
  EXPECT_EQ(ne(a, b).values(), (std::vector<double>{1, 0, 1, 1}));
  EXPECT_EQ(lt(a, b).values(), (std::vector<double>{1, 0, 0, 0}));
  EXPECT_EQ(le(a, b).values(), (std::vector<double>{1, 1, 0, 0}));
  EXPECT_EQ(gt(a, b).values(), (std::vector<double>{0, 0, 1, 1}));
  EXPECT_EQ(ge(a, b).values(), (std::vector<double>{0, 1, 1, 1}));
  const Tensor x = from_vector({1, 2}, {.dtype = kFloat64, .requires_grad = true});
  EXPECT_FALSE(gt(x, x).requires_grad());
}

// Draws that keep every input at least 0.05 away from 0 and from clamp's bounds, so that finite
// differences never straddle a kink of abs, relu, elu or clamp.
Tensor kink_free(const Shape& shape, uint64_t seed, double lo, double hi, Layout layout, bool grad) {
  Tensor t = make_input(shape, kFloat64, seed, layout, lo, hi);
  std::vector<double> v = t.values();
  for (double& x : v)
    for (double kink : {0.0, -0.5, 0.8})
      if (std::abs(x - kink) < 0.05) x = kink + (x < kink ? -0.05 : 0.05);
  Tensor out = make_input(shape, kFloat64, seed, layout);
  out.copy_(from_vector(v, shape, {.dtype = kFloat64}));
  if (grad) out.requires_grad_();
  return out;
}

const std::vector<std::pair<Shape, Layout>> kUnaryCases = {{{2, 3}, Layout::contiguous},
                                                           {{}, Layout::contiguous},
                                                           {{0, 4}, Layout::contiguous},
                                                           {{3, 5}, Layout::transposed},
                                                           {{2, 4}, Layout::strided}};

TEST(Elementwise, UnaryMatchesNaiveReference) {
  for (const auto& op : testing::unary_cases())
    for (const auto& [shape, layout] : kUnaryCases)
      for (DType dtype : {kFloat32, kFloat64}) {
        const Tensor a = kink_free(shape, 5, op.lo, op.hi, layout, false).to(dtype);
        const double rtol = dtype == kFloat32 ? 1e-5 : 1e-12;
        EXPECT_TRUE(testing::all_close(op.op(a), reference::unary(a, op.ref), {.rtol = rtol, .atol = 1e-7}))
            << op.name << " " << shape << " " << testing::layout_name(layout) << " " << dtype_name(dtype);
      }
}

TEST(Elementwise, UnaryGradients) {
  for (const auto& op : testing::unary_cases())
    for (const auto& [shape, layout] : kUnaryCases) {
      const Tensor a = kink_free(shape, 6, op.lo, op.hi, layout, true);
      EXPECT_TRUE(testing::grads_ok([&](const TensorList& x) { return op.op(x[0]); }, {a}, {.name = op.name}))
          << op.name << " " << shape << " " << testing::layout_name(layout);
    }
}

TEST(Elementwise, SoftplusIsStableForLargeInputs) {
  const Tensor x = from_vector({-200, -30, 0, 30, 200});
  const std::vector<double> y = softplus(x).values();
  EXPECT_NEAR(y[0], 0.0, 1e-30);
  EXPECT_NEAR(y[1], std::exp(-30.0), 1e-18);
  EXPECT_NEAR(y[2], std::log(2.0), 1e-7);
  EXPECT_NEAR(y[3], 30.0, 1e-5);
  EXPECT_NEAR(y[4], 200.0, 1e-4);
}

// Three inputs broadcast together ([4, 1, 5], [3, 5] transposed, [5]); where's first is a 0/1 mask.
TensorList ternary_inputs(const testing::TernaryCase& op, DType dtype, bool grad) {
  Tensor first = make_input({4, 1, 5}, dtype, 15, Layout::contiguous, -1, 1, grad && !op.first_is_condition);
  if (op.first_is_condition) first = gt(first, scalar_tensor(0, {.dtype = dtype}));
  return {first, make_input({3, 5}, dtype, 16, Layout::transposed, -1, 1, grad),
          make_input({5}, dtype, 17, Layout::contiguous, -1, 1, grad)};
}

TEST(Elementwise, TernaryMatchesNaiveReference) {
  for (const auto& op : testing::ternary_cases())
    for (DType dtype : {kFloat32, kFloat64}) {
      const TensorList x = ternary_inputs(op, dtype, false);
      const double rtol = dtype == kFloat32 ? 1e-6 : 1e-14;
      EXPECT_TRUE(
          testing::all_close(op.op(x), reference::ternary(x[0], x[1], x[2], op.ref), {.rtol = rtol, .atol = 1e-7}))
          << op.name << " " << dtype_name(dtype);
    }
}

TEST(Elementwise, TernaryGradients) {
  for (const auto& op : testing::ternary_cases())
    EXPECT_TRUE(testing::grads_ok(op.op, ternary_inputs(op, kFloat64, true), {.name = op.name})) << op.name;
}

// Every per-element struct of tensor/elementwise_fns.h is run by some entry of the case table, so an op
// added there without its cases fails here, by name.
TEST(ElementwiseCases, EveryElementwiseFnHasACase) {
  std::set<std::string> covered;
  for (const auto& c : testing::unary_cases()) covered.insert(c.fn);
  for (const auto& c : testing::binary_cases()) covered.insert(c.fn);
  for (const auto& c : testing::ternary_cases()) covered.insert(c.fn);
#define SCORCH_EXPECT_CASE(Fn) EXPECT_TRUE(covered.count(#Fn)) << #Fn " has no entry in tests/ops/elementwise_cases.h";
  SCORCH_UNARY_FNS(SCORCH_EXPECT_CASE)
  SCORCH_BINARY_FNS(SCORCH_EXPECT_CASE)
  SCORCH_TERNARY_FNS(SCORCH_EXPECT_CASE)
#undef SCORCH_EXPECT_CASE
  std::set<std::string> fns;  // and no entry names a struct that does not exist
#define SCORCH_NAME_FN(Fn) fns.insert(#Fn);
  SCORCH_UNARY_FNS(SCORCH_NAME_FN)
  SCORCH_BINARY_FNS(SCORCH_NAME_FN)
  SCORCH_TERNARY_FNS(SCORCH_NAME_FN)
#undef SCORCH_NAME_FN
  for (const std::string& fn : covered)
    EXPECT_TRUE(fns.count(fn)) << fn << " is not a struct of tensor/elementwise_fns.h";
}

TEST(Elementwise, WhereSelectsAndRoutesGradients) {
  const Tensor c = from_vector({1, 0, 1}, {.dtype = kFloat64});
  const Tensor a = make_input({2, 3}, kFloat64, 7), b = make_input({3}, kFloat64, 8);
  const std::vector<double> got = where(c, a, b).values(), va = a.values(), vb = b.values();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(got[i], i % 3 == 1 ? vb[i % 3] : va[i]) << i;
  const TensorList in = {c, make_input({2, 3}, kFloat64, 7, Layout::transposed, -1, 1, true),
                         make_input({3}, kFloat64, 8, Layout::contiguous, -1, 1, true)};
  EXPECT_TRUE(testing::grads_ok([](const TensorList& x) { return where(x[0], x[1], x[2]); }, in, {.name = "where"}));
}

// The fused Langevin update equals the three ops it replaces up to the last bit (the compiler may fuse
// x + a alpha into one FMA, which the separate ops cannot), broadcasts, and routes alpha g and beta g back.
TEST(Elementwise, AddScaledIsTheThreeOpsInOnePass) {
  const Tensor x = make_input({64, 2}, kFloat32, 9), s = make_input({64, 2}, kFloat32, 10),
               z = make_input({2}, kFloat32, 11);
  const double alpha = 0.0123, beta = std::sqrt(2 * alpha);
  EXPECT_TRUE(testing::all_close(add_scaled(x, s, alpha, z, beta), x + s * alpha + z * beta, {2e-7, 1e-7}));
  const TensorList in = {make_input({3, 4}, kFloat64, 12, Layout::transposed, -1, 1, true),
                         make_input({4}, kFloat64, 13, Layout::contiguous, -1, 1, true),
                         make_input({3, 1}, kFloat64, 14, Layout::contiguous, -1, 1, true)};
  EXPECT_TRUE(testing::grads_ok([](const TensorList& t) { return add_scaled(t[0], t[1], 0.7, t[2], -1.3); }, in,
                                {.name = "add_scaled"}));
}

TEST(Elementwise, ScalarOperatorsUseTheTensorDtype) {
  const Tensor x = from_vector({1, 2}, {.dtype = kFloat64});
  EXPECT_EQ((2.0 * x + 1.0).values(), (std::vector<double>{3, 5}));
  EXPECT_EQ((1.0 - x / 2.0).values(), (std::vector<double>{0.5, 0}));
  EXPECT_EQ((x * 3.0).dtype(), kFloat64);
}

TEST(Elementwise, LargeInputsUseThreadsAndMatchSerial) {
  // Above the parallel grain the loop is split over threads; the result must not change.
  const Tensor a = make_input({300, 1000}, kFloat32, 9, Layout::transposed), b = make_input({1000}, kFloat32, 10);
  const int threads = num_threads();
  const Tensor threaded = silu(a) * b;
  set_num_threads(1);
  const Tensor serial = silu(a) * b;
  set_num_threads(threads);
  EXPECT_EQ(threaded.values(), serial.values());
}

TEST(Elementwise, VectorisedExpIsWithinTwoUlpOverTheFloatRange) {
  // exp_vec<float> (tensor/vec_math.h) against double exp rounded to float, on a dense sweep.
  float worst = 0;
  for (float x = -87.0f; x < 88.5f; x += 0.0037f) {
    const float ref = static_cast<float>(std::exp(static_cast<double>(x)));
    const float ulp = std::nextafter(ref, INFINITY) - ref;
    worst = std::max(worst, std::abs(exp_vec(x) - ref) / ulp);
  }
  EXPECT_LE(worst, 2.0f);
  EXPECT_EQ(exp_vec(-100.0f), 0.0f);
  EXPECT_EQ(exp_vec(100.0f), INFINITY);
  EXPECT_EQ(exp_vec(0.0f), 1.0f);
}

TEST(Elementwise, VectorisedLog1pIsWithinFourUlpForNonNegativeInputs) {
  // log1p_vec<float> (tensor/vec_math.h) on t in [0, 1] (softplus's range) and far beyond, including
  // t so small that 1 + t rounds to 1 (where log(1 + t) alone would lose every digit).
  float worst = 0;
  for (float t = 0.0f; t < 4.0f; t += 0.00037f) {
    const float ref = static_cast<float>(std::log1p(static_cast<double>(t)));
    const float ulp = std::nextafter(ref, INFINITY) - ref;
    worst = std::max(worst, std::abs(log1p_vec(t) - ref) / ulp);
  }
  for (float t : {1e-30f, 1e-10f, 3e-8f, 1e-5f, 100.0f, 1e20f}) {
    const float ref = static_cast<float>(std::log1p(static_cast<double>(t)));
    worst = std::max(worst, std::abs(log1p_vec(t) - ref) / (std::nextafter(ref, INFINITY) - ref));
  }
  EXPECT_LE(worst, 4.0f);
}

TEST(Elementwise, VectorisedTanhIsWithinAFewUlpOverTheFloatRange) {
  // tanh_vec<float> (tensor/vec_math.h) against double tanh rounded to float: relative ulp, and
  // exact +-1 and x itself at the ends.
  float worst = 0;
  for (float x = -10.0f; x < 10.0f; x += 0.00071f) {
    const float ref = static_cast<float>(std::tanh(static_cast<double>(x)));
    const float ulp = std::abs(std::nextafter(ref, INFINITY) - ref);
    if (ref != 0.0f) worst = std::max(worst, std::abs(tanh_vec(x) - ref) / ulp);
  }
  EXPECT_LE(worst, 4.0f);
  for (float x : {1e-30f, 1e-6f, 3e-4f}) EXPECT_EQ(tanh_vec(x), x);
  EXPECT_EQ(tanh_vec(20.0f), 1.0f);
  EXPECT_EQ(tanh_vec(-1e30f), -1.0f);
  EXPECT_TRUE(std::isnan(tanh_vec(NAN)));
}

TEST(Elementwise, IntegerInputsAreRejectedWithTheOpName) {
  const Tensor i = zeros({2}, {.dtype = kInt64});
  try {
    exp(i);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("exp: expected a float32 or float64 tensor, got int64"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace scorch
