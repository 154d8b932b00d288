// nn/: parameter bookkeeping, PyTorch's Linear init, state_dict errors, and the score models of
// reference-models.md (parameter counts, shapes, the division by sigma).
#include <gmock/gmock.h>

#include "nn/score_models.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

TEST(Nn, MlpHasTheSpecsParameterCount) {
  Generator gen(0);
  EXPECT_EQ(nn::make_score_model("mlp", gen)->num_parameters(), 17282);  // 3*128+128 + 128*128+128 + 128*2+2
  EXPECT_EQ(nn::make_score_model("mlp-uncond", gen)->num_parameters(), 17154);
  EXPECT_THAT(error_of([&] { nn::make_score_model("resnet", gen); }), HasSubstr("known: mlp, mlp-uncond"));
}

TEST(Nn, ParametersAreNamedByTheirPath) {
  Generator gen(0);
  const auto model = nn::make_score_model("mlp", gen);
  std::vector<std::string> names;
  for (const auto& [name, t] : model->named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias", "net.4.weight",
                                             "net.4.bias"}));
  for (const Tensor& p : model->parameters()) EXPECT_TRUE(p.requires_grad() && p.is_leaf());
}

TEST(Nn, LinearInitIsUniformWithinOneOverSqrtFanIn) {
  // PyTorch: kaiming_uniform_(a = sqrt(5)) and the bias both give U(-1/sqrt(in), 1/sqrt(in)).
  Generator gen(1);
  nn::Linear layer(64, 200, gen);
  const double bound = 1.0 / 8.0;
  const std::vector<double> w = layer.weight.values(), b = layer.bias.values();
  double sum = 0, sum2 = 0;
  for (double v : w) {
    EXPECT_LE(std::abs(v), bound);
    sum += v, sum2 += v * v;
  }
  for (double v : b) EXPECT_LE(std::abs(v), bound);
  // Moments of U(-c, c): mean 0, variance c^2/3; 12,800 draws, tolerances ~5 standard errors.
  EXPECT_NEAR(sum / w.size(), 0.0, 5 * bound / std::sqrt(3.0 * w.size()));
  EXPECT_NEAR(sum2 / w.size(), bound * bound / 3, 5 * bound * bound * 0.3 / std::sqrt(double(w.size())));
}

TEST(Nn, LinearForwardIsXWTransposePlusB) {
  Generator gen(2);
  nn::Linear layer(3, 2, gen);
  const Tensor x = from_vector({1, 2, 3, -1, 0, 0.5}, {2, 3});
  const std::vector<double> y = layer(x).values(), w = layer.weight.values(), b = layer.bias.values(), xv = x.values();
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 2; ++o) {
      double expected = b[o];
      for (int k = 0; k < 3; ++k) expected += xv[n * 3 + k] * w[o * 3 + k];
      EXPECT_NEAR(y[n * 2 + o], expected, 1e-6);
    }
  EXPECT_THAT(error_of([&] { layer(zeros({2, 4})); }), HasSubstr("does not end in in_features 3"));
}

TEST(Nn, LoadStateDictChecksNamesAndShapes) {
  Generator gen(3);
  const auto a = nn::make_score_model("mlp", gen), b = nn::make_score_model("mlp", gen);
  b->load_state_dict(a->state_dict());
  for (const auto& [name, t] : a->state_dict()) EXPECT_EQ(t.values(), b->state_dict().at(name).values()) << name;

  auto state = a->state_dict();
  state.erase("net.0.bias");
  state["net.9.weight"] = zeros({1});
  state["net.2.weight"] = zeros({128, 127});
  const std::string msg = error_of([&] { b->load_state_dict(state, "ckpt.safetensors"); });
  EXPECT_THAT(msg, HasSubstr("ckpt.safetensors: does not match the model"));
  EXPECT_THAT(msg, HasSubstr("missing net.0.bias [128]"));
  EXPECT_THAT(msg, HasSubstr("unexpected net.9.weight [1]"));
  EXPECT_THAT(msg, HasSubstr("net.2.weight is [128, 127] in the file, [128, 128] in the model"));
}

TEST(Nn, TrainEvalReachesSubmodules) {
  Generator gen(4);
  const auto model = nn::make_score_model("mlp", gen);
  EXPECT_TRUE(model->is_training());
  model->eval();
  EXPECT_FALSE(model->is_training());
  model->train();
  EXPECT_TRUE(model->is_training());
}

TEST(Nn, ConditionalMlpDividesBySigma) {
  // s(x, sigma) = net([x, log sigma]) / sigma: sigma * s must equal the network recomputed by hand
  // from the parameters; a scalar sigma broadcasts to every row.
  Generator gen(5);
  const auto model = nn::make_score_model("mlp", gen);
  const Tensor x = from_vector({1, 2, -3, 0.5}, {2, 2});
  const Tensor s1 = model->forward(x, from_vector({0.1, 0.1})), s2 = model->forward(x, scalar_tensor(0.1));
  EXPECT_EQ(s1.shape(), (Shape{2, 2}));
  EXPECT_EQ(s1.values(), s2.values());
  const Tensor h = concat({x, full({2, 1}, std::log(0.1))}, 1);
  const auto& params = model->named_parameters();
  Tensor a = silu(linear(h, params[0].second, params[1].second));
  a = silu(linear(a, params[2].second, params[3].second));
  EXPECT_TRUE(
      testing::all_close(s1 * 0.1, linear(a, params[4].second, params[5].second), {.rtol = 1e-5, .atol = 1e-6}));
  EXPECT_THAT(error_of([&] { model->forward(x, from_vector({1, 2, 3})); }), HasSubstr("sigma"));
  // Undefined inputs throw naming them (they used to dereference a null tensor).
  EXPECT_THAT(error_of([&] { model->forward(Tensor(), scalar_tensor(0.1)); }),
              HasSubstr("score model: x must be [N, 2], got (undefined)"));
  EXPECT_THAT(error_of([&] { model->forward(x, Tensor()); }), HasSubstr("score model: sigma (undefined) must be [2]"));
}

}  // namespace
}  // namespace scorch
