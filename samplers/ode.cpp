#include "samplers/ode.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "autograd/ops.h"
#include "samplers/schedule.h"

namespace scorch {
namespace {

// dx/dsigma of the probability-flow ODE.
Tensor drift(const ScoreFn& score, const Tensor& x, double sigma, SampleResult& r) {
  return detail::score_at(score, x, sigma, r) * -sigma;
}

struct Churn {  // Karras et al. 2022, Alg. 2; s_churn = 0: none
  double s_churn = 0, s_tmin = 0, s_tmax = 0, s_noise = 1;
};

struct GridRun {
  bool heun = true;
  Churn churn;
  bool denoise = true;
  int trajectory_every = 0;
  StepCallback on_step;
};

// Euler or Heun from sigmas[0] down the grid, and to 0 with denoise (that step always Euler).
SampleResult solve_on_grid(const ScoreFn& score, const Tensor& x0, std::vector<double> sigmas, const GridRun& run,
                           Generator* gen) {
  NoGradGuard no_grad;
  const double gamma = std::min(run.churn.s_churn / sigmas.size(), std::sqrt(2.0) - 1);
  if (run.denoise) sigmas.push_back(0.0);
  const int64_t steps = static_cast<int64_t>(sigmas.size()) - 1;
  SampleResult r{x0.detach(), {}, 0};
  detail::record_trajectory(r, 0, run.trajectory_every);
  for (int64_t i = 0; i < steps; ++i) {
    double sigma = sigmas[i];
    const double next = sigmas[i + 1];
    if (gamma > 0 && sigma >= run.churn.s_tmin && sigma <= run.churn.s_tmax) {
      const double raised = sigma * (1 + gamma);
      const Tensor z = randn(r.x.shape(), *gen, r.x.options());
      r.x = r.x + z * (run.churn.s_noise * std::sqrt(raised * raised - sigma * sigma));
      sigma = raised;
    }
    const double h = next - sigma;
    const Tensor d = drift(score, r.x, sigma, r);
    Tensor x_next = r.x + d * h;
    if (run.heun && next > 0) x_next = r.x + (d + drift(score, x_next, next, r)) * (h / 2);
    r.x = x_next;
    detail::record_trajectory(r, i + 1, run.trajectory_every);
    if (run.on_step) run.on_step(i + 1, steps);
  }
  return r;
}

double rms(const Tensor& t) { return std::sqrt(mean(square(t)).item()); }

Tensor maximum(const Tensor& a, const Tensor& b) { return where(ge(a, b), a, b); }

// Dormand & Prince (1980) 5(4): nodes c, stages a, the 5th-order weights b, and e = b - b_hat over the
// seven stages (the 7th is d(x_new)), as scipy's RK45.
constexpr double kC[6] = {0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1};
constexpr double kA[6][5] = {{0, 0, 0, 0, 0},
                             {1.0 / 5, 0, 0, 0, 0},
                             {3.0 / 40, 9.0 / 40, 0, 0, 0},
                             {44.0 / 45, -56.0 / 15, 32.0 / 9, 0, 0},
                             {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729, 0},
                             {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656}};
constexpr double kB[6] = {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84};
constexpr double kE[7] = {-71.0 / 57600, 0, 71.0 / 16695, -71.0 / 1920, 17253.0 / 339200, -22.0 / 525, 1.0 / 40};

// sum_j w[j] k[j] * h over the first n stages (stages with weight 0 skipped).
Tensor combine(const Tensor* k, const double* w, int n, double h) {
  Tensor out;
  for (int j = 0; j < n; ++j) {
    if (w[j] == 0) continue;
    out = out.defined() ? out + k[j] * (w[j] * h) : k[j] * (w[j] * h);
  }
  return out;
}

class Rk45 {
 public:
  Rk45(const ScoreFn& score, const OdeSamplerOptions& o, SampleResult& r) : score_(score), o_(o), r_(r) {}

  // d(x, sigma), refusing to go past max_evals.
  Tensor f(const Tensor& x, double sigma) {
    if (r_.score_evals >= o_.max_evals)
      throw std::runtime_error("ode_sampler: rk45 reached max_evals = " + std::to_string(o_.max_evals) +
                               " score evaluations at sigma = " + format_number(sigma_) + " (rtol " +
                               format_number(o_.rtol) + ", atol " + format_number(o_.atol) +
                               "); loosen rtol/atol or raise max_evals");
    return drift(score_, x, sigma, r_);
  }

  // scipy's select_initial_step for an error estimator of order 4: one trial evaluation.
  double first_step(const Tensor& x, const Tensor& fx, double interval) {
    const Tensor scale = abs(x) * o_.rtol + o_.atol;
    const double d0 = rms(x / scale), d1 = rms(fx / scale);
    const double h0 = std::min(d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1, interval);
    const Tensor f1 = f(x - fx * h0, sigma_ - h0);
    const double d2 = rms((f1 - fx) / scale) / h0;
    const double h1 = d1 <= 1e-15 && d2 <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / std::max(d1, d2), 0.2);
    return std::min({100 * h0, h1, interval});
  }

  // From sigma_max to sigma_min; returns the number of accepted steps.
  int64_t run(double sigma_max, double sigma_min) {
    sigma_ = sigma_max;
    Tensor fx = f(r_.x, sigma_);
    double h_abs = first_step(r_.x, fx, sigma_max - sigma_min);
    const double log_span = std::log(sigma_max / sigma_min);
    int64_t accepted = 0;
    while (sigma_ > sigma_min) {
      h_abs = step(fx, h_abs, sigma_min);
      detail::record_trajectory(r_, ++accepted, o_.trajectory_every);
      if (o_.on_step) o_.on_step(std::llround(1000 * std::log(sigma_max / sigma_) / log_span), 1000);
    }
    return accepted;
  }

 private:
  // One accepted step from sigma_ towards sigma_min (retrying smaller after rejections); updates r_.x,
  // sigma_ and fx (FSAL), returns the next step size.
  double step(Tensor& fx, double h_abs, double sigma_min) {
    bool rejected = false;
    for (;;) {
      const double min_step = 10 * (sigma_ - std::nextafter(sigma_, 0.0));
      if (h_abs < min_step)
        throw std::runtime_error("ode_sampler: rk45 step fell below " + format_number(min_step) +
                                 " at sigma = " + format_number(sigma_) + " (rtol " + format_number(o_.rtol) +
                                 ", atol " + format_number(o_.atol) + ")");
      const double next = std::max(sigma_ - h_abs, sigma_min), h = next - sigma_;
      Tensor k[7];
      k[0] = fx;
      for (int s = 1; s < 6; ++s) k[s] = f(r_.x + combine(k, kA[s], s, h), sigma_ + kC[s] * h);
      const Tensor x_new = r_.x + combine(k, kB, 6, h);
      k[6] = f(x_new, next);
      const Tensor scale = maximum(abs(r_.x), abs(x_new)) * o_.rtol + o_.atol;
      const double err = rms(combine(k, kE, 7, h) / scale);
      if (!std::isfinite(err))
        throw std::runtime_error("ode_sampler: rk45 error estimate is " + format_number(err) +
                                 " at sigma = " + format_number(sigma_) + " (the score returned inf or NaN?)");
      const double factor = 0.9 * std::pow(err, -0.2);  // inf when err = 0: capped at 10 below
      if (err < 1) {
        r_.x = x_new;
        fx = k[6];
        sigma_ = next;
        return -h * (rejected ? std::min(1.0, factor) : std::min(10.0, factor));
      }
      h_abs = -h * std::max(0.2, factor);
      rejected = true;
    }
  }

  const ScoreFn& score_;
  const OdeSamplerOptions& o_;
  SampleResult& r_;
  double sigma_ = 0;
};

SampleResult edm(const ScoreFn& score, const Tensor& x0, const EdmSamplerOptions& o, Generator* gen) {
  detail::check_particles("edm_sampler", x0);
  detail::check_schedule("edm_sampler", o.sigma_max, o.sigma_min, o.steps);
  if (!(o.s_churn >= 0) || !(o.s_noise >= 0) || !(o.s_tmin <= o.s_tmax))
    throw std::invalid_argument("edm_sampler: need s_churn >= 0, s_noise >= 0 and s_tmin <= s_tmax, got s_churn " +
                                format_number(o.s_churn) + ", s_noise " + format_number(o.s_noise) + ", s_tmin " +
                                format_number(o.s_tmin) + ", s_tmax " + format_number(o.s_tmax));
  if (o.s_churn > 0 && gen == nullptr)
    throw std::invalid_argument("edm_sampler: s_churn " + format_number(o.s_churn) +
                                " > 0 adds noise: pass a Generator");
  const std::vector<double> sigmas = edm_sigmas(o.sigma_max, o.sigma_min, o.steps, o.rho);
  return solve_on_grid(score, x0, sigmas,
                       {true, {o.s_churn, o.s_tmin, o.s_tmax, o.s_noise}, o.denoise, o.trajectory_every, o.on_step},
                       gen);
}

}  // namespace

SampleResult ode_sampler(const ScoreFn& score, const Tensor& x0, const OdeSamplerOptions& o) {
  detail::check_particles("ode_sampler", x0);
  if (o.method != "euler" && o.method != "heun" && o.method != "rk45")
    throw std::invalid_argument("ode_sampler: method must be euler, heun or rk45, got '" + o.method + "'");
  const std::vector<double> sigmas = detail::sigma_grid("ode_sampler", o.sigmas, o.sigma_max, o.sigma_min, o.steps);
  if (o.method != "rk45")
    return solve_on_grid(score, x0, sigmas, {o.method == "heun", {}, o.denoise, o.trajectory_every, o.on_step},
                         nullptr);

  if (!(o.rtol > 0) || !(o.atol > 0) || o.max_evals < 1)
    throw std::invalid_argument("ode_sampler: rk45 needs rtol > 0, atol > 0 and max_evals >= 1, got rtol " +
                                format_number(o.rtol) + ", atol " + format_number(o.atol) + ", max_evals " +
                                std::to_string(o.max_evals));
  NoGradGuard no_grad;
  SampleResult r{x0.detach(), {}, 0};
  detail::record_trajectory(r, 0, o.trajectory_every);
  const int64_t steps = Rk45(score, o, r).run(sigmas.front(), sigmas.back());
  if (o.denoise) {
    r.x = r.x + detail::score_at(score, r.x, sigmas.back(), r) * (sigmas.back() * sigmas.back());
    detail::record_trajectory(r, steps + 1, o.trajectory_every);
  }
  return r;
}

SampleResult edm_sampler(const ScoreFn& score, const Tensor& x0, const EdmSamplerOptions& o) {
  return edm(score, x0, o, nullptr);
}

SampleResult edm_sampler(const ScoreFn& score, const Tensor& x0, const EdmSamplerOptions& o, Generator& gen) {
  return edm(score, x0, o, &gen);
}

}  // namespace scorch
