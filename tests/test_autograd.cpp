// Autograd semantics: accumulation, no_grad, detach, graph freeing, grad() with create_graph,
// and the error paths. Values are checked against hand-derived derivatives.
#include <gmock/gmock.h>

#include "test_util.h"

namespace scorch {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

Tensor leaf(std::vector<double> v, Shape shape = {}) {
  if (shape.empty() && v.size() != 1) shape = Shape{static_cast<int64_t>(v.size())};
  return from_vector(v, shape, {.dtype = kFloat64, .requires_grad = true});
}

TEST(Autograd, ChainRuleOnScalar) {
  Tensor x = leaf({3.0});
  Tensor y = x * x * x + 2.0 * x;  // dy/dx = 3x^2 + 2 = 29
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 29.0);
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = leaf({1.0, 2.0});
  sum(x * x).backward();    // 2x
  sum(x * 3.0).backward();  // + 3
  EXPECT_EQ(x.grad().values(), (std::vector<double>{5.0, 7.0}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, SharedInputAccumulatesWithinOneBackward) {
  Tensor x = leaf({2.0});
  Tensor a = x * 3.0, b = x * x;
  (a + b).backward();  // 3 + 2x
  EXPECT_DOUBLE_EQ(x.grad().item(), 7.0);
}

TEST(Autograd, LeafGradDoesNotAliasAnotherGrad) {
  Tensor x = leaf({1.0, 2.0}), y = leaf({3.0, 4.0});
  sum(x + y).backward();  // add's backward hands the same tensor to both inputs
  EXPECT_NE(x.grad().storage(), y.grad().storage());
}

TEST(Autograd, LeafGradsStayDistinctUnderCreateGraph) {
  // With create_graph the grads are graph tensors; they still must not share memory with each other
  // or with grad_outputs (clip_grad_norm scales grads in place).
  Tensor x = leaf({1.0, 2.0}), y = leaf({3.0, 4.0});
  const Tensor v = from_vector({0.5, 0.25}, {.dtype = kFloat64});
  (x + y).backward(v, /*retain_graph=*/false, /*create_graph=*/true);
  EXPECT_NE(x.grad().storage(), y.grad().storage());
  EXPECT_NE(x.grad().storage(), v.storage());
  EXPECT_EQ(x.grad().values(), v.values());
}

TEST(Autograd, SecondDerivativeOfPowOneIsZeroAtZero) {
  Tensor x = leaf({0.0});
  Tensor g = grad({pow(x, 1)}, {x}, {}, {.create_graph = true})[0];
  EXPECT_EQ(grad({g}, {x}, {}, {.allow_unused = true})[0].item(), 0.0);
}

TEST(Autograd, NoGradRecordsNothing) {
  Tensor x = leaf({1.0});
  Tensor y;
  {
    NoGradGuard guard;
    y = x * 2.0;
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_FALSE(y.grad_fn());
  EXPECT_TRUE(GradMode::is_enabled());
}

TEST(Autograd, DetachCutsTheGraphAndSharesData) {
  Tensor x = leaf({2.0});
  Tensor d = (x * x).detach();
  EXPECT_FALSE(d.requires_grad());
  Tensor y = x * d;  // d is a constant 4
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 4.0);
  Tensor e = x.detach();
  EXPECT_EQ(e.storage(), x.storage());
}

TEST(Autograd, SecondBackwardThroughFreedGraphThrows) {
  Tensor x = leaf({2.0});
  Tensor y = exp(x * x);
  y.backward();
  EXPECT_THAT(error_of([&] { y.backward(); }), HasSubstr("second time"));
}

TEST(Autograd, RetainGraphAllowsSecondBackward) {
  Tensor x = leaf({2.0});
  Tensor y = x * x;
  y.backward({}, /*retain_graph=*/true);
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 8.0);
}

TEST(Autograd, GradOfGradGivesSecondDerivative) {
  Tensor x = leaf({0.5});
  Tensor y = exp(x * x);  // y' = 2x e^{x^2}, y'' = (2 + 4x^2) e^{x^2}
  Tensor dy = grad({y}, {x}, {}, {.create_graph = true})[0];
  EXPECT_NEAR(dy.item(), 2 * 0.5 * std::exp(0.25), 1e-12);
  Tensor d2y = grad({dy}, {x})[0];
  EXPECT_NEAR(d2y.item(), (2 + 4 * 0.25) * std::exp(0.25), 1e-12);
  EXPECT_FALSE(x.grad().defined()) << "grad() must not touch .grad()";
}

TEST(Autograd, HessianVectorProduct) {
  // f(x) = sum(x^3) has Hessian diag(6x); H v = 6 x v.
  Tensor x = leaf({1.0, -2.0, 0.5});
  Tensor v = from_vector({1.0, 2.0, 3.0}, {.dtype = kFloat64});
  Tensor g = grad({sum(pow(x, 3))}, {x}, {}, {.create_graph = true})[0];
  Tensor hv = grad({sum(g * v)}, {x})[0];
  EXPECT_EQ(hv.values(), (std::vector<double>{6.0, -24.0, 9.0}));
}

TEST(Autograd, GradWithRespectToIntermediate) {
  Tensor x = leaf({3.0});
  Tensor h = x * x;
  Tensor y = h * 2.0 + h;
  EXPECT_DOUBLE_EQ(grad({y}, {h})[0].item(), 3.0);
}

TEST(Autograd, UnusedInputGivesUndefinedOrThrows) {
  Tensor x = leaf({1.0}), unused = leaf({1.0});
  Tensor y = x * 2.0;
  EXPECT_FALSE(grad({y}, {unused}, {}, {.retain_graph = true})[0].defined());
  EXPECT_THAT(error_of([&] { grad({y}, {unused}, {}, {.allow_unused = false}); }), HasSubstr("not used"));
}

TEST(Autograd, NonScalarBackwardNeedsGradOutput) {
  Tensor x = leaf({1.0, 2.0});
  Tensor y = x * 2.0;
  EXPECT_THAT(error_of([&] { y.backward(); }), HasSubstr("one-element"));
  y.backward(from_vector({1.0, 10.0}, {.dtype = kFloat64}));
  EXPECT_EQ(x.grad().values(), (std::vector<double>{2.0, 20.0}));
}

TEST(Autograd, BackwardOnTensorWithoutGraphThrows) {
  Tensor c = from_vector({1.0});
  EXPECT_THAT(error_of([&] { c.backward(); }), HasSubstr("does not require grad"));
}

TEST(Autograd, InPlaceOnLeafRequiringGradThrowsOutsideNoGrad) {
  Tensor x = leaf({1.0});
  EXPECT_THAT(error_of([&] { x.fill_(0.0); }), HasSubstr("NoGradGuard"));
  NoGradGuard guard;
  x.fill_(5.0);
  EXPECT_DOUBLE_EQ(x.item(), 5.0);
}

TEST(Autograd, MismatchedDtypesNameOpAndShapes) {
  Tensor a = zeros({2, 3}), b = zeros({3}, {.dtype = kFloat64});
  EXPECT_THAT(error_of([&] { mul(a, b); }),
              HasSubstr("mul: inputs must have the same dtype, got a [2, 3] float32 cpu, b [3] float64 cpu"));
}

TEST(Autograd, BroadcastMismatchNamesShapes) {
  EXPECT_THAT(error_of([&] {
                mul(zeros({2, 3}), zeros({4, 3}));
              }),
              HasSubstr("mul: cannot broadcast a [2, 3] with b [4, 3] (dim 0: 2 vs 4)"));
}

TEST(Autograd, VeryDeepGraphsDoNotOverflowTheStack) {
  // 500,000 chained ops (a recursive walk or teardown crashed from ~400,000 on an 8 MB stack):
  // grad(), backward() and freeing the graph must not recurse once per node.
  Tensor x = leaf({1.0});
  Tensor y = x;
  for (int i = 0; i < 500000; ++i) y = y * 1.0;
  EXPECT_DOUBLE_EQ(grad({y}, {x}, {}, {.retain_graph = true})[0].item(), 1.0);
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 1.0);
  Tensor z = x;
  for (int i = 0; i < 500000; ++i) z = z * 1.0;
  EXPECT_TRUE(z.requires_grad());
  z = Tensor();  // dropping an unused deep graph frees it without recursion
}

TEST(Autograd, DiamondGraphVisitsEachNodeOnce) {
  // y = (x*2 + x*3) * x at x = 2: dy/dx = 10x = 20; a wrong topological order would drop a branch.
  Tensor x = leaf({2.0});
  Tensor s = x * 2.0 + x * 3.0;
  Tensor y = s * x;
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 20.0);
}

}  // namespace
}  // namespace scorch
