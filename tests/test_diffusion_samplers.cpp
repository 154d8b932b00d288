// The VE samplers of ode.h and predictor_corrector.h, and annealed Langevin on image-shaped particles,
// checked where the answer is exact: data ~ N(mu, diag(v)) with mu = (1, -2), v = (0.25, 0.64), whose
// noised score is s(x, sigma) = -(x - mu) / (v + sigma^2). The score is linear, so each deterministic
// scheme multiplies x - mu by a number per step: a naive scalar recursion of the scheme is an exact
// reference, and the exact flow is x(sigma) - mu = (x(sigma_max) - mu) sqrt((v + sigma^2) / (v + sigma_max^2)).
//
// Moments: 20,000 particles in float64; a mean must be within 4 standard errors of mu, 4 sqrt(v / N)
// (0.014 and 0.023), a variance within 4 v sqrt(2 / N) (0.010 and 0.026) of v, plus the discretisation
// bias each test states as a fraction of v (computed by the scalar recursion of the scheme on this
// Gaussian). x0 is drawn from the exact p_{sigma_max} = N(mu, v + sigma_max^2), not sigma_max z, so that
// the prior's mismatch (a mean bias of about mu sqrt(v) / sigma_max) does not blur the integrators.
#include <gmock/gmock.h>

#include <cmath>

#include "samplers/langevin.h"
#include "samplers/ode.h"
#include "samplers/predictor_corrector.h"
#include "samplers/schedule.h"
#include "test_util.h"

namespace scorch {
namespace {

using testing::error_of;
using ::testing::HasSubstr;

constexpr int64_t kParticles = 20000;
constexpr double kSigmaMax = 10, kSigmaMin = 0.01;
const std::vector<double> kMu = {1, -2}, kVar = {0.25, 0.64};

// The exact noised score of N(mu, diag(var)); mu and var hold one value per element of a particle
// (row-major over its dims). Counts its calls.
class GaussianScore : public ScoreFn {
 public:
  GaussianScore(std::vector<double> mu, std::vector<double> var) : mu_(std::move(mu)), var_(std::move(var)) {}
  Tensor score(const Tensor& x, const Tensor& sigma) const override {
    ++calls;
    Shape one = x.shape(), column = Shape::filled(x.dim(), 1);
    one[0] = 1;
    column[0] = x.shape()[0];
    const Tensor mu = from_vector(mu_, one, x.options()), var = from_vector(var_, one, x.options());
    return (mu - x) / (var + square(sigma).reshape(column));
  }
  mutable int64_t calls = 0;

 private:
  std::vector<double> mu_, var_;
};

Tensor row(const std::vector<double>& v) {
  return from_vector(v, {1, static_cast<int64_t>(v.size())}, {.dtype = kFloat64});
}

// n particles of p_sigma = N(mu, v + sigma^2), [n, D].
Tensor noised_data(double sigma, Generator& gen, const std::vector<double>& mu = kMu,
                   const std::vector<double>& var = kVar, int64_t n = kParticles) {
  std::vector<double> sd(var.size());
  for (size_t j = 0; j < var.size(); ++j) sd[j] = std::sqrt(var[j] + sigma * sigma);
  return randn({n, static_cast<int64_t>(mu.size())}, gen, {.dtype = kFloat64}) * row(sd) + row(mu);
}

// Per-dim sample mean and variance within 4 standard errors of (mu, var), the variance also within
// var_bias * var (the scheme's own bias).
void expect_moments(const Tensor& x, const std::vector<double>& mu, const std::vector<double>& var, double var_bias,
                    const std::string& what) {
  const int64_t n = x.shape()[0], d = x.numel() / n;
  const std::vector<double> v = x.values();
  for (int64_t j = 0; j < d; ++j) {
    double m = 0, s = 0;
    for (int64_t i = 0; i < n; ++i) m += v[i * d + j] / n;
    for (int64_t i = 0; i < n; ++i) s += (v[i * d + j] - m) * (v[i * d + j] - m) / n;
    EXPECT_NEAR(m, mu[j], 4 * std::sqrt(var[j] / n)) << what << ", dim " << j;
    EXPECT_NEAR(s, var[j], 4 * var[j] * std::sqrt(2.0 / n) + var_bias * var[j]) << what << ", dim " << j;
  }
}

// Naive reference of euler/heun on `grid` then the Euler step to 0, on one coordinate of variance v:
// x_final - mu = factor (x0 - mu).
double scheme_factor(std::vector<double> grid, double v, bool heun) {
  grid.push_back(0);
  double factor = 1;
  for (size_t i = 0; i + 1 < grid.size(); ++i) {
    const double s = grid[i], t = grid[i + 1], h = t - s;
    const double d = s / (v + s * s);  // dx/dsigma = d (x - mu)
    double step = 1 + h * d;
    if (heun && t > 0) step = 1 + h * (d + t / (v + t * t) * step) / 2;
    factor *= step;
  }
  return factor;
}

Tensor reference(const Tensor& x0, const std::vector<double>& grid, bool heun) {
  return row(kMu) + (x0 - row(kMu)) * row({scheme_factor(grid, kVar[0], heun), scheme_factor(grid, kVar[1], heun)});
}

// The exact flow from sigma_max to sigma_min, then the denoising step (Tweedie's E[x_data | x]).
Tensor exact_flow(const Tensor& x0, double sigma_max, double sigma_min) {
  std::vector<double> c(kVar.size());
  for (size_t j = 0; j < c.size(); ++j) {
    const double v = kVar[j], v_min = v + sigma_min * sigma_min;
    c[j] = std::sqrt(v_min / (v + sigma_max * sigma_max)) * v / v_min;
  }
  return row(kMu) + (x0 - row(kMu)) * row(c);
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return max(abs(a - b)).item(); }

OdeSamplerOptions ode(const std::string& method, int steps) {
  return {.method = method, .sigma_max = kSigmaMax, .sigma_min = kSigmaMin, .steps = steps};
}

TEST(OdeSampler, EulerHeunAndRk45ReachTheDataMoments) {
  // 100 geometric steps from 10 to 0.01; variance bias: euler -3.4%, heun +0.13%, rk45 (rtol 1e-5) ~1e-5.
  Generator gen(1);
  const Tensor x0 = noised_data(kSigmaMax, gen);
  const std::vector<std::pair<std::string, double>> methods = {{"euler", 0.035}, {"heun", 0.002}, {"rk45", 0}};
  for (const auto& [method, bias] : methods) {
    const GaussianScore score(kMu, kVar);
    const SampleResult r = ode_sampler(score, x0, ode(method, 100));
    expect_moments(r.x, kMu, kVar, bias, method);
    EXPECT_EQ(r.score_evals, score.calls) << method;
    if (method == "euler") {
      EXPECT_EQ(r.score_evals, 100);
    } else if (method == "heun") {
      EXPECT_EQ(r.score_evals, 2 * 100 - 1);
    }
  }
}

TEST(OdeSampler, EulerHeunAndEdmMatchANaiveReferenceOfTheirScheme) {
  Generator gen(2);
  const Tensor x0 = noised_data(kSigmaMax, gen);
  const GaussianScore score(kMu, kVar);
  const std::vector<double> grid = geometric_sigmas(kSigmaMax, kSigmaMin, 10);
  const testing::Tolerance tol{.rtol = 1e-10, .atol = 1e-10};
  EXPECT_TRUE(testing::all_close(ode_sampler(score, x0, ode("euler", 10)).x, reference(x0, grid, false), tol));
  EXPECT_TRUE(testing::all_close(ode_sampler(score, x0, ode("heun", 10)).x, reference(x0, grid, true), tol));
  // EDM's defaults (18 steps, rho 7) from 80 to 0.002; on this Gaussian they leave the variance 11% high.
  const SampleResult edm = edm_sampler(score, x0, {.sigma_max = 80, .sigma_min = 0.002});
  EXPECT_TRUE(testing::all_close(edm.x, reference(x0, edm_sigmas(80, 0.002, 18), true), tol));
  EXPECT_EQ(edm.score_evals, 2 * 18 - 1);
}

TEST(OdeSampler, HeunBeatsEulerAndRk45ErrorShrinksWithRtol) {
  // Largest particle error against the exact flow. Measured: euler 0.60, 0.30, 0.15 and heun 0.31,
  // 0.062, 0.014 for 10, 20, 40 steps (at 5, sigma falls 5.6x a step and heun overshoots past euler);
  // rk45 8.7e-3, 1.3e-5, 2.2e-7 for rtol = atol = 1e-3, 1e-5, 1e-7, with 45, 105, 189 evaluations.
  Generator gen(3);
  const Tensor x0 = noised_data(kSigmaMax, gen), exact = exact_flow(x0, kSigmaMax, kSigmaMin);
  const GaussianScore score(kMu, kVar);
  std::vector<double> euler, heun;
  for (int steps : {10, 20, 40}) {
    euler.push_back(max_abs_diff(ode_sampler(score, x0, ode("euler", steps)).x, exact));
    heun.push_back(max_abs_diff(ode_sampler(score, x0, ode("heun", steps)).x, exact));
    EXPECT_LT(heun.back(), euler.back()) << steps << " steps";
  }
  EXPECT_GT(heun[1] / heun[2], 3.0);  // second order: 4x less error for twice the steps
  EXPECT_LT(euler[1] / euler[2], 2.5);
  double previous_error = INFINITY;
  int64_t previous_evals = 0;
  for (double tol : {1e-3, 1e-5, 1e-7}) {
    const GaussianScore counted(kMu, kVar);
    OdeSamplerOptions o = ode("rk45", 2);
    o.rtol = o.atol = tol;
    const SampleResult r = ode_sampler(counted, x0, o);
    const double error = max_abs_diff(r.x, exact);
    EXPECT_LT(error, 10 * tol) << "rtol " << tol;
    EXPECT_LT(error, previous_error / 10) << "rtol " << tol;
    EXPECT_GT(r.score_evals, previous_evals) << "rtol " << tol;
    EXPECT_EQ(r.score_evals, counted.calls) << "rtol " << tol;
    previous_error = error, previous_evals = r.score_evals;
  }
}

TEST(OdeSampler, TrajectoryProgressAndMaxEvals) {
  Generator gen(4);
  const Tensor x0 = noised_data(kSigmaMax, gen, kMu, kVar, 100);
  const GaussianScore score(kMu, kVar);
  std::vector<std::pair<int64_t, int64_t>> calls;
  OdeSamplerOptions o = ode("heun", 10);
  o.trajectory_every = 3;
  o.on_step = [&](int64_t done, int64_t total) { calls.emplace_back(done, total); };
  const SampleResult r = ode_sampler(score, x0, o);
  // 9 steps down the grid and the step to 0: frames x0, after 3, 6, 9.
  EXPECT_EQ(r.trajectory.size(), 4u);
  EXPECT_EQ(r.trajectory[0].values(), x0.values());
  ASSERT_EQ(calls.size(), 10u);
  EXPECT_EQ(calls.back(), std::make_pair(int64_t{10}, int64_t{10}));

  calls.clear();
  o.method = "rk45";
  o.trajectory_every = 1;
  const SampleResult adaptive = ode_sampler(score, x0, o);
  EXPECT_EQ(adaptive.trajectory.size(), calls.size() + 2);  // x0, every accepted step, the step to 0
  EXPECT_EQ(calls.back(), std::make_pair(int64_t{1000}, int64_t{1000}));
  o.max_evals = 20;
  EXPECT_THAT(error_of<std::runtime_error>([&] { ode_sampler(score, x0, o); }), HasSubstr("max_evals = 20"));
}

TEST(EdmSampler, ReachesTheDataMomentsWithAndWithoutChurn) {
  // 64 steps from 80 to 0.002: variance bias +0.7%; with S_churn = 10, +2.0% (+1.9% on dim 1).
  Generator gen(5);
  const Tensor x0 = noised_data(80, gen);
  const GaussianScore score(kMu, kVar);
  const SampleResult r = edm_sampler(score, x0, {.sigma_max = 80, .sigma_min = 0.002, .steps = 64});
  expect_moments(r.x, kMu, kVar, 0.008, "edm");
  EXPECT_EQ(r.score_evals, 2 * 64 - 1);
  const EdmSamplerOptions churn{
      .sigma_max = 80, .sigma_min = 0.002, .steps = 64, .s_churn = 10, .s_tmin = 0.05, .s_tmax = 50};
  Generator g1(6), g2(6), g3(7);
  const SampleResult a = edm_sampler(score, x0, churn, g1), b = edm_sampler(score, x0, churn, g2);
  expect_moments(a.x, kMu, kVar, 0.021, "edm, churn 10");
  EXPECT_EQ(a.x.values(), b.x.values());
  EXPECT_NE(a.x.values(), edm_sampler(score, x0, churn, g3).x.values());
  EXPECT_EQ(a.score_evals, 2 * 64 - 1);
}

TEST(PcSampler, ReverseDiffusionWithLangevinReachesTheDataMoments) {
  // 400 geometric levels: the predictor alone leaves the variance +1.7% high. The corrector's Langevin
  // step eps = 2 snr^2 ||z||^2 / ||s||^2 ~ 2 snr^2 D / sum_j 1 / v_j = 0.018 near the data adds
  // v eps / (2 v - eps): +3.8% on dim 0, +1.5% on dim 1 at snr 0.16.
  Generator gen(8), g(9);
  const Tensor x0 = noised_data(kSigmaMax, gen);
  const GaussianScore score(kMu, kVar);
  const SampleResult r = pc_sampler(score, x0, {.sigma_max = kSigmaMax, .sigma_min = kSigmaMin, .steps = 400}, g);
  expect_moments(r.x, kMu, kVar, 0.017 + 0.038, "reverse_diffusion + langevin");
  EXPECT_EQ(r.score_evals, 400 * 2);
  EXPECT_EQ(r.score_evals, score.calls);
}

TEST(PcSampler, ReverseDiffusionAloneReachesTheDataMoments) {
  // 400 levels: variance +1.7% (the scheme's recursion).
  Generator gen(10), g(11);
  const Tensor x0 = noised_data(kSigmaMax, gen);
  const GaussianScore score(kMu, kVar);
  const PcSamplerOptions o{
      .corrector = "none", .sigma_max = kSigmaMax, .sigma_min = kSigmaMin, .steps = 400, .trajectory_every = 100};
  const SampleResult r = pc_sampler(score, x0, o, g);
  expect_moments(r.x, kMu, kVar, 0.017, "reverse_diffusion");
  EXPECT_EQ(r.score_evals, 400);
  EXPECT_EQ(r.trajectory.size(), 5u);  // x0, then after levels 100, ..., 400
  EXPECT_EQ(r.trajectory.back().values(), r.x.values());
}

TEST(PcSampler, SameSeedSameParticles) {
  Generator gen(12), g1(13), g2(13), g3(14);
  const Tensor x0 = noised_data(kSigmaMax, gen, kMu, kVar, 100);
  const GaussianScore score(kMu, kVar);
  const PcSamplerOptions o{.sigma_max = kSigmaMax, .sigma_min = kSigmaMin, .steps = 50};
  const std::vector<double> a = pc_sampler(score, x0, o, g1).x.values();
  EXPECT_EQ(a, pc_sampler(score, x0, o, g2).x.values());
  EXPECT_NE(a, pc_sampler(score, x0, o, g3).x.values());
}

TEST(PcSampler, OdePredictorIsEulerOnTheSameGridAndTakesTheCorrector) {
  // ode + langevin on 250 levels: euler's -1.4% and the corrector's +3.8% / +1.5%.
  Generator gen(15), g(16);
  const Tensor x0 = noised_data(kSigmaMax, gen);
  const GaussianScore score(kMu, kVar);
  const PcSamplerOptions o{
      .predictor = "ode", .corrector = "none", .sigma_max = kSigmaMax, .sigma_min = kSigmaMin, .steps = 500};
  const SampleResult pc = pc_sampler(score, x0, o, g);
  EXPECT_TRUE(testing::all_close(pc.x, ode_sampler(score, x0, ode("euler", 500)).x, {.rtol = 1e-12, .atol = 1e-12}));
  EXPECT_EQ(pc.score_evals, 500);
  PcSamplerOptions corrected = o;
  corrected.corrector = "langevin";
  corrected.corrector_steps = 2;
  corrected.steps = 250;
  const SampleResult r = pc_sampler(score, x0, corrected, g);
  expect_moments(r.x, kMu, kVar, 0.014 + 0.038, "ode + langevin");
  EXPECT_EQ(r.score_evals, 250 * (1 + 2));
}

TEST(AnnealedLangevin, TakesImageShapedParticles) {
  // [N, 1, 2, 2] images run exactly as the same particles flattened to [N, 4]. The last level (sigma_L
  // = 0.1, alpha = step_lr, 100 steps) mixes: its stationary law is N(mu, V), V = v_L / (1 - alpha / (2
  // v_L)), v_L = v + sigma_L^2, and the denoising step scales x - mu by v / v_L. 10,000 particles.
  const std::vector<double> mu = {1, -2, 0.5, 0}, var = {0.25, 0.64, 0.25, 1};
  const std::vector<double> sigmas = geometric_sigmas(2, 0.1, 5);
  Generator gen(17), g1(18), g2(18);
  const Tensor flat = noised_data(sigmas[0], gen, mu, var, 10000);
  const GaussianScore score(mu, var);
  const AnnealedLangevinOptions o{.sigmas = sigmas, .steps_per_level = 100, .step_lr = 0.01};
  const SampleResult image = annealed_langevin(score, flat.reshape({10000, 1, 2, 2}), o, g1);
  const SampleResult rows = annealed_langevin(score, flat, o, g2);
  EXPECT_EQ(image.x.shape(), Shape({10000, 1, 2, 2}));
  EXPECT_EQ(image.x.values(), rows.x.values());
  EXPECT_EQ(image.score_evals, 5 * 100 + 1);
  std::vector<double> expected(var.size());
  for (size_t j = 0; j < var.size(); ++j) {
    const double v_last = var[j] + 0.01;
    expected[j] = v_last / (1 - 0.01 / (2 * v_last)) * (var[j] / v_last) * (var[j] / v_last);
  }
  expect_moments(image.x, mu, expected, 0, "annealed Langevin, images");
}

TEST(DiffusionSamplers, BadOptionsThrowNamingThem) {
  const GaussianScore score(kMu, kVar);
  const Tensor x0 = zeros({4, 2}, {.dtype = kFloat64});
  Generator gen(0);
  auto ode_error = [&](OdeSamplerOptions o) {
    return error_of<std::invalid_argument>([&] { ode_sampler(score, x0, o); });
  };
  auto pc_error = [&](PcSamplerOptions o) {
    return error_of<std::invalid_argument>([&] { pc_sampler(score, x0, o, gen); });
  };
  auto edm_error = [&](EdmSamplerOptions o) {
    return error_of<std::invalid_argument>([&] { edm_sampler(score, x0, o); });
  };
  EXPECT_THAT(ode_error({.method = "rk4"}), HasSubstr("method must be euler, heun or rk45, got 'rk4'"));
  EXPECT_THAT(ode_error({.steps = 1}), HasSubstr("steps >= 2"));
  EXPECT_THAT(ode_error({.sigma_min = 0}), HasSubstr("sigma_min 0"));
  EXPECT_THAT(ode_error({.sigma_max = 0.001}), HasSubstr("sigma_max 0.001"));
  EXPECT_THAT(ode_error({.sigmas = {1, 2}}), HasSubstr("sigmas[1] = 2 after 1"));
  EXPECT_THAT(ode_error({.sigmas = {1, 0}}), HasSubstr("sigmas[1] = 0"));
  EXPECT_THAT(ode_error({.sigmas = {1}}), HasSubstr("sigmas needs at least 2 levels"));
  EXPECT_THAT(ode_error({.method = "rk45", .rtol = 0}), HasSubstr("rtol 0"));
  EXPECT_THAT(ode_error({.method = "rk45", .atol = -1}), HasSubstr("atol -1"));
  EXPECT_THAT(error_of<std::invalid_argument>([&] { ode_sampler(score, zeros({4}), {}); }), HasSubstr("x0 must be"));
  EXPECT_THAT(edm_error({.steps = 1}), HasSubstr("steps 1"));
  EXPECT_THAT(edm_error({.s_churn = -1}), HasSubstr("s_churn -1"));
  EXPECT_THAT(edm_error({.s_churn = 1}), HasSubstr("pass a Generator"));
  EXPECT_THAT(edm_error({.rho = 0}), HasSubstr("rho"));
  EXPECT_THAT(pc_error({.predictor = "euler_maruyama"}), HasSubstr("predictor must be"));
  EXPECT_THAT(pc_error({.corrector = "ald"}), HasSubstr("corrector must be"));
  EXPECT_THAT(pc_error({.predictor = "none", .corrector = "none"}), HasSubstr("both none"));
  EXPECT_THAT(pc_error({.snr = 0}), HasSubstr("snr 0"));
  EXPECT_THAT(pc_error({.corrector_steps = 0}), HasSubstr("corrector_steps 0"));
  EXPECT_THAT(pc_error({.steps = 1}), HasSubstr("steps 1"));
  EXPECT_THAT(error_of<std::invalid_argument>([&] {
                annealed_langevin(score, x0, {.sigmas = {0.1, 1}}, gen);
              }),
              HasSubstr("sigmas[1] = 1 after 0.1"));
}

}  // namespace
}  // namespace scorch
