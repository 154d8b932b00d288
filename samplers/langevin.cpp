#include "samplers/langevin.h"

#include <cmath>

#include "autograd/ops.h"
#include "samplers/schedule.h"

namespace scorch {

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
  detail::record_trajectory(r, 0, o.trajectory_every);
  for (int t = 1; t <= o.n_steps; ++t) {
    r.x = langevin_step(score, r.x, sigma, o.step_size, gen);
    ++r.score_evals;
    detail::record_trajectory(r, t, o.trajectory_every);
    if (o.on_step) o.on_step(t, o.n_steps);
  }
  return r;
}

SampleResult annealed_langevin(const ScoreFn& score, const Tensor& x0, const AnnealedLangevinOptions& o,
                               Generator& gen) {
  detail::check_particles("annealed_langevin", x0);
  if (o.sigmas.empty() || !(o.step_lr > 0) || o.steps_per_level < 0)
    throw std::invalid_argument(
        "annealed_langevin: need a non-empty schedule, step_lr > 0 and steps_per_level >= 0, got " +
        std::to_string(o.sigmas.size()) + " levels, step_lr " + format_number(o.step_lr) + ", " +
        std::to_string(o.steps_per_level) + " steps per level");
  detail::check_sigmas("annealed_langevin", o.sigmas);
  NoGradGuard no_grad;
  const int64_t n = x0.shape()[0];
  const double sigma_last = o.sigmas.back();
  SampleResult r{x0.detach(), {}, 0};
  detail::record_trajectory(r, 0, o.trajectory_every);
  int step = 0;
  const int64_t total = static_cast<int64_t>(o.sigmas.size()) * o.steps_per_level;
  for (double sigma_i : o.sigmas) {
    const Tensor sigma = full({n}, sigma_i, x0.options());
    const double alpha = o.step_lr * (sigma_i / sigma_last) * (sigma_i / sigma_last);
    for (int t = 0; t < o.steps_per_level; ++t) {
      r.x = langevin_step(score, r.x, sigma, alpha, gen);
      ++r.score_evals;
      detail::record_trajectory(r, ++step, o.trajectory_every);
      if (o.on_step) o.on_step(step, total);
    }
  }
  if (o.denoise) r.x = r.x + detail::score_at(score, r.x, sigma_last, r) * (sigma_last * sigma_last);
  return r;
}

}  // namespace scorch
