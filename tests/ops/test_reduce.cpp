// test_reduce.cpp: sum, mean, max and sum_to against the naive references of
// reference/reduce_reference.h, gradcheck + gradgradcheck in float64, and the error messages.
//
// Tolerance: float32 sums accumulate in double and are rounded once, so a result is within an ulp of
// the double reference (rtol 1e-6; atol 1e-9 for sums that cancel to about 0); float64 results differ
// from the reference only by summation order (rtol 1e-12).
#include <algorithm>
#include <functional>

#include "reference/reduce_reference.h"
#include "tensor/parallel.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::all_close;
using testing::error_of;
using testing::grads_ok;
using testing::Layout;
using testing::make_input;
using testing::Tolerance;

using ReduceFn = std::function<Tensor(const Tensor&, const std::vector<int64_t>&, bool)>;

struct ReduceCase {
  Shape shape;
  std::vector<int64_t> dims;  // empty: every dim
  bool keepdim = false;
  Layout layout = Layout::contiguous;

  Tensor make(DType dtype, uint64_t seed, bool requires_grad = false) const {
    return make_input(shape, dtype, seed, layout, -1.0, 1.0, requires_grad);
  }
  bool folds_nothing() const {  // some reduced dim has size 0
    const std::vector<bool> r = reference::reduced_dims(shape, dims);
    for (int d = 0; d < shape.size(); ++d)
      if (r[d] && shape[d] == 0) return true;
    return false;
  }
  friend std::ostream& operator<<(std::ostream& os, const ReduceCase& c) {
    os << c.shape << " over dims [";
    for (size_t i = 0; i < c.dims.size(); ++i) os << (i ? ", " : "") << c.dims[i];
    return os << "]" << (c.keepdim ? " keepdim" : "") << ", " << testing::layout_name(c.layout);
  }
};

const std::vector<ReduceCase> kReduceCases = {
    {{2, 3}, {1}},                               // the last dim: the rows order
    {{2, 3}, {0}, true},                         // the first dim: the columns order
    {{2, 3, 4}, {-1, 0}},                        // negative dims, two at once
    {{2, 3, 4}, {1}, true, Layout::transposed},  // a reduced dim that is innermost in memory
    {{3, 4}, {}},                                // everything
    {{3, 4}, {}, true, Layout::transposed},      // everything, read in memory order
    {{3, 4}, {0}, false, Layout::transposed},
    {{3, 4}, {1}, true, Layout::strided},
    {{4, 1, 3}, {1}},  // a size-1 dim
    {{5}, {-1}, true},
    {{}, {}},  // 0-d
    {{}, {0}, true},
    {{0, 3}, {0}},        // empty folds: sum 0, mean NaN, max throws
    {{0, 3}, {1}, true},  // empty output
};

// Forward only: big enough for the threaded paths (outputs split, reduced range split in chunks).
const std::vector<ReduceCase> kLargeCases = {
    {{512, 128}, {1}},
    {{512, 128}, {0}},
    {{300000}, {}},
    {{150000, 3}, {0}},
    {{3, 150000}, {1}},
    {{256, 300}, {0}, false, Layout::transposed},
    {{64, 40, 30}, {0, 2}, true},
    {{200, 300}, {}, false, Layout::strided},
};

Tolerance forward_tolerance(DType dtype) {
  return dtype == kFloat32 ? Tolerance{.rtol = 1e-6, .atol = 1e-9} : Tolerance{.rtol = 1e-12, .atol = 1e-12};
}

// Inputs for max: a shuffled ramp, so all values are distinct and at least 2/numel apart, far more
// than gradcheck's eps (1e-6): no ties, so no kinks within the finite differences.
Tensor distinct_input(const ReduceCase& c, DType dtype, uint64_t seed, bool requires_grad = false) {
  Tensor t = c.make(dtype, seed);  // for the layout
  std::vector<double> v(t.numel());
  const double n = static_cast<double>(v.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = -1.0 + 2.0 * (static_cast<double>(i) + 0.5) / n;
  std::shuffle(v.begin(), v.end(), std::mt19937_64(seed));
  t.copy_(from_vector(v, c.shape, {.dtype = dtype}));
  return requires_grad ? t.detach().requires_grad_() : t;
}

void expect_matches_reference(const ReduceFn& op, const ReduceFn& reference, const std::vector<ReduceCase>& cases) {
  for (const auto& c : cases) {
    for (DType dtype : {kFloat32, kFloat64}) {
      const Tensor a = distinct_input(c, dtype, /*seed=*/1);
      EXPECT_TRUE(all_close(op(a, c.dims, c.keepdim), reference(a, c.dims, c.keepdim), forward_tolerance(dtype)))
          << c << ", " << dtype_name(dtype);
    }
  }
}

void expect_grads_ok(const ReduceFn& op, const std::vector<ReduceCase>& cases) {
  for (const auto& c : cases) {
    const Tensor a = distinct_input(c, kFloat64, /*seed=*/2, /*requires_grad=*/true);
    EXPECT_TRUE(grads_ok([&](const TensorList& in) { return op(in[0], c.dims, c.keepdim); }, {a})) << c;
  }
}

std::vector<ReduceCase> without_empty_folds(std::vector<ReduceCase> cases) {
  std::erase_if(cases, [](const ReduceCase& c) { return c.folds_nothing(); });
  return cases;
}

TEST(Sum, MatchesNaiveReference) { expect_matches_reference(scorch::sum, reference::sum, kReduceCases); }
TEST(Sum, LargeInputsMatchNaiveReference) { expect_matches_reference(scorch::sum, reference::sum, kLargeCases); }
TEST(Sum, Gradients) { expect_grads_ok(scorch::sum, kReduceCases); }
TEST(Mean, MatchesNaiveReference) { expect_matches_reference(scorch::mean, reference::mean, kReduceCases); }
TEST(Mean, LargeInputsMatchNaiveReference) { expect_matches_reference(scorch::mean, reference::mean, kLargeCases); }
TEST(Mean, Gradients) { expect_grads_ok(scorch::mean, kReduceCases); }
TEST(Max, MatchesNaiveReference) {
  expect_matches_reference(scorch::max, reference::max, without_empty_folds(kReduceCases));
}
TEST(Max, LargeInputsMatchNaiveReference) { expect_matches_reference(scorch::max, reference::max, kLargeCases); }
TEST(Max, Gradients) { expect_grads_ok(scorch::max, without_empty_folds(kReduceCases)); }

TEST(Sum, ExpandedInputMatchesNaiveReference) {  // stride 0 along the reduced dim, then along the kept one
  const Tensor row = make_input({1, 5}, kFloat32, /*seed=*/8), col = make_input({5, 1}, kFloat32, /*seed=*/9);
  for (const Tensor& a : {expand(row, {4, 5}), expand(col, {5, 4})})
    for (int64_t dim : {0, 1})
      EXPECT_TRUE(all_close(scorch::sum(a, {dim}), reference::sum(a, {dim}, false), forward_tolerance(kFloat32)))
          << a.shape() << " strides " << a.strides() << " over dim " << dim;
}

TEST(Max, TiesShareTheGradient) {
  const Tensor a = from_vector({1, 3, 3, 2, 0, 2}, {2, 3}, {.dtype = kFloat64, .requires_grad = true});
  scorch::sum(scorch::max(a, {1})).backward();
  EXPECT_EQ(a.grad().values(), (std::vector<double>{0, 0.5, 0.5, 0.5, 0, 0.5}));
}

// Threads split the outputs, or the reduced range in fixed chunks: never the work of one output by thread.
TEST(Sum, SameResultForAnyThreadCount) {
  const int threads = num_threads();
  for (const auto& c : kLargeCases) {
    const Tensor a = c.make(kFloat64, /*seed=*/3);
    std::vector<std::vector<double>> results;
    for (int n : {1, 2, 3}) {
      set_num_threads(n);
      results.push_back(scorch::sum(a, c.dims, c.keepdim).values());
    }
    EXPECT_EQ(results[0], results[1]) << c;
    EXPECT_EQ(results[0], results[2]) << c;
  }
  set_num_threads(threads);
}

struct SumToCase {
  Shape from, to;
  Layout layout = Layout::contiguous;
  friend std::ostream& operator<<(std::ostream& os, const SumToCase& c) {
    return os << c.from << " to " << c.to << ", " << testing::layout_name(c.layout);
  }
};

const std::vector<SumToCase> kSumToCases = {
    {{2, 3}, {1, 3}}, {{2, 3}, {2, 1}},
    {{4, 2, 3}, {3}}, {{4, 2, 3}, {2, 1}},
    {{5}, {}},        {{2, 3}, {1, 1}, Layout::transposed},
    {{0, 3}, {3}},    {{2, 3, 4}, {3, 1}, Layout::strided},
};

TEST(SumTo, MatchesNaiveReference) {
  for (const auto& c : kSumToCases) {
    const Tensor a = make_input(c.from, kFloat32, /*seed=*/4, c.layout);
    EXPECT_TRUE(all_close(sum_to(a, c.to), reference::sum_to(a, c.to), forward_tolerance(kFloat32))) << c;
  }
}

TEST(SumTo, Gradients) {
  for (const auto& c : kSumToCases) {
    const Tensor a = make_input(c.from, kFloat64, /*seed=*/5, c.layout, -1.0, 1.0, /*requires_grad=*/true);
    EXPECT_TRUE(grads_ok([&](const TensorList& in) { return sum_to(in[0], c.to); }, {a})) << c;
  }
}

TEST(SumTo, ReturnsTheInputWhenShapesAreEqual) {
  const Tensor a = make_input({2, 3}, kFloat32, /*seed=*/6);
  EXPECT_EQ(sum_to(a, {2, 3}).impl(), a.impl());
}

TEST(Reduce, ErrorsNameTheOpAndShapes) {
  const Tensor a = make_input({2, 3}, kFloat32, /*seed=*/7);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "sum: dim 2 is out of range",
                      error_of<std::out_of_range>([&] { scorch::sum(a, {2}); }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "mean: dim -3 is out of range",
                      error_of<std::out_of_range>([&] { scorch::mean(a, {-3}); }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "sum: dim -1 appears twice in dims [1, -1]",
                      error_of<std::invalid_argument>([&] {
                        scorch::sum(a, {1, -1});
                      }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "max: cannot reduce over dim 0 of size 0 of [0, 3]",
                      error_of<std::invalid_argument>([&] {
                        scorch::max(zeros({0, 3}), {0});
                      }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "sum_to: cannot sum [2, 3] down to [4]",
                      error_of<std::invalid_argument>([&] { sum_to(a, {4}); }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "sum_to: cannot sum [2, 3] down to [1, 2, 3]",
                      error_of<std::invalid_argument>([&] {
                        sum_to(a, {1, 2, 3});
                      }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "sum: expected a float32 or float64 tensor, got int64",
                      error_of<std::invalid_argument>([&] { scorch::sum(zeros({2}, {.dtype = kInt64})); }));
}

}  // namespace
}  // namespace scorch
