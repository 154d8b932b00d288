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
#include <vector>

#include "samplers/sampler.h"
#include "samplers/score.h"
#include "tensor/random.h"

namespace scorch {

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

}  // namespace scorch
