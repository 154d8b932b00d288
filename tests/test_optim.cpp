// test_optim.cpp: SGD and Adam against hand-computed steps of PyTorch's update rules (nn/optim.h),
// parameters without gradients, state()/load_state(), option checks, clip_grad_norm and EMA.
//
// Expected values are worked out by hand in the comments, or by AdamReference below: PyTorch 1.13's
// _single_tensor_adam for one element, in double, written from torch/optim/adam.py and not calling the
// code under test. float64 parameters match to 1e-12 (only the rounding of a few operations differs);
// float32 ones to 1e-6 relative.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "autograd/ops.h"
#include "nn/optim.h"

namespace scorch::nn {
namespace {

Tensor parameter(const std::vector<double>& values, DType dtype = kFloat64) {
  return from_vector(values, {.dtype = dtype}).requires_grad_();
}
void set_grad(const Tensor& p, const std::vector<double>& g) { p.set_grad(from_vector(g, {.dtype = p.dtype()})); }

void expect_values(const Tensor& t, const std::vector<double>& expected, double rtol = 1e-12) {
  const std::vector<double> got = t.values();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], expected[i], rtol * std::max(1.0, std::abs(expected[i]))) << "element " << i;
}

// Runs f and checks that it throws std::invalid_argument whose message contains `word`.
template <typename F>
void expect_invalid(F f, const std::string& word) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one naming " << word;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
  }
}

// p0 = [1, -2]; gradients of three steps.
const std::vector<std::vector<double>> kGrads = {{0.5, -1.0}, {0.2, 0.4}, {-0.3, 0.1}};

TEST(Sgd, MomentumThreeStepsByHand) {
  // lr 0.1, momentum 0.9 (p <- p - 0.1 b):
  //   b1 = g1          = [0.5, -1.0]    p1 = [0.95, -1.9]
  //   b2 = 0.9 b1 + g2 = [0.65, -0.5]   p2 = [0.885, -1.85]
  //   b3 = 0.9 b2 + g3 = [0.285, -0.35] p3 = [0.8565, -1.815]
  const Tensor p = parameter({1, -2});
  SGD sgd({p}, {.lr = 0.1, .momentum = 0.9});
  const std::vector<std::vector<double>> expected = {{0.95, -1.9}, {0.885, -1.85}, {0.8565, -1.815}};
  for (int s = 0; s < 3; ++s) {
    set_grad(p, kGrads[s]);
    sgd.step();
    expect_values(p, expected[s]);
  }
}

TEST(Sgd, DampeningSkipsTheFirstStep) {
  // dampening 0.5: the buffer starts as g1 undamped (PyTorch clones the first gradient).
  //   b1 = [0.5, -1]                                   p1 = [0.95, -1.9]
  //   b2 = 0.9 b1 + 0.5 g2 = [0.55, -0.7]              p2 = [0.895, -1.83]
  const Tensor p = parameter({1, -2});
  SGD sgd({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  set_grad(p, kGrads[0]);
  sgd.step();
  expect_values(p, {0.95, -1.9});
  set_grad(p, kGrads[1]);
  sgd.step();
  expect_values(p, {0.895, -1.83});
}

TEST(Sgd, NesterovWithWeightDecayByHand) {
  // lr 0.1, momentum 0.9, weight decay 0.1, nesterov:
  //   d1 = g1 + 0.1 p0 = [0.6, -1.2]; b1 = d1; d1 + 0.9 b1 = [1.14, -2.28]; p1 = [0.886, -1.772]
  //   d2 = g2 + 0.1 p1 = [0.2886, 0.2228]; b2 = 0.9 b1 + d2 = [0.8286, -0.8572];
  //   d2 + 0.9 b2 = [1.03434, -0.54868]; p2 = [0.782566, -1.717132]
  const Tensor p = parameter({1, -2});
  SGD sgd({p}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true});
  set_grad(p, kGrads[0]);
  sgd.step();
  expect_values(p, {0.886, -1.772});
  set_grad(p, kGrads[1]);
  sgd.step();
  expect_values(p, {0.782566, -1.717132});
}

// PyTorch 1.13 _single_tensor_adam (amsgrad off) for one element, in double.
struct AdamReference {
  AdamOptions o;
  double m = 0, v = 0;
  int t = 0;
  double step(double p, double g) {
    ++t;
    if (o.weight_decay != 0) g += o.weight_decay * p;
    m = o.beta1 * m + (1 - o.beta1) * g;
    v = o.beta2 * v + (1 - o.beta2) * g * g;
    const double bias_correction1 = 1 - std::pow(o.beta1, t), bias_correction2 = 1 - std::pow(o.beta2, t);
    return p - o.lr / bias_correction1 * m / (std::sqrt(v) / std::sqrt(bias_correction2) + o.eps);
  }
};

const std::vector<double> kAdamP0 = {0.5, -1.5, 2.0};
const std::vector<std::vector<double>> kAdamGrads = {{0.1, -0.2, 0.3}, {-0.4, 0.5, 0.05}, {0.2, 0.2, -0.6}};

void check_adam_against_reference(const AdamOptions& options, DType dtype, double rtol) {
  const Tensor p = parameter(kAdamP0, dtype);
  Adam adam({p}, options);
  std::vector<AdamReference> ref(3, AdamReference{options});
  std::vector<double> expected = kAdamP0;
  for (int s = 0; s < 3; ++s) {
    for (int j = 0; j < 3; ++j) expected[j] = ref[j].step(expected[j], kAdamGrads[s][j]);
    set_grad(p, kAdamGrads[s]);
    adam.step();
    SCOPED_TRACE("step " + std::to_string(s + 1) + ", " + std::string(dtype_name(dtype)));
    expect_values(p, expected, rtol);
  }
}

TEST(Adam, FirstStepIsLrTimesSignOfGradient) {
  // t = 1: m / (1 - b1) = g and sqrt(v / (1 - b2)) = |g|, so p1 = p0 - lr g / (|g| + eps).
  const Tensor p = parameter(kAdamP0);
  Adam adam({p}, {.lr = 0.1});
  set_grad(p, kAdamGrads[0]);
  adam.step();
  const double eps = 1e-8;
  expect_values(p, {0.5 - 0.1 * 0.1 / (0.1 + eps), -1.5 + 0.1 * 0.2 / (0.2 + eps), 2.0 - 0.1 * 0.3 / (0.3 + eps)});
}

TEST(Adam, ThreeStepsMatchReference) {
  check_adam_against_reference({.lr = 0.1}, kFloat64, 1e-12);
  check_adam_against_reference({.lr = 0.1}, kFloat32, 1e-6);
}

TEST(Adam, ThreeStepsWithWeightDecayAndOtherBetasMatchReference) {
  const AdamOptions o{.lr = 0.05, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-3, .weight_decay = 0.1};
  check_adam_against_reference(o, kFloat64, 1e-12);
  check_adam_against_reference(o, kFloat32, 1e-6);
}

// Two runs over a parameter large enough for the threaded path give the same bits.
TEST(Adam, IsBitwiseDeterministic) {
  const int64_t n = 200'003;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  std::vector<double> p0(n), g(n);
  for (int64_t i = 0; i < n; ++i) p0[i] = normal(rng), g[i] = normal(rng);
  std::vector<Tensor> results;
  for (int run = 0; run < 2; ++run) {
    const Tensor p = parameter(p0, kFloat32);
    Adam adam({p}, {.lr = 0.01, .weight_decay = 0.01});
    for (int s = 0; s < 3; ++s) {
      set_grad(p, g);
      adam.step();
    }
    results.push_back(p);
  }
  EXPECT_EQ(std::memcmp(results[0].raw_data(), results[1].raw_data(), n * sizeof(float)), 0);
}

TEST(Optim, SkipsParametersWithoutGradient) {
  const Tensor a = parameter({1, -2}), b = parameter({3});
  Adam adam({a, b}, {.lr = 0.1});
  for (int s = 0; s < 2; ++s) {
    set_grad(a, kGrads[s]);
    adam.step();
  }
  expect_values(b, {3});
  EXPECT_FALSE(adam.state().count("adam.step.1"));
  EXPECT_EQ(adam.state().at("adam.step.0").item(), 2);
  // b's first update (optimizer step 3) is its own t = 1: lr times the sign of its gradient.
  a.zero_grad();
  set_grad(b, {-0.7});
  adam.step();
  expect_values(b, {3 + 0.1 * 0.7 / (0.7 + 1e-8)});
  EXPECT_EQ(adam.state().at("adam.step.0").item(), 2);
  EXPECT_EQ(adam.state().at("adam.step.1").item(), 1);
  adam.zero_grad();
  EXPECT_FALSE(b.grad().defined());
}

// Optimizer `b`, restored from `a`'s state over parameters with `a`'s values, continues identically;
// `c`, over the same values without the state, does not.
template <typename Opt, typename Options>
void check_state_round_trip(const Options& options) {
  const Tensor pa = parameter({1, -2}), qa = parameter({0.5});
  const TensorList b_params = {parameter({0, 0}), parameter({0})}, c_params = {parameter({0, 0}), parameter({0})};
  Opt a({pa, qa}, options), b(b_params, options), c(c_params, options);
  for (int s = 0; s < 2; ++s) {
    set_grad(pa, kGrads[s]);  // qa gets no gradient: its state stays absent
    a.step();
  }
  for (const TensorList& params : {b_params, c_params}) {
    NoGradGuard no_grad;
    params[0].copy_(pa);
    params[1].copy_(qa);
  }
  b.load_state(a.state());
  for (const TensorList& params : {TensorList{pa, qa}, b_params, c_params}) {
    set_grad(params[0], kGrads[2]);
    set_grad(params[1], {0.25});
  }
  a.step();
  b.step();
  c.step();
  EXPECT_EQ(pa.values(), b_params[0].values());
  EXPECT_EQ(qa.values(), b_params[1].values());
  EXPECT_NE(pa.values(), c_params[0].values());
  EXPECT_EQ(a.state().size(), b.state().size());
}

TEST(Optim, StateRoundTripContinuesIdentically) {
  check_state_round_trip<Adam>(AdamOptions{.lr = 0.1, .weight_decay = 0.01});
  check_state_round_trip<SGD>(SGDOptions{.lr = 0.1, .momentum = 0.9});
}

TEST(Optim, LoadStateRejectsMismatches) {
  const Tensor p = parameter({1, -2});
  Adam adam({p});
  set_grad(p, kGrads[0]);
  adam.step();
  const std::map<std::string, Tensor> good = adam.state();
  auto with = [&](const std::string& name, Tensor t) {
    auto s = good;
    if (t.defined())
      s[name] = t;
    else
      s.erase(name);
    return s;
  };
  expect_invalid([&] { adam.load_state(with("adam.exp_avg.0", zeros({3}))); }, "adam.exp_avg.0 is [3]");
  expect_invalid([&] { adam.load_state(with("adam.exp_avg_sq.0", {})); }, "missing adam.exp_avg_sq.0");
  expect_invalid([&] { adam.load_state(with("adam.exp_avg.1", zeros({2}))); }, "unexpected adam.exp_avg.1");
  expect_invalid([&] { adam.load_state(with("sgd.step.0", scalar_tensor(1))); }, "unexpected sgd.step.0");
  expect_invalid([&] { adam.load_state(with("adam.step.0", scalar_tensor(0.5))); }, "adam.step.0 must hold");
  EXPECT_EQ(adam.state().at("adam.step.0").item(), 1);  // unchanged by the failed loads
}

TEST(Optim, RejectsBadOptionsNamingThem) {
  const Tensor p = parameter({1});
  expect_invalid([&] { Adam({p}, {.lr = -1}); }, "lr");
  expect_invalid([&] { Adam({p}, {.beta1 = 1}); }, "beta1 must be in [0, 1), got 1");
  expect_invalid([&] { Adam({p}, {.beta2 = -0.1}); }, "beta2");
  expect_invalid([&] { Adam({p}, {.eps = 0}); }, "eps");
  expect_invalid([&] { Adam({p}, {.weight_decay = -1}); }, "weight_decay");
  expect_invalid([&] { SGD({p}, {}); }, "lr");
  expect_invalid([&] { SGD({p}, {.lr = 0.1, .momentum = -0.5}); }, "momentum");
  expect_invalid([&] { SGD({p}, {.lr = 0.1, .nesterov = true}); }, "nesterov");
  expect_invalid([&] { Adam({p}).set_lr(std::nan("")); }, "lr");
  // Parameters must be contiguous leaves that require grad, each once.
  expect_invalid([&] { Adam(TensorList{}); }, "empty");
  expect_invalid([&] { Adam({from_vector({1.0})}); }, "requires grad");
  expect_invalid([&] { Adam({p, p}); }, "twice");
  const Tensor m = zeros({2, 3}).requires_grad_();
  expect_invalid([&] { Adam({m.detach().transpose(0, 1).requires_grad_()}); }, "contiguous");
}

TEST(Clip, ScalesByGlobalNormAndReturnsIt) {
  // |[3, 4]|^2 + |[12]|^2 = 169: norm 13; max_norm 6.5 scales by 6.5 / (13 + 1e-6).
  const Tensor a = parameter({0, 0}), b = parameter({0}, kFloat32), c = parameter({1});
  set_grad(a, {3, 4});
  set_grad(b, {12});
  EXPECT_DOUBLE_EQ(clip_grad_norm({a, b, c}, 6.5), 13);
  const double f = 6.5 / (13 + 1e-6);
  expect_values(a.grad(), {3 * f, 4 * f});
  expect_values(b.grad(), {12 * f}, 1e-7);
  EXPECT_FALSE(c.grad().defined());
  // Below max_norm nothing changes.
  set_grad(a, {3, 4});
  EXPECT_DOUBLE_EQ(clip_grad_norm({a}, 6), 5);
  expect_values(a.grad(), {3, 4}, 0);
}

TEST(Clip, LargeGradientsAndNonFiniteNorm) {
  const Tensor big = parameter(std::vector<double>(100'000, 0), kFloat32);
  big.set_grad(full({100'000}, 0.5));  // norm sqrt(100000 / 4) = 158.11...
  EXPECT_NEAR(clip_grad_norm({big}, 1), std::sqrt(25'000.0), 1e-9);
  EXPECT_NEAR(big.grad().values()[99'999], 0.5 / (std::sqrt(25'000.0) + 1e-6), 1e-9);
  const Tensor p = parameter({0, 0});
  set_grad(p, {INFINITY, 1});
  EXPECT_TRUE(std::isinf(clip_grad_norm({p}, 1)));
  EXPECT_EQ(p.grad().values(), (std::vector<double>{INFINITY, 1}));  // left as it is
  expect_invalid([&] { clip_grad_norm({p}, 0); }, "max_norm");
}

// A module with one parameter and one buffer.
struct Tiny : Module {
  Tensor w, count;
  Tiny()
      : w(register_parameter("w", from_vector({1.0, 2.0}, {.dtype = kFloat64}))),
        count(register_buffer("count", scalar_tensor(0))) {}
  void set(const std::vector<double>& weights, double counter) {
    NoGradGuard no_grad;
    w.copy_(from_vector(weights, {.dtype = kFloat64}));
    count.fill_(counter);
  }
};

TEST(Ema, UpdateCopyAndSwap) {
  Tiny model;
  EMA ema(model, 0.9);
  model.set({3, 4}, 7);
  ema.update(model);  // 0.9 [1, 2] + 0.1 [3, 4] = [1.2, 2.2]; buffer copied
  expect_values(ema.state_dict().at("w"), {1.2, 2.2});
  expect_values(ema.state_dict().at("count"), {7});
  model.set({3, 4}, 8);
  {
    auto swap = ema.scoped(model);
    expect_values(model.w, {1.2, 2.2});
    expect_values(model.count, {7});
  }
  expect_values(model.w, {3, 4});
  expect_values(model.count, {8});
  EXPECT_TRUE(model.w.requires_grad());
  ema.copy_to(model);
  expect_values(model.w, {1.2, 2.2});
}

TEST(Ema, WarmupUsesScoreSdesDecaySchedule) {
  Tiny model;
  EMA ema(model, 0.9, /*warmup=*/true);
  std::vector<double> expected = {1, 2};
  for (int n = 1; n <= 100; ++n) {  // decay_n = min(0.9, (1 + n) / (10 + n)): 0.18, 0.25, ... then 0.9 from n = 80
    model.set({3.0 + n, 4.0 - n}, n);
    ema.update(model);
    const double d = std::min(0.9, (1.0 + n) / (10.0 + n));
    expected = {d * expected[0] + (1 - d) * (3.0 + n), d * expected[1] + (1 - d) * (4.0 - n)};
  }
  EXPECT_EQ(ema.updates(), 100);
  const std::vector<double> got = ema.state_dict().at("w").values();
  EXPECT_NEAR(got[0], expected[0], 1e-12);
  EXPECT_NEAR(got[1], expected[1], 1e-12);
}

TEST(Ema, StateDictRoundTripAndErrors) {
  Tiny model;
  EMA a(model, 0.5), b(model, 0.5);
  model.set({3, 4}, 1);
  a.update(model);  // [2, 3]
  b.load_state_dict(a.state_dict());
  expect_values(b.state_dict().at("w"), {2, 3});
  expect_invalid([&] { b.load_state_dict({{"w", zeros({3})}, {"count", zeros({})}}); }, "w is [3]");
  expect_invalid([&] { b.load_state_dict({{"w", zeros({2})}}); }, "missing count");
  expect_invalid([&] { EMA(model, 0); }, "decay");
  expect_invalid([&] { EMA(model, 1.5); }, "decay must be in (0, 1]");
  Tiny other;
  EMA c(other, 1.0);  // decay 1 keeps the first weights
  c.update(model);
  expect_values(c.state_dict().at("w"), {1, 2});
}

}  // namespace
}  // namespace scorch::nn
