#include "samplers/sampler.h"

#include <cmath>
#include <stdexcept>
#include <string>

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
    throw std::invalid_argument(
        std::string(sampler) + ": need sigma_max > sigma_min > 0 and steps >= 2, got sigma_max " +
        format_number(sigma_max) + ", sigma_min " + format_number(sigma_min) + ", steps " + std::to_string(steps));
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

void record_trajectory(SampleResult& r, int64_t step, int every) {
  if (every > 0 && step % every == 0) r.trajectory.push_back(r.x.clone());
}

Tensor score_at(const ScoreFn& score, const Tensor& x, double sigma, SampleResult& r) {
  ++r.score_evals;
  return score(x, full({x.shape()[0]}, sigma, x.options()));
}

}  // namespace detail

}  // namespace scorch
