#include "samplers/langevin.h"

#include <cmath>

#include "autograd/ops.h"
#include "samplers/schedule.h"

namespace scorch {
namespace detail {

void check_particles(const char* sampler, const Tensor& x0) {
  if (x0.dim() < 2 || x0.shape()[0] == 0)
    throw std::invalid_argument(std::string(sampler) + ": x0 must be a non-empty [N, ...] batch (dim >= 2), got " +
                                describe(x0));
}

void check_sigmas(const char* sampler, const std::vector<double>& sigmas) {
  if (sigmas.empty()) throw std::invalid_argument(std::string(sampler) + ": sigmas is empty");
  for (size_t i = 0; i < sigmas.size(); ++i) {
    const bool bad = !(sigmas[i] > 0) || !std::isfinite(sigmas[i]) || (i > 0 && !(sigmas[i] < sigmas[i - 1]));
    if (bad)
      throw std::invalid_argument(std::string(sampler) + ": sigmas must be finite, > 0 and strictly decreasing, got " +
                                  "sigmas[" + std::to_string(i) + "] = " + format_number(sigmas[i]) +
                                  (i > 0 ? " after " + format_number(sigmas[i - 1]) : std::string()));
  }
}

void check_schedule(const char* sampler, double sigma_max, double sigma_min, int steps) {
  if (!(sigma_min > 0) || !(sigma_max > sigma_min) || !std::isfinite(sigma_max) || steps < 2)
    throw std::invalid_argument(std::string(sampler) + ": need sigma_max > sigma_min > 0 and steps >= 2, got sigma_max " +
                                format_number(sigma_max) + ", sigma_min " + format_number(sigma_min) + ", steps " +
                                std::to_string(steps));
}

std::vector<double> sigma_grid(const char* sampler, const std::vector<double>& sigmas, double sigma_max,
                               double sigma_min, int steps) {
  if (sigmas.empty()) {
    check_schedule(sampler, sigma_max, sigma_min, steps);
    return geometric_sigmas(sigma_max, sigma_min, steps);
  }
  check_sigmas(sampler, sigmas);
  if (sigmas.size() < 2)
    throw std::invalid_argument(std::string(sampler) + ": sigmas needs at least 2 levels, got 1 (" +
                                format_number(sigmas[0]) + ")");
  return sigmas;
}

void record(SampleResult& r, int64_t step, int every) {
  if (every > 0 && step % every == 0) r.trajectory.push_back(r.x.clone());
}

Tensor score_at(const ScoreFn& score, const Tensor& x, double sigma, SampleResult& r) {
  ++r.score_evals;
  return score(x, full({x.shape()[0]}, sigma, x.options()));
}

}  // namespace detail

Tensor langevin_step(const ScoreFn& score, const Tensor& x, const Tensor& sigma, double alpha, Generator& gen) {
  const Tensor z = randn(x.shape(), gen, x.options());
  return add_scaled(x, score(x, sigma), alpha, z, std::sqrt(2 * alpha));  // one pass over the particles
}

SampleResult langevin(const ScoreFn& score, const Tensor& x0, const LangevinOptions& o, Generator& gen) {
  detail::check_particles("langevin", x0);
  if (!(o.step_size > 0) || o.n_steps < 0)
    throw std::invalid_argument("langevin: need step_size > 0 and n_steps >= 0, got " + format_number(o.step_size) +
                                ", " + std::to_string(o.n_steps));
  NoGradGuard no_grad;
  const Tensor sigma = full({x0.shape()[0]}, o.sigma, x0.options());
  SampleResult r{x0.detach(), {}, 0};
  detail::record(r, 0, o.trajectory_every);
  for (int t = 1; t <= o.n_steps; ++t) {
    r.x = langevin_step(score, r.x, sigma, o.step_size, gen);
    ++r.score_evals;
    detail::record(r, t, o.trajectory_every);
    if (o.on_step) o.on_step(t, o.n_steps);
  }
  return r;
}

SampleResult annealed_langevin(const ScoreFn& score, const Tensor& x0, const AnnealedLangevinOptions& o, Generator& gen) {
  detail::check_particles("annealed_langevin", x0);
  if (o.sigmas.empty() || !(o.step_lr > 0) || o.steps_per_level < 0)
    throw std::invalid_argument("annealed_langevin: need a non-empty schedule, step_lr > 0 and steps_per_level >= 0, got " +
                                std::to_string(o.sigmas.size()) + " levels, step_lr " + format_number(o.step_lr) + ", " +
                                std::to_string(o.steps_per_level) + " steps per level");
  detail::check_sigmas("annealed_langevin", o.sigmas);
  NoGradGuard no_grad;
  const int64_t n = x0.shape()[0];
  const double sigma_last = o.sigmas.back();
  SampleResult r{x0.detach(), {}, 0};
  detail::record(r, 0, o.trajectory_every);
  int step = 0;
  const int64_t total = static_cast<int64_t>(o.sigmas.size()) * o.steps_per_level;
  for (double sigma_i : o.sigmas) {
    const Tensor sigma = full({n}, sigma_i, x0.options());
    const double alpha = o.step_lr * (sigma_i / sigma_last) * (sigma_i / sigma_last);
    for (int t = 0; t < o.steps_per_level; ++t) {
      r.x = langevin_step(score, r.x, sigma, alpha, gen);
      ++r.score_evals;
      detail::record(r, ++step, o.trajectory_every);
      if (o.on_step) o.on_step(step, total);
    }
  }
  if (o.denoise) r.x = r.x + detail::score_at(score, r.x, sigma_last, r) * (sigma_last * sigma_last);
  return r;
}

}  // namespace scorch
