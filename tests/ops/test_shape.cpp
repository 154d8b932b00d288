// Shape ops: views share storage (no copy) when strides allow, copies otherwise; each checked against
// the naive index reference, with gradcheck + gradgradcheck in float64. Values are moved, never
// computed, so forward comparisons are exact.
#include <gmock/gmock.h>

#include "reference/shape_reference.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::error_of;
using ::testing::HasSubstr;
using testing::Layout;
using testing::make_input;

const Layout kLayouts[] = {Layout::contiguous, Layout::transposed, Layout::strided};

TEST(Shape, ReshapeKeepsRowMajorOrder) {
  for (Layout layout : kLayouts) {
    const Tensor a = make_input({2, 3, 4}, kFloat32, 1, layout);
    for (const Shape& s : {Shape{24}, Shape{4, 6}, Shape{-1, 2}, Shape{2, 1, 12}, Shape{3, -1, 4}}) {
      const Tensor r = reshape(a, s);
      EXPECT_EQ(r.values(), a.values()) << s << " " << testing::layout_name(layout);
      EXPECT_EQ(r.numel(), 24);
    }
  }
}

TEST(Shape, ReshapeIsAViewWhenStridesAllow) {
  const Tensor a = make_input({2, 3, 4}, kFloat32, 1);
  EXPECT_EQ(reshape(a, {6, 4}).storage(), a.storage());
  const Tensor t = a.transpose(1, 2);  // [2, 4, 3], only dim 0 can merge with nothing else
  EXPECT_EQ(view(t, {2, 4, 3, 1}).storage(), a.storage());
  EXPECT_NE(reshape(t, {2, 12}).storage(), a.storage());
  EXPECT_THAT(error_of([&] { view(t, {2, 12}); }), HasSubstr("use reshape"));
  EXPECT_THAT(error_of([&] {
                reshape(a, {5, 5});
              }),
              HasSubstr("reshape: cannot reshape [2, 3, 4] (24 elements) to [5, 5]"));
}

TEST(Shape, PermuteAndTransposeMatchReference) {
  for (Layout layout : kLayouts) {
    const Tensor a = make_input({2, 3, 4}, kFloat64, 2, layout);
    EXPECT_TRUE(testing::all_close(permute(a, {2, 0, 1}), reference::permute(a, {2, 0, 1}), {.rtol = 0, .atol = 0}));
    EXPECT_TRUE(testing::all_close(transpose(a, 0, -1), reference::permute(a, {2, 1, 0}), {.rtol = 0, .atol = 0}));
    EXPECT_EQ(permute(a, {2, 0, 1}).storage(), a.storage());
  }
  EXPECT_THAT(error_of([] { permute(zeros({2, 3}), {0, 0}); }), HasSubstr("appears twice"));
  EXPECT_THAT(error_of([] { permute(zeros({2, 3}), {0, 2}); }), HasSubstr("out of range"));
}

TEST(Shape, SliceMatchesReferenceIncludingStepsAndNegativeBounds) {
  struct Case {
    int64_t dim, start, end, step;
    int d;
    int64_t s, e;
  };
  const Case cases[] = {{1, 1, 3, 1, 1, 1, 3},
                        {-1, 0, 4, 2, 2, 0, 4},
                        {0, -1, 2, 1, 0, 1, 2},
                        {2, 1, 100, 2, 2, 1, 4},
                        {1, 2, 1, 1, 1, 2, 2}};
  for (Layout layout : kLayouts)
    for (const Case& c : cases) {
      const Tensor a = make_input({2, 3, 4}, kFloat64, 3, layout);
      const Tensor s = slice(a, c.dim, c.start, c.end, c.step);
      EXPECT_TRUE(testing::all_close(s, reference::slice(a, c.d, c.s, c.e, c.step), {.rtol = 0, .atol = 0}))
          << c.dim << " " << c.start << ":" << c.end << ":" << c.step;
      EXPECT_EQ(s.storage(), a.storage());
    }
  EXPECT_THAT(error_of([] { narrow(zeros({4}), 0, 3, 2); }), HasSubstr("narrow: [3, 5) is outside dim 0"));
}

TEST(Shape, ExpandBroadcastsWithoutCopy) {
  const Tensor a = make_input({3, 1}, kFloat64, 4);
  const Tensor e = expand(a, {2, 3, 4});
  const std::vector<double> va = a.values(), ve = e.values();
  for (int i = 0; i < 24; ++i) EXPECT_EQ(ve[i], va[(i / 4) % 3]);
  EXPECT_EQ(e.strides()[0], 0);
  EXPECT_EQ(expand(a, {-1, 5}).shape(), (Shape{3, 5}));
  EXPECT_THAT(error_of([&] { expand(a, {2, 4}); }), HasSubstr("expand: cannot expand [3, 1] to [2, 4]"));
  EXPECT_THAT(error_of([&] { expand(a, {-1, 3, 1}); }), HasSubstr("expand: cannot expand [3, 1] to [-1, 3, 1]"));
}

TEST(Shape, SqueezeUnsqueezeFlatten) {
  const Tensor a = make_input({2, 1, 3}, kFloat32, 5);
  EXPECT_EQ(unsqueeze(a, 0).shape(), (Shape{1, 2, 1, 3}));
  EXPECT_EQ(unsqueeze(a, -1).shape(), (Shape{2, 1, 3, 1}));
  EXPECT_EQ(squeeze(a, 1).shape(), (Shape{2, 3}));
  EXPECT_EQ(squeeze(a, 0).shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(squeeze(a).shape(), (Shape{2, 3}));
  EXPECT_EQ(flatten(make_input({2, 3, 4, 5}, kFloat32, 6), 1, 2).shape(), (Shape{2, 12, 5}));
}

TEST(Shape, ContiguousCloneAndTo) {
  const Tensor t = make_input({3, 4}, kFloat32, 7, Layout::transposed);
  EXPECT_FALSE(t.is_contiguous());
  const Tensor c = contiguous(t);
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.values(), t.values());
  const Tensor already = contiguous(c);
  EXPECT_EQ(already.storage(), c.storage());
  EXPECT_NE(clone(c).storage(), c.storage());
  const Tensor d = t.to(kFloat64);
  EXPECT_EQ(d.dtype(), kFloat64);
  EXPECT_EQ(d.values(), t.values());
}

TEST(Shape, LargeTransposedCopiesMatchReference) {
  // Copies of views that are unit-stride along their second-to-last dim take the tiled loop
  // (tensor/cpu_loops.h) once both dims reach 16: partial tiles at both edges, and an outer dim.
  for (DType dtype : {kFloat32, kFloat64}) {
    const Tensor a = make_input({70, 45}, dtype, 13, Layout::transposed);
    EXPECT_EQ(contiguous(a).values(), make_input({70, 45}, dtype, 13).values());
    const Tensor b = make_input({3, 40, 50}, dtype, 14);
    EXPECT_TRUE(testing::all_close(contiguous(permute(b, {0, 2, 1})), reference::permute(b, {0, 2, 1}),
                                   {.rtol = 0, .atol = 0}));
    EXPECT_TRUE(testing::all_close(permute(b, {2, 1, 0}).contiguous(), reference::permute(b, {2, 1, 0}),
                                   {.rtol = 0, .atol = 0}));
  }
  const Tensor i = arange(0, 40 * 33, 1, {.dtype = kInt64}).reshape({40, 33});
  EXPECT_TRUE(
      testing::all_close(i.transpose(0, 1).contiguous(), reference::permute(i, {1, 0}), {.rtol = 0, .atol = 0}));
}

TEST(Shape, ConcatAndStackMatchReference) {
  for (Layout layout : kLayouts) {
    const Tensor a = make_input({2, 3}, kFloat64, 8, layout), b = make_input({2, 5}, kFloat64, 9, layout);
    EXPECT_TRUE(testing::all_close(concat({a, b}, 1), reference::concat({a, b}, 1), {.rtol = 0, .atol = 0}));
    EXPECT_TRUE(testing::all_close(concat({a, a}, 0), reference::concat({a, a}, 0), {.rtol = 0, .atol = 0}));
  }
  const Tensor a = make_input({2, 3}, kFloat64, 10), b = make_input({2, 3}, kFloat64, 11);
  const Tensor s = stack({a, b}, 1);
  EXPECT_EQ(s.shape(), (Shape{2, 2, 3}));
  EXPECT_TRUE(testing::all_close(s.slice(1, 1, 2).squeeze(1), b, {.rtol = 0, .atol = 0}));
  EXPECT_THAT(error_of([] { concat({scalar_tensor(1), scalar_tensor(2)}, 0); }), HasSubstr("use stack"));
  EXPECT_THAT(error_of([&] {
                concat({a, zeros({3, 3}, {.dtype = kFloat64})}, 1);
              }),
              HasSubstr("concat: tensor 1 [3, 3] does not match tensor 0 [2, 3] outside dim 1"));
}

TEST(Shape, Gradients) {
  using Fn = std::function<Tensor(const TensorList&)>;
  const std::vector<std::pair<const char*, Fn>> fns = {
      {"reshape",
       [](const TensorList& x) {
         return reshape(x[0], {4, 6});
       }},
      {"permute",
       [](const TensorList& x) {
         return permute(x[0], {2, 0, 1});
       }},
      {"transpose", [](const TensorList& x) { return transpose(x[0], 0, 2); }},
      {"slice", [](const TensorList& x) { return slice(x[0], 2, 1, 4, 2); }},
      {"narrow", [](const TensorList& x) { return narrow(x[0], 1, 1, 2); }},
      {"expand",
       [](const TensorList& x) {
         return expand(narrow(x[0], 1, 0, 1), {3, 2, 3, 4});
       }},
      {"unsqueeze", [](const TensorList& x) { return unsqueeze(x[0], 1); }},
      {"squeeze", [](const TensorList& x) { return squeeze(narrow(x[0], 1, 0, 1), 1); }},
      {"contiguous", [](const TensorList& x) { return contiguous(transpose(x[0], 0, 1)); }},
      {"clone", [](const TensorList& x) { return clone(x[0]); }},
      {"to", [](const TensorList& x) { return to(to(x[0], kFloat32), kFloat64) * x[0]; }},
      {"concat",
       [](const TensorList& x) {
         return concat({x[0], x[0] * x[0]}, 1);
       }},
      {"stack",
       [](const TensorList& x) {
         return stack({x[0], exp(x[0])}, 0);
       }},
      {"flatten", [](const TensorList& x) { return flatten(x[0]); }},
  };
  for (Layout layout : kLayouts)
    for (const auto& [name, f] : fns) {
      const Tensor a = make_input({2, 3, 4}, kFloat64, 12, layout, -1, 1, true);
      // `to` goes through float32 once: its numeric derivative is only good to ~1e-7 / eps.
      GradcheckOptions o{.name = name};
      if (std::string(name) == "to") o = {.eps = 1e-3, .atol = 1e-3, .rtol = 1e-3, .name = name};
      EXPECT_TRUE(testing::grads_ok(f, {a}, o)) << name << " " << testing::layout_name(layout);
    }
}

}  // namespace
}  // namespace scorch
