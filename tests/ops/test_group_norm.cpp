// test_group_norm.cpp: group_norm, group_norm_silu and instance_norm against the naive references of
// reference/group_norm_reference.h, gradcheck + gradgradcheck in float64 (gradcheck runs the fused
// backward kernel, gradgradcheck the composite one built under create_graph), fused vs composite
// gradients, and the error messages.
//
// Tolerance: float32 statistics accumulate in double, but (x - mean) * scale + shift runs in float32, a
// few ulp of values up to ~3 (rtol 1e-5, atol 1e-6; SiLU's exp_vec adds 2 ulp); float64 differs from the
// reference only by summation order (rtol 1e-12).
#include <cmath>
#include <functional>

#include "reference/group_norm_reference.h"
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

struct NormCase {
  Shape shape;
  int64_t groups;
  bool affine = true;
  Layout layout = Layout::contiguous;

  int64_t channels() const { return shape[1]; }
  // x uniform on [-1, 1); weight on [0.5, 1.5) and bias on [-0.5, 0.5), so that neither is trivial.
  TensorList make(DType dtype, uint64_t seed, bool requires_grad = false) const {
    TensorList in{make_input(shape, dtype, seed, layout, -1.0, 1.0, requires_grad)};
    if (affine) {
      in.push_back(make_input({channels()}, dtype, seed + 100, Layout::contiguous, 0.5, 1.5, requires_grad));
      in.push_back(make_input({channels()}, dtype, seed + 200, Layout::contiguous, -0.5, 0.5, requires_grad));
    }
    return in;
  }
  friend std::ostream& operator<<(std::ostream& os, const NormCase& c) {
    return os << c.shape << ", " << c.groups << " groups" << (c.affine ? ", affine, " : ", ")
              << testing::layout_name(c.layout);
  }
};

// Spatial dims 0, 1 and 2; 1 group, C groups and in between; views; a group of 1 element; empty.
const std::vector<NormCase> kForwardCases = {
    {{3, 6}, 3},
    {{2, 6, 5}, 2, false},
    {{3, 8, 4, 5}, 4},
    {{2, 8, 4, 5}, 8, true, Layout::transposed},
    {{2, 8, 3, 3}, 1, true, Layout::strided},
    {{1, 4, 17, 3}, 2, false},
    {{2, 4, 1, 1}, 2},
    {{8, 32, 14, 14}, 8},
    {{4, 64, 7, 7}, 8, false},
    {{0, 4, 3}, 2},
};
// Tiny shapes: gradgradcheck costs O(numel^2) evaluations.
const std::vector<NormCase> kGradCases = {
    {{2, 4}, 2},
    {{2, 4, 3}, 2},
    {{1, 6, 2, 2}, 3, false},
    {{2, 4, 2, 2}, 1, true, Layout::transposed},
};

Tolerance forward_tolerance(DType dtype) {
  return dtype == kFloat32 ? Tolerance{.rtol = 1e-5, .atol = 1e-6} : Tolerance{.rtol = 1e-12, .atol = 1e-12};
}

// group_norm (silu false) or group_norm_silu on the inputs of a case.
Tensor run(const NormCase& c, const TensorList& in, bool silu) {
  const Tensor w = c.affine ? in[1] : Tensor(), b = c.affine ? in[2] : Tensor();
  return silu ? group_norm_silu(in[0], c.groups, w, b) : group_norm(in[0], c.groups, w, b);
}

void expect_matches_reference(bool silu) {
  for (const auto& c : kForwardCases)
    for (DType dtype : {kFloat32, kFloat64}) {
      const TensorList in = c.make(dtype, /*seed=*/1);
      const Tensor w = c.affine ? in[1] : Tensor(), b = c.affine ? in[2] : Tensor();
      EXPECT_TRUE(all_close(run(c, in, silu), reference::group_norm(in[0], c.groups, w, b, 1e-5, silu),
                            forward_tolerance(dtype)))
          << c << ", " << dtype_name(dtype);
    }
}

void expect_grads_ok(bool silu) {
  for (const auto& c : kGradCases)
    EXPECT_TRUE(grads_ok([&](const TensorList& in) { return run(c, in, silu); }, c.make(kFloat64, 2, true))) << c;
}

TEST(GroupNorm, MatchesNaiveReference) { expect_matches_reference(false); }
TEST(GroupNormSilu, MatchesNaiveReference) { expect_matches_reference(true); }
TEST(GroupNorm, Gradients) { expect_grads_ok(false); }
TEST(GroupNormSilu, Gradients) { expect_grads_ok(true); }

TEST(InstanceNorm, MatchesNaiveReferenceAndGradients) {
  for (const Shape& shape : {Shape{2, 3, 4}, Shape{1, 2, 2, 3}, Shape{3, 5}}) {
    const Tensor x = make_input(shape, kFloat32, /*seed=*/3);
    const Tensor expected = reference::group_norm(x, shape[1], {}, {}, 1e-5);
    EXPECT_TRUE(all_close(instance_norm(x), expected, forward_tolerance(kFloat32))) << shape;
    const Tensor x64 = make_input(shape, kFloat64, /*seed=*/4, Layout::contiguous, -1, 1, /*requires_grad=*/true);
    EXPECT_TRUE(grads_ok([](const TensorList& in) { return instance_norm(in[0]); }, {x64})) << shape;
  }
}

TEST(GroupNormSilu, MatchesSiluOfGroupNorm) {
  const NormCase c{{4, 16, 6, 6}, 4};
  const TensorList in = c.make(kFloat32, /*seed=*/5, /*requires_grad=*/true);
  const Tensor fused = group_norm_silu(in[0], c.groups, in[1], in[2]);
  const Tensor plain = silu(group_norm(in[0], c.groups, in[1], in[2]));
  EXPECT_TRUE(all_close(fused, plain, {.rtol = 1e-5, .atol = 1e-6}));
  const Tensor v = make_input(c.shape, kFloat32, /*seed=*/6);
  const TensorList g_fused = grad({fused}, in, {v}), g_plain = grad({plain}, in, {v});
  for (size_t i = 0; i < in.size(); ++i)
    EXPECT_TRUE(all_close(g_fused[i], g_plain[i], {.rtol = 1e-4, .atol = 1e-5})) << "input " << i;
}

// The fused kernel (plain backward) and the composite path (create_graph) compute the same formulas:
// float64 agrees to rounding; float32 (fused, float32 element math) to ~1e-5 of the float64 result.
// gradgradcheck differentiates the composite gradient but never compares its values with the fused
// one that gradcheck verified: this does.
void expect_fused_matches_composite(const NormCase& c, bool silu) {
  const TensorList in = c.make(kFloat64, /*seed=*/7, /*requires_grad=*/true);
  const Tensor v = make_input(c.shape, kFloat64, /*seed=*/8);
  const TensorList fused = grad({run(c, in, silu)}, in, {v});
  const TensorList composite = grad({run(c, in, silu)}, in, {v}, {.create_graph = true});
  const TensorList in32 = c.make(kFloat32, /*seed=*/7, /*requires_grad=*/true);
  const TensorList fused32 = grad({run(c, in32, silu)}, in32, {v.to(kFloat32)});
  EXPECT_TRUE(composite[0].requires_grad()) << c << ": the composite gradient must be differentiable";
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_TRUE(all_close(fused[i], composite[i], {.rtol = 1e-10, .atol = 1e-12}))
        << c << ", silu " << silu << ", " << i;
    EXPECT_TRUE(all_close(fused32[i], composite[i], {.rtol = 1e-4, .atol = 1e-5}))
        << c << ", silu " << silu << ", " << i;
  }
}

TEST(GroupNorm, FusedAndCompositeBackwardAgree) {
  std::vector<NormCase> cases = kGradCases;
  cases.insert(cases.end(), {{{4, 8, 5, 5}, 4}, {{3, 6, 7}, 2, false}, {{8, 32, 14, 14}, 8}});
  for (bool silu : {false, true})
    for (const NormCase& c : cases) expect_fused_matches_composite(c, silu);
}

// Each (n, group) is computed by one thread, start to end.
TEST(GroupNorm, SameResultForAnyThreadCount) {
  const int threads = num_threads();
  const NormCase c{{16, 32, 14, 14}, 8};
  const TensorList in = c.make(kFloat32, /*seed=*/9, /*requires_grad=*/true);
  std::vector<std::vector<double>> results;
  for (int n : {1, 2, 3}) {
    set_num_threads(n);
    const Tensor y = group_norm_silu(in[0], c.groups, in[1], in[2]);
    results.push_back(y.values());
    for (const Tensor& g : grad({y}, in, {ones_like(y)}))
      for (double v : g.values()) results.back().push_back(v);
  }
  set_num_threads(threads);
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(GroupNorm, ErrorsNameTheOpAndShapes) {
  const Tensor x = zeros({4, 30, 8, 8});
  EXPECT_PRED_FORMAT2(::testing::IsSubstring,
                      "group_norm: 30 channels of input [4, 30, 8, 8] are not divisible by 8 groups",
                      error_of<std::invalid_argument>([&] { group_norm(x, 8); }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "group_norm: weight [16] must be [30]",
                      error_of<std::invalid_argument>([&] { group_norm(x, 6, zeros({16})); }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "group_norm_silu: bias [30, 1] must be [30]",
                      error_of<std::invalid_argument>([&] {
                        group_norm_silu(x, 6, zeros({30}), zeros({30, 1}));
                      }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "group_norm: groups must be positive, got 0",
                      error_of<std::invalid_argument>([&] { group_norm(x, 0); }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "group_norm: eps must be >= 0, got -0.001",
                      error_of<std::invalid_argument>([&] { group_norm(x, 6, {}, {}, -1e-3); }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "group_norm_silu: eps must be >= 0, got nan",
                      error_of<std::invalid_argument>([&] { group_norm_silu(x, 6, {}, {}, std::nan("")); }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "group_norm: input [5] must be at least [N, C]",
                      error_of<std::invalid_argument>([&] { group_norm(zeros({5}), 1); }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "instance_norm: input [5] must be at least [N, C]",
                      error_of<std::invalid_argument>([&] { instance_norm(zeros({5})); }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "group_norm: expected a float32 or float64 tensor, got int64",
                      error_of<std::invalid_argument>([&] {
                        group_norm(zeros({2, 4}, {.dtype = kInt64}), 2);
                      }));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "group_norm: inputs must have the same dtype",
                      error_of<std::invalid_argument>([&] { group_norm(x, 6, zeros({30}, {.dtype = kFloat64})); }));
}

}  // namespace
}  // namespace scorch
