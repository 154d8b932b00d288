// nn/refinenet: NCSN's CondRefineNetDilated. Its parameter names, shapes, order and counts against
// PyTorch's (bench/torch/refinenet_structure.md, models.py), output shapes, gradients (every parameter
// reached; a float64 gradcheck w.r.t. x on a tiny net), the sigma -> label mapping and the input errors.
// Forward values against PyTorch are bench/torch/parity.py's job.
#include <gmock/gmock.h>

#include "nn/refinenet.h"
#include "samplers/schedule.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::error_of;
using ::testing::HasSubstr;
using testing::make_input;

nn::RefineNet::Options mnist_options(int64_t ngf) {
  return {.channels = 1, .ngf = ngf, .num_classes = 10, .sigmas = geometric_sigmas(1.0, 0.01, 10)};
}

Tensor labels_of(const std::vector<double>& values) { return from_vector(values, {.dtype = kInt64}); }

TEST(RefineNet, ParameterCountsAreNcsns) {
  Generator gen(0);
  // From PyTorch (models.py --self-test; NCSN's own model gives the same).
  EXPECT_EQ(nn::RefineNet(gen, mnist_options(16)).num_parameters(), 518'817);
  EXPECT_EQ(nn::RefineNet(gen, mnist_options(64)).num_parameters(), 7'638'657);
  EXPECT_EQ(nn::make_score_model("refinenet", gen, geometric_sigmas(1.0, 0.01, 10))->num_parameters(), 518'817);
}

TEST(RefineNet, ParameterNamesShapesAndOrderAreNcsns) {
  Generator gen(0);
  const nn::NamedTensors params = nn::RefineNet(gen, mnist_options(16)).named_parameters();
  ASSERT_EQ(params.size(), 173u);
  EXPECT_TRUE(nn::RefineNet(gen, mnist_options(16)).named_buffers().empty());
  // (position in refinenet_structure.md's state_dict table, name, shape)
  const std::vector<std::tuple<size_t, std::string, Shape>> expected = {
      {0, "begin_conv.weight", {16, 1, 3, 3}},
      {2, "normalizer.embed.weight", {10, 48}},
      {4, "end_conv.bias", {1}},
      {5, "res1.0.conv1.weight", {16, 16, 3, 3}},
      {20, "res2.0.conv2.conv.weight", {32, 16, 3, 3}},
      {22, "res2.0.shortcut.conv.weight", {32, 16, 1, 1}},
      {24, "res2.0.normalize1.embed.weight", {10, 48}},
      {36, "res3.0.shortcut.weight", {32, 32, 3, 3}},
      {60, "refine1.adapt_convs.0.1_1_conv.weight", {32, 32, 3, 3}},
      {97, "refine2.msf.convs.1.weight", {32, 32, 3, 3}},
      {99, "refine2.msf.norms.0.embed.weight", {10, 96}},
      {125, "refine3.msf.convs.0.weight", {16, 32, 3, 3}},
      {131, "refine3.crp.convs.0.weight", {16, 16, 3, 3}},
      {168, "refine4.msf.norms.1.embed.weight", {10, 48}},
      {172, "refine4.crp.norms.1.embed.weight", {10, 48}},
  };
  for (const auto& [index, name, shape] : expected) {
    EXPECT_EQ(params[index].first, name) << "parameter " << index;
    EXPECT_EQ(params[index].second.shape(), shape) << name;
  }
}

TEST(RefineNet, KeepsTheInputShapeAndMatchesForwardLabels) {
  Generator gen(1);
  const auto model =
      std::dynamic_pointer_cast<nn::RefineNet>(nn::make_score_model("refinenet", gen, geometric_sigmas(1.0, 0.01, 10)));
  ASSERT_TRUE(model);
  const Tensor x = make_input({3, 1, 28, 28}, kFloat32, /*seed=*/2, testing::Layout::contiguous, 0.0, 1.0);
  const std::vector<double> sigmas = geometric_sigmas(1.0, 0.01, 10);
  NoGradGuard no_grad;
  const Tensor out = model->forward(x, from_vector({sigmas[0], sigmas[4], sigmas[9]}));
  EXPECT_EQ(out.shape(), (Shape{3, 1, 28, 28}));
  for (double v : out.values()) ASSERT_TRUE(std::isfinite(v));
  EXPECT_TRUE(testing::all_close(out, model->forward_labels(x, labels_of({0, 4, 9})), {.rtol = 0, .atol = 0}));
  // Any even H x W works, as in NCSN.
  EXPECT_EQ(model->forward_labels(zeros({1, 1, 8, 12}), labels_of({5})).shape(), (Shape{1, 1, 8, 12}));
}

TEST(RefineNet, EveryParameterGetsAGradient) {
  Generator gen(3);
  nn::RefineNet model(gen, mnist_options(16));
  const Tensor x = make_input({2, 1, 28, 28}, kFloat32, /*seed=*/4, testing::Layout::contiguous, 0.0, 1.0);
  const Tensor v = make_input({2, 1, 28, 28}, kFloat32, /*seed=*/5);
  sum(model.forward_labels(x, labels_of({2, 7})) * v).backward();
  for (const auto& [name, p] : model.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    double largest = 0;
    for (double g : p.grad().values()) largest = std::max(largest, std::abs(g));
    EXPECT_GT(largest, 0.0) << name;
  }
}

TEST(RefineNet, GradcheckWithRespectToX) {
  // A tiny net (ngf 2: widths 2 and 4) on 8 x 8, so both resolutions, the dilations, the mean pool and
  // the 4 x 4 -> 8 x 8 bilinear resize all take part; two samples with different labels (their Jacobian
  // blocks across samples must be 0). ELU has no kink (alpha = 1: both one-sided slopes are 1 at 0).
  Generator gen(6);
  nn::RefineNet model(gen, {.channels = 1, .ngf = 2, .num_classes = 10, .sigmas = {}});
  model.to(kFloat64);
  const Tensor labels = labels_of({1, 8});
  const Tensor x = make_input({2, 1, 8, 8}, kFloat64, /*seed=*/7, testing::Layout::contiguous, 0.0, 1.0, true);
  const auto f = [&](const TensorList& in) { return model.forward_labels(in[0], labels); };
  EXPECT_TRUE(testing::grads_ok(f, {x}, {.name = "refinenet"}, /*second_order=*/false));
}

TEST(RefineNet, MapsEachSigmaToItsNearestLevel) {
  Generator gen(8);
  nn::RefineNet model(gen, mnist_options(2));
  const std::vector<double> s = geometric_sigmas(1.0, 0.01, 10);
  const std::vector<double> all{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(model.labels_for(from_vector(s, {.dtype = kFloat64}), 10).values(), all);
  EXPECT_EQ(model.labels_for(from_vector(s, {.dtype = kFloat32}), 10).values(), all);  // float32-rounded sigmas
  EXPECT_EQ(model.labels_for(from_vector(s), 10).dtype(), kInt64);
  EXPECT_EQ(model.labels_for(from_vector({s[3] * 1.0009, s[6] / 1.0009}), 2).values(), (std::vector<double>{3, 6}));
  EXPECT_EQ(model.labels_for(scalar_tensor(s[5]), 3).values(), (std::vector<double>{5, 5, 5}));  // one for all rows

  EXPECT_THAT(error_of([&] {
                model.labels_for(from_vector({s[1], 0.5}), 2);
              }),
              HasSubstr("sigma 0.5 (row 1) is not within 1e-3 (relative) of a level of the schedule [1, 0.599484, "));
  EXPECT_THAT(error_of([&] { model.labels_for(from_vector({s[2] * 1.002}), 1); }), HasSubstr("not within 1e-3"));
  EXPECT_THAT(error_of([&] { model.labels_for(from_vector({-1.0}), 1); }), HasSubstr("sigma -1 (row 0)"));
  EXPECT_THAT(error_of([&] {
                model.labels_for(from_vector({1.0, 1.0}), 3);
              }),
              HasSubstr("sigma [2] float32 cpu must be [3] or a single value"));
  nn::RefineNet unscheduled(gen, {.ngf = 2, .sigmas = {}});
  EXPECT_THAT(error_of([&] {
                unscheduled.forward(zeros({1, 1, 28, 28}), scalar_tensor(1.0));
              }),
              HasSubstr("no sigma schedule"));
  EXPECT_THAT(error_of([&] {
                nn::RefineNet(gen, {.ngf = 2, .sigmas = {1.0, 0.1}});
              }),
              HasSubstr("2 sigmas for 10 classes"));
}

TEST(RefineNet, BadInputsThrowNamingTheShapes) {
  Generator gen(9);
  nn::RefineNet model(gen, mnist_options(2));
  const Tensor labels = labels_of({0, 1});
  const std::string sizes = "must be [N, 1, H, W] with H and W even and >= 2 (28 x 28 for MNIST";
  EXPECT_THAT(error_of([&] {
                model.forward_labels(zeros({2, 1, 27, 28}), labels);
              }),
              HasSubstr("refinenet: x [2, 1, 27, 28] float32 cpu " + sizes));
  EXPECT_THAT(error_of([&] { model.forward_labels(zeros({2, 3, 28, 28}), labels); }), HasSubstr("x [2, 3, 28, 28]"));
  EXPECT_THAT(error_of([&] { model.forward_labels(zeros({2, 784}), labels); }), HasSubstr(sizes));
  EXPECT_THAT(error_of([&] {
                model.forward_labels(zeros({3, 1, 28, 28}), labels);
              }),
              HasSubstr("labels [2] int64 cpu must be int64 [3]"));
  EXPECT_THAT(error_of([&] {
                model.forward_labels(zeros({2, 1, 28, 28}), from_vector({0.0, 1.0}));
              }),
              HasSubstr("must be int64 [2]"));
  EXPECT_THAT(error_of([&] {
                model.forward_labels(zeros({2, 1, 28, 28}), labels_of({0, 10}));
              }),
              HasSubstr("label 10 at index 1 is out of range [0, 10)"));
  EXPECT_THAT(error_of([&] { model.forward(zeros({2, 1, 28, 30 - 1}), scalar_tensor(1.0)); }), HasSubstr(sizes));
}

}  // namespace
}  // namespace scorch
