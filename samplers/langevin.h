// langevin.h: Langevin dynamics and its annealed version, batched over particles: x is [N, ...], one
// particle per index of dim 0 ([N, D] points, [N, C, H, W] images); sigma is [N].
//
//   langevin_step   x <- x + alpha s(x, sigma) + sqrt(2 alpha) z,  z ~ N(0, I)   (the one update)
//   langevin        that step n_steps times at one noise level, step size eta
//   annealed        NCSN (Song & Ermon 2019, Alg. 1): for each sigma_i of the schedule, T steps with
//                   alpha_i = step_lr sigma_i^2 / sigma_L^2; then optionally one denoising step
//                   x <- x + sigma_L^2 s(x, sigma_L) (Jolicoeur-Martineau et al. 2020), no noise.
// Runs without recording a graph. Same generator state, same particles.
#pragma once
#include <functional>
#include <vector>

#include "samplers/score.h"
#include "tensor/random.h"

namespace scorch {

// Called after every update with (steps done, total steps): progress bars, logging.
using StepCallback = std::function<void(int64_t, int64_t)>;

// What every sampler returns (langevin.h, ode.h, predictor_corrector.h).
struct SampleResult {
  Tensor x;                        // final particles, the shape of x0
  std::vector<Tensor> trajectory;  // x0 and then x after every `trajectory_every` steps (when asked)
  int64_t score_evals = 0;         // calls of the ScoreFn, each on the whole batch
};

Tensor langevin_step(const ScoreFn& score, const Tensor& x, const Tensor& sigma, double alpha, Generator& gen);

struct LangevinOptions {
  double step_size = 0.1;
  int n_steps = 1000;
  double sigma = 0.01;       // noise level at which the score is evaluated (unconditional scores ignore it)
  int trajectory_every = 0;  // 0: no trajectory
  StepCallback on_step = {};
};
// score_evals = n_steps.
SampleResult langevin(const ScoreFn& score, const Tensor& x0, const LangevinOptions& options, Generator& gen);

struct AnnealedLangevinOptions {
  std::vector<double> sigmas = {};  // decreasing
  int steps_per_level = 100;
  double step_lr = 5e-5;
  bool denoise = true;
  int trajectory_every = 0;
  StepCallback on_step = {};
};
// score_evals = L T, plus 1 with denoise.
SampleResult annealed_langevin(const ScoreFn& score, const Tensor& x0, const AnnealedLangevinOptions& options,
                               Generator& gen);

// Shared by the samplers of this folder.
namespace detail {
void check_particles(const char* sampler, const Tensor& x0);  // x0 [N, ...] with N >= 1 and dim >= 2
void check_sigmas(const char* sampler, const std::vector<double>& sigmas);  // finite, > 0, decreasing
void check_schedule(const char* sampler, double sigma_max, double sigma_min, int steps);  // max > min > 0, steps >= 2
// `sigmas` when given (checked, at least 2), else geometric_sigmas(sigma_max, sigma_min, steps).
std::vector<double> sigma_grid(const char* sampler, const std::vector<double>& sigmas, double sigma_max,
                               double sigma_min, int steps);
void record(SampleResult& r, int64_t step, int every);  // appends a copy of r.x when every > 0 divides step
// s(x, sigma) with sigma the same for every particle; counts the call in r.score_evals.
Tensor score_at(const ScoreFn& score, const Tensor& x, double sigma, SampleResult& r);
}  // namespace detail

}  // namespace scorch
