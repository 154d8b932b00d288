// sampler.h: what every sampler of this folder shares (langevin.h, ode.h, predictor_corrector.h): the
// result it returns, the step callback, and the argument checks and helpers of their loops.
#pragma once
#include <functional>
#include <vector>

#include "samplers/score.h"
#include "tensor/tensor.h"

namespace scorch {

// Called after every update with (steps done, total steps): progress bars, logging.
using StepCallback = std::function<void(int64_t, int64_t)>;

// What every sampler returns (langevin.h, ode.h, predictor_corrector.h).
struct SampleResult {
  Tensor x;                        // final particles, the shape of x0
  std::vector<Tensor> trajectory;  // x0 and then x after every `trajectory_every` steps (when asked)
  int64_t score_evals = 0;         // calls of the ScoreFn, each on the whole batch
};

// Shared by the samplers of this folder.
namespace detail {
void check_particles(const char* sampler, const Tensor& x0);                // x0 [N, ...] with N >= 1 and dim >= 2
void check_sigmas(const char* sampler, const std::vector<double>& sigmas);  // finite, > 0, decreasing
void check_schedule(const char* sampler, double sigma_max, double sigma_min, int steps);  // max > min > 0, steps >= 2
// `sigmas` when given (checked, at least 2), else geometric_sigmas(sigma_max, sigma_min, steps).
std::vector<double> sigma_grid(const char* sampler, const std::vector<double>& sigmas, double sigma_max,
                               double sigma_min, int steps);
void record_trajectory(SampleResult& r, int64_t step, int every);  // appends a copy of r.x when every > 0 divides step
// s(x, sigma) with sigma the same for every particle; counts the call in r.score_evals.
Tensor score_at(const ScoreFn& score, const Tensor& x, double sigma, SampleResult& r);
}  // namespace detail

}  // namespace scorch
