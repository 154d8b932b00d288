// test_unet.cpp: unet-small as reference-models.md lays it out: the parameter count (1,466,049), the
// parameter names the PyTorch twin uses, the output shape, the 1/sigma scaling (through a conv_out that
// outputs ones), the noise embedding against values computed here from its formula, gradients (every
// parameter gets one; gradcheck in float64 on a narrow copy) and input errors.
#include <gmock/gmock.h>

#include <cmath>

#include "nn/unet.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

TEST(UNetSmall, ParameterCountAndNames) {
  Generator gen(0);
  nn::UNetSmall model(gen, {});
  EXPECT_EQ(model.num_parameters(), 1466049);
  const auto state = model.state_dict();
  const std::pair<const char*, Shape> expected[] = {
      {"embed.0.weight", {128, 64}},          {"embed.2.bias", {128}},
      {"conv_in.weight", {32, 1, 3, 3}},      {"down0.norm1.weight", {32}},
      {"down0.emb.weight", {32, 128}},        {"down1.skip.weight", {64, 32, 1, 1}},
      {"downsample1.weight", {64, 64, 3, 3}}, {"up2.conv1.weight", {128, 256, 3, 3}},
      {"upconv1.weight", {32, 64, 3, 3}},     {"norm_out.bias", {32}},
      {"conv_out.weight", {1, 32, 3, 3}},     {"conv_out.bias", {1}}};
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(state.count(name)) << name;
    EXPECT_EQ(state.at(name).shape(), shape) << name;
  }
  EXPECT_FALSE(state.count("down0.skip.weight"));  // identity skip when cin == cout
}

TEST(UNetSmall, NoiseEmbeddingMatchesItsFormula) {
  const std::vector<double> sigmas = {1.0, 0.01, 0.37};
  const Tensor e = nn::noise_embedding(from_vector(sigmas, {.dtype = kFloat64}));
  ASSERT_EQ(e.shape(), (Shape{3, 64}));
  const std::vector<double> v = e.values();
  for (size_t n = 0; n < sigmas.size(); ++n)
    for (int k = 0; k < 32; ++k) {
      const double angle = 250.0 * std::log(sigmas[n]) * std::pow(1000.0, -k / 32.0);
      EXPECT_NEAR(v[n * 64 + k], std::sin(angle), 1e-12) << "sigma " << sigmas[n] << " k " << k;
      EXPECT_NEAR(v[n * 64 + 32 + k], std::cos(angle), 1e-12) << "sigma " << sigmas[n] << " k " << k;
    }
  // sigma = 1: t = 0, so the sines are 0 and the cosines 1.
  EXPECT_EQ(v[0], 0.0);
  EXPECT_EQ(v[32], 1.0);
}

TEST(UNetSmall, OutputShapeAndSigmaScaling) {
  Generator gen(1);
  nn::UNetSmall model(gen, {});
  const Tensor x = rand({3, 1, 28, 28}, gen);
  const Tensor s = model.forward(x, from_vector({0.5, 0.5, 0.5}));
  ASSERT_EQ(s.shape(), (Shape{3, 1, 28, 28}));
  // A 0-d sigma is shared by the batch and gives the same scores.
  EXPECT_TRUE(testing::all_close(model.forward(x, scalar_tensor(0.5)), s, {.rtol = 1e-6, .atol = 1e-7}));
  for (double v : s.values()) ASSERT_TRUE(std::isfinite(v));
}

TEST(UNetSmall, OutputIsDividedBySigma) {
  // With conv_out's weight 0 and bias 1 the network's output is 1 everywhere, so s(x, sigma) = 1 / sigma.
  Generator gen(5);
  nn::UNetSmall model(gen, {});
  {
    NoGradGuard no_grad;
    for (const auto& [name, p] : model.named_parameters())
      if (name == "conv_out.weight")
        p.fill_(0.0);
      else if (name == "conv_out.bias")
        p.fill_(1.0);
  }
  const std::vector<double> sigmas = {0.5, 0.25, 2.0};
  const std::vector<double> s = model.forward(rand({3, 1, 8, 8}, gen), from_vector(sigmas)).values();
  for (size_t i = 0; i < s.size(); ++i) ASSERT_EQ(s[i], 1.0 / sigmas[i / 64]) << "element " << i;
}

TEST(UNetSmall, EveryParameterGetsAGradient) {
  Generator gen(2);
  nn::UNetSmall model(gen, {});
  const Tensor x = rand({2, 1, 28, 28}, gen);
  const Tensor loss = sum(square(model.forward(x, from_vector({1.0, 0.1}))));
  loss.backward();
  for (const auto& [name, p] : model.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    double norm = 0;
    for (double g : p.grad().values()) norm += g * g;
    EXPECT_GT(norm, 0) << name;
  }
}

TEST(UNetSmall, GradcheckOnANarrowModel) {  // width 8 at 4x4 in float64: d out / d x and d out / d sigma
  Generator gen(3);
  nn::UNetSmall model64(gen, {.channels = 1, .width = 8, .groups = 4});
  model64.to(kFloat64);
  const TensorList in = {testing::make_input({1, 1, 4, 4}, kFloat64, 4, testing::Layout::contiguous, 0, 1, true),
                         testing::make_input({1}, kFloat64, 5, testing::Layout::contiguous, 0.2, 1, true)};
  EXPECT_TRUE(testing::grads_ok([&](const TensorList& t) { return model64.forward(t[0], t[1]); }, in, {}, false));
}

TEST(UNetSmall, BadInputsNameTheShapes) {
  Generator gen(4);
  nn::UNetSmall model(gen, {});
  EXPECT_THAT(error_of([&] {
                model.forward(zeros({2, 1, 30, 28}), zeros({2}));
              }),
              HasSubstr("unet-small: x [2, 1, 30, 28] float32 cpu must be [N, 1, H, W] with H and W multiples of 4"));
  EXPECT_THAT(error_of([&] { model.forward(zeros({2, 1, 28, 28}), zeros({3})); }), HasSubstr("sigma"));
  // Undefined inputs throw naming them (they used to dereference a null tensor).
  EXPECT_THAT(error_of([&] { model.forward(Tensor(), zeros({2})); }), HasSubstr("unet-small: x (undefined) must be"));
  EXPECT_THAT(error_of([&] {
                model.forward(zeros({2, 1, 28, 28}), Tensor());
              }),
              HasSubstr("unet-small: sigma (undefined) must be [2] or a scalar"));
  EXPECT_THAT(error_of([] { nn::noise_embedding(Tensor()); }),
              HasSubstr("noise_embedding: sigma (undefined) must be [N]"));
  EXPECT_THAT(error_of([] { nn::noise_embedding(ones({2}), 0); }),
              HasSubstr("noise_embedding: half must be >= 1, got 0"));
  EXPECT_THAT(error_of([] {
                Generator g(0);
                nn::UNetSmall m(g, {.width = 12});
              }),
              HasSubstr("width 12 must be a positive multiple of groups 8"));
}

}  // namespace
}  // namespace scorch
