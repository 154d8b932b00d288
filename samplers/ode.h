// ode.h: samplers that integrate the probability-flow ODE of the variance-exploding (VE) process,
// whose marginal at noise level sigma is p_sigma = p_data * N(0, sigma^2 I) (Song et al. 2021,
// "Score-Based Generative Modeling through SDEs", eq. 13; Karras et al. 2022, "Elucidating the Design
// Space of Diffusion-Based Generative Models", eq. 4 with sigma(t) = t):
//
//   dx/dsigma = d(x, sigma) = -sigma s(x, sigma),        s(x, sigma) ~ grad_x log p_sigma(x),
//
// from sigma_max down to sigma_min: particles of law p_{sigma_max} arrive with law p_{sigma_min}. The
// caller draws x0 = sigma_max z, z ~ N(0, I), any shape [N, ...] (particles along dim 0), which stands
// for p_{sigma_max} when sigma_max dwarfs the data's spread and its distance from 0 (a data mean mu
// is left with a bias of about mu s / sigma_max, s the data's scale).
//
// The variable is sigma itself, not log sigma nor score_sde's t: while sigma dwarfs the data,
// x - E[x_data] grows like sigma, so trajectories are straight lines in sigma, where an Euler step is
// exact and RK45 grows its step 10x at a time; near the data the step is bounded by about sigma in
// either variable (Karras et al. 2022, sec. 3).
//
// Methods, on a grid sigma_0 > sigma_1 > ... > sigma_{K-1}, with h = sigma_{i+1} - sigma_i < 0:
//   euler   x_{i+1} = x_i + h d(x_i, sigma_i)                                      1 evaluation a step
//   heun    x' = x_i + h d_i;  x_{i+1} = x_i + h (d_i + d(x', sigma_{i+1})) / 2      2 a step
//           (Karras et al. 2022, Alg. 1, on any grid)
//   rk45    Dormand & Prince (1980) 5(4), adaptive, from sigma_0 to sigma_{K-1}, the interior of the
//           grid unused. With the stages k_j, the step x_new = x + h sum_j b_j k_j is accepted when
//             err = || h sum_j e_j k_j / (atol + rtol max(|x|, |x_new|)) ||_rms < 1,
//           the RMS over every element of the batch (scipy's solve_ivp; so a particle's path depends on
//           its batch); then h *= min(10, 0.9 err^(-1/5)), else h *= max(0.2, 0.9 err^(-1/5)) and the
//           step is tried again, with no growth right after a rejection. FSAL: the last stage, d(x_new), is the
//           next step's first, so a step costs 6 evaluations; the start costs 2 (d(x0) and the trial
//           evaluation of scipy's first-step rule, Hairer, Norsett & Wanner, "Solving ODEs I", II.4).
//           rtol = atol = 1e-5 as score_sde's ode sampler; it throws past max_evals evaluations.
// With denoise (the default) sigma = 0 ends the grid: the last step, from sigma_min to 0, is Euler
// (there is no score at 0), x += sigma_min^2 s(x, sigma_min): NCSN's denoising step, Tweedie's
// E[x_data | x], and EDM's last step all at once. So with K grid points, euler makes K evaluations,
// heun 2K - 1, and rk45 its own count + 1.
//
// edm_sampler: Karras et al. 2022, Alg. 2: heun on edm_sigmas(sigma_max, sigma_min, steps, rho), with
// optional "churn": before step i, where S_tmin <= sigma_i <= S_tmax, raise the noise level to
// sigma' = sigma_i (1 + gamma), gamma = min(S_churn / steps, sqrt(2) - 1), by x += S_noise
// sqrt(sigma'^2 - sigma_i^2) z, and step from sigma'. S_churn = 0 (the default) is Alg. 1: deterministic.
// Steps 18, rho 7 are EDM's CIFAR-10 settings (35 evaluations).
//
// All run without recording a graph; score_evals counts calls of the ScoreFn, each on the whole batch.
// NOTE: euler and heun evaluate the score on the grid only, so a model that knows only its training
// levels (refinenet) runs on its own schedule; rk45, edm_sigmas and churn ask for sigmas in between.
#pragma once
#include <limits>
#include <string>
#include <vector>

#include "samplers/langevin.h"

namespace scorch {

struct OdeSamplerOptions {
  std::string method = "heun";  // "euler", "heun" or "rk45"
  // The grid: `sigmas` when given (strictly decreasing, > 0), else geometric_sigmas(sigma_max, sigma_min,
  // steps); the defaults are the MNIST schedule of reference-models.md.
  std::vector<double> sigmas = {};
  double sigma_max = 1.0;
  double sigma_min = 0.01;
  int steps = 100;                  // grid points, >= 2
  double rtol = 1e-5, atol = 1e-5;  // rk45
  int64_t max_evals = 10000;        // rk45
  bool denoise = true;
  int trajectory_every = 0;  // x0, then x after every k steps (rk45: accepted steps); the step to 0 counts
  // (steps done, of total); rk45, whose total is unknown: (thousandths of the way in log sigma, 1000).
  StepCallback on_step = {};
};
SampleResult ode_sampler(const ScoreFn& score, const Tensor& x0, const OdeSamplerOptions& options);

struct EdmSamplerOptions {
  double sigma_max = 1.0;
  double sigma_min = 0.01;
  int steps = 18;  // grid points, >= 2
  double rho = 7.0;
  double s_churn = 0, s_tmin = 0, s_tmax = std::numeric_limits<double>::infinity(), s_noise = 1;
  bool denoise = true;
  int trajectory_every = 0;
  StepCallback on_step = {};
};
// Deterministic (s_churn = 0); the overload with a Generator also allows s_churn > 0.
SampleResult edm_sampler(const ScoreFn& score, const Tensor& x0, const EdmSamplerOptions& options);
SampleResult edm_sampler(const ScoreFn& score, const Tensor& x0, const EdmSamplerOptions& options, Generator& gen);

}  // namespace scorch
