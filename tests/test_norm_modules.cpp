// nn/norm.h and nn::Embedding: GroupNorm's parameters and forward, ConditionalInstanceNorm2dPlus against
// the naive double reference of reference/group_norm_reference.h, its gradients in float64 (with respect
// to x and embed.weight), its init statistics and its errors.
#include <gmock/gmock.h>

#include "nn/norm.h"
#include "reference/group_norm_reference.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::all_close;
using testing::error_of;
using testing::grads_ok;
using ::testing::HasSubstr;
using testing::Layout;
using testing::make_input;

std::vector<std::string> names_of(const nn::Module& m) {
  std::vector<std::string> names;
  for (const auto& [name, t] : m.named_parameters()) names.push_back(name);
  return names;
}

TEST(GroupNormModule, StartsAsPlainGroupNorm) {
  nn::GroupNorm norm(8, 32);
  EXPECT_EQ(names_of(norm), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(norm.weight.values(), std::vector<double>(32, 1.0));
  EXPECT_EQ(norm.bias.values(), std::vector<double>(32, 0.0));
  const Tensor x = make_input({2, 32, 5, 5}, kFloat32, /*seed=*/1);
  const Tensor expected = reference::group_norm(x, 8, {}, {}, 1e-5);
  EXPECT_TRUE(all_close(norm(x), expected, {.rtol = 1e-5, .atol = 1e-6}));
  EXPECT_TRUE(all_close(norm.forward_silu(x), silu(expected), {.rtol = 1e-5, .atol = 1e-6}));
  EXPECT_THAT(error_of([] { nn::GroupNorm(8, 30); }),
              HasSubstr("GroupNorm: 30 channels are not divisible into 8 groups"));
  EXPECT_THAT(error_of([] { nn::GroupNorm(8, 32, -1e-5); }), HasSubstr("GroupNorm: eps must be >= 0, got -1e-05"));
}

TEST(Embedding, PicksRowsAndSumsTheirGradients) {
  Generator gen(2);
  nn::Embedding embed(4, 3, gen);
  const Tensor labels = from_vector({2, 0, 2}, {3}, {.dtype = kInt64});
  const Tensor y = embed(labels);
  const std::vector<double> w = embed.weight.values(), v = y.values();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(v[i * 3 + j], w[(i == 1 ? 0 : 2) * 3 + j]);
  sum(y).backward();
  EXPECT_EQ(embed.weight.grad().values(), (std::vector<double>{1, 1, 1, 0, 0, 0, 2, 2, 2, 0, 0, 0}));
  EXPECT_EQ(nn::one_hot(from_vector({1, 0}, {2, 1}, {.dtype = kInt64}), 2).shape(), (Shape{2, 1, 2}));
}

TEST(CondInstanceNormPlus, ParametersAndInit) {
  Generator gen(3);
  const int64_t C = 64, classes = 10;
  nn::ConditionalInstanceNorm2dPlus norm(C, classes, gen);
  EXPECT_EQ(names_of(norm), (std::vector<std::string>{"embed.weight"}));
  EXPECT_EQ(norm.embed->weight.shape(), (Shape{classes, 3 * C}));
  EXPECT_EQ(nn::ConditionalInstanceNorm2dPlus(C, classes, gen, /*bias=*/false).embed->weight.shape(),
            (Shape{classes, 2 * C}));
  // gamma and alpha columns N(1, 0.02): 1,280 draws, mean within ~5 standard errors; beta columns zero.
  const std::vector<double> w = norm.embed->weight.values();
  double sum = 0, sum2 = 0, n = 0;
  for (int64_t k = 0; k < classes; ++k)
    for (int64_t j = 0; j < 3 * C; ++j) {
      const double v = w[k * 3 * C + j];
      if (j >= 2 * C) {
        EXPECT_EQ(v, 0.0) << "beta of class " << k << ", channel " << j - 2 * C;
        continue;
      }
      sum += v, sum2 += (v - 1) * (v - 1), n += 1;
    }
  EXPECT_NEAR(sum / n, 1.0, 5 * 0.02 / std::sqrt(n));
  EXPECT_NEAR(std::sqrt(sum2 / n), 0.02, 0.002);  // the standard error of the std is 0.02 / sqrt(2 n) = 0.0004
}

// Random embeddings (not the near-identity init), so that gamma, alpha and beta all matter.
Tensor random_embed(int64_t classes, int64_t width, DType dtype, bool requires_grad = false) {
  return make_input({classes, width}, dtype, /*seed=*/4, Layout::contiguous, -1.5, 1.5, requires_grad);
}

TEST(CondInstanceNormPlus, MatchesNaiveReference) {
  const std::vector<int64_t> labels{2, 0, 2};
  const Tensor y = from_vector({2, 0, 2}, {3}, {.dtype = kInt64});
  for (bool bias : {true, false}) {
    Generator gen(5);
    nn::ConditionalInstanceNorm2dPlus norm(4, 3, gen, bias);
    {
      NoGradGuard no_grad;
      norm.embed->weight.copy_(random_embed(3, (bias ? 3 : 2) * 4, kFloat32));
    }
    const Tensor x = make_input({3, 4, 5, 6}, kFloat32, /*seed=*/6, Layout::transposed, -1.0, 2.0);
    EXPECT_TRUE(all_close(norm(x, y), reference::cond_instance_norm_plus(x, labels, norm.embed->weight, bias),
                          {.rtol = 1e-5, .atol = 1e-5}))
        << "bias " << bias;
  }
}

// The module moved to float64; gradcheck perturbs embed.weight in place through the module's own handle.
TEST(CondInstanceNormPlus, Gradients) {
  const Tensor y = from_vector({1, 3}, {2}, {.dtype = kInt64});
  for (bool bias : {true, false}) {
    Generator gen(7);
    nn::ConditionalInstanceNorm2dPlus norm(3, 4, gen, bias);
    norm.to(kFloat64);
    {
      NoGradGuard no_grad;
      norm.embed->weight.copy_(random_embed(4, (bias ? 3 : 2) * 3, kFloat64));
    }
    const Tensor x = make_input({2, 3, 2, 2}, kFloat64, /*seed=*/7, Layout::contiguous, -1.0, 1.0, true);
    auto f = [&](const TensorList& in) { return norm(in[0], y); };
    EXPECT_TRUE(grads_ok(f, {x, norm.embed->weight})) << "bias " << bias;
  }
}

TEST(CondInstanceNormPlus, ErrorsNameTheLayerAndShapes) {
  Generator gen(8);
  nn::ConditionalInstanceNorm2dPlus norm(4, 3, gen);
  const Tensor x = zeros({2, 4, 3, 3});
  EXPECT_THAT(error_of([&] {
                norm(x, from_vector({1, 3}, {2}, {.dtype = kInt64}));
              }),
              HasSubstr("ConditionalInstanceNorm2dPlus: one_hot: label 3 at index 1 is out of range [0, 3)"));
  EXPECT_THAT(error_of([&] {
                norm(x, from_vector({1, -1}, {2}, {.dtype = kInt64}));
              }),
              HasSubstr("label -1 at index 1 is out of range [0, 3)"));
  EXPECT_THAT(error_of([&] { norm(x, from_vector({1, 0}, {2})); }), HasSubstr("labels must be int64, got [2] float32"));
  EXPECT_THAT(error_of([&] { norm(x, from_vector({1}, {1}, {.dtype = kInt64})); }),
              HasSubstr("labels [1] must be [2], one per sample of input [2, 4, 3, 3]"));
  EXPECT_THAT(error_of([&] {
                norm(zeros({2, 4, 9}), from_vector({1, 0}, {2}, {.dtype = kInt64}));
              }),
              HasSubstr("input [2, 4, 9] must be [N, C, H, W]"));
  EXPECT_THAT(error_of([&] {
                norm(zeros({2, 5, 3, 3}), from_vector({1, 0}, {2}, {.dtype = kInt64}));
              }),
              HasSubstr("embed.weight [3, 12] must be [num_classes, 15] for input [2, 5, 3, 3]"));
  // One channel: torch.var over a single value is NaN; scorch refuses instead of returning NaN.
  EXPECT_THAT(error_of([&] { nn::ConditionalInstanceNorm2dPlus(1, 3, gen); }), HasSubstr("needs num_features >= 2"));
  EXPECT_THAT(
      error_of([&] {
        nn::cond_instance_norm_plus(zeros({2, 1, 3, 3}), from_vector({1, 0}, {2}, {.dtype = kInt64}), zeros({3, 3}));
      }),
      HasSubstr("ConditionalInstanceNorm2dPlus: input [2, 1, 3, 3] has 1 channel(s); needs at least 2"));
}

}  // namespace
}  // namespace scorch
