#include "samplers/predictor_corrector.h"

#include <cmath>
#include <stdexcept>

#include "autograd/ops.h"

namespace scorch {
namespace {

struct Update {
  Tensor x;       // the next state
  Tensor x_mean;  // the same without the last noise
};

// One update at noise level sigma (a predictor steps to `next`); counts its score calls in r.
using UpdateFn = Update (*)(const ScoreFn& score, const Tensor& x, double sigma, double next, double snr,
                            Generator& gen, SampleResult& r);

Update reverse_diffusion(const ScoreFn& score, const Tensor& x, double sigma, double next, double, Generator& gen,
                         SampleResult& r) {
  const double var = sigma * sigma - next * next;
  const Tensor x_mean = x + detail::score_at(score, x, sigma, r) * var;
  return {x_mean + randn(x.shape(), gen, x.options()) * std::sqrt(var), x_mean};
}

Update ode(const ScoreFn& score, const Tensor& x, double sigma, double next, double, Generator&, SampleResult& r) {
  const Tensor x_next = x + detail::score_at(score, x, sigma, r) * (sigma * (sigma - next));
  return {x_next, x_next};
}

// Each sample's L2 norm, averaged over the batch.
double mean_norm(const Tensor& t) {
  const int64_t n = t.shape()[0];
  return mean(sqrt(sum(square(t.reshape({n, t.numel() / n})), {1}))).item();
}

Update langevin(const ScoreFn& score, const Tensor& x, double sigma, double, double snr, Generator& gen,
                SampleResult& r) {
  const Tensor s = detail::score_at(score, x, sigma, r);
  const Tensor z = randn(x.shape(), gen, x.options());
  const double ratio = snr * mean_norm(z) / mean_norm(s);
  const double eps = 2 * ratio * ratio;  // alpha = 1 for VE
  const Tensor x_mean = x + s * eps;
  return {x_mean + z * std::sqrt(2 * eps), x_mean};
}

// By name; "none" is nullptr.
UpdateFn predictor_named(const std::string& name) {
  if (name == "reverse_diffusion") return reverse_diffusion;
  if (name == "ode") return ode;
  if (name == "none") return nullptr;
  throw std::invalid_argument("pc_sampler: predictor must be reverse_diffusion, ode or none, got '" + name + "'");
}

UpdateFn corrector_named(const std::string& name) {
  if (name == "langevin") return langevin;
  if (name == "none") return nullptr;
  throw std::invalid_argument("pc_sampler: corrector must be langevin or none, got '" + name + "'");
}

}  // namespace

SampleResult pc_sampler(const ScoreFn& score, const Tensor& x0, const PcSamplerOptions& o, Generator& gen) {
  detail::check_particles("pc_sampler", x0);
  const UpdateFn predictor = predictor_named(o.predictor), corrector = corrector_named(o.corrector);
  if (!predictor && !corrector) throw std::invalid_argument("pc_sampler: predictor and corrector are both none");
  if (corrector && (!(o.snr > 0) || o.corrector_steps < 1))
    throw std::invalid_argument("pc_sampler: the langevin corrector needs snr > 0 and corrector_steps >= 1, got snr " +
                                format_number(o.snr) + ", corrector_steps " + std::to_string(o.corrector_steps));
  const std::vector<double> sigmas = detail::sigma_grid("pc_sampler", o.sigmas, o.sigma_max, o.sigma_min, o.steps);
  NoGradGuard no_grad;
  const int64_t levels = static_cast<int64_t>(sigmas.size());
  SampleResult r{x0.detach(), {}, 0};
  detail::record_trajectory(r, 0, o.trajectory_every);
  Update u{r.x, r.x};
  for (int64_t i = 0; i < levels; ++i) {
    const double next = i + 1 < levels ? sigmas[i + 1] : 0.0;
    for (int j = 0; corrector && j < o.corrector_steps; ++j) u = corrector(score, u.x, sigmas[i], next, o.snr, gen, r);
    if (predictor) u = predictor(score, u.x, sigmas[i], next, o.snr, gen, r);
    r.x = o.denoise && i + 1 == levels ? u.x_mean : u.x;
    detail::record_trajectory(r, i + 1, o.trajectory_every);
    if (o.on_step) o.on_step(i + 1, levels);
  }
  return r;
}

}  // namespace scorch
