// predictor_corrector.h: the predictor-corrector (PC) sampler of Song et al. 2021 ("Score-Based
// Generative Modeling through SDEs", Alg. 2 and App. G; score_sde's sampling.py) for the
// variance-exploding process, whose marginal at noise level sigma is p_data * N(0, sigma^2 I).
//
// On a grid sigma_0 > ... > sigma_{N-1} (geometric from sigma_max to sigma_min by default) with
// sigma_N = 0, starting from x0 = sigma_max z (z ~ N(0, I), drawn by the caller; any shape [N, ...]),
// for i = 0 .. N-1: `corrector_steps` corrections at sigma_i, then one predictor step to sigma_{i+1}.
//
// Predictors (one score evaluation each):
//   reverse_diffusion  x_mean = x + (sigma_i^2 - sigma_{i+1}^2) s(x, sigma_i),
//                      x = x_mean + sqrt(sigma_i^2 - sigma_{i+1}^2) z
//                      the reverse SDE discretised as the forward one (score_sde's ReverseDiffusionPredictor)
//   ode                x = x + sigma_i (sigma_i - sigma_{i+1}) s(x, sigma_i)
//                      an Euler step in sigma of the probability-flow ODE (ode.h's euler); score_sde's
//                      probability_flow predictor steps (sigma_i^2 - sigma_{i+1}^2) / 2 instead (Euler in
//                      sigma^2), which halves the last step, to sigma = 0
//   none               no predictor: annealed Langevin with SNR-chosen steps, ending at sigma_{N-1}
// Correctors:
//   langevin           z ~ N(0, I);  eps = 2 alpha (snr ||z|| / ||s(x, sigma_i)||)^2,  alpha = 1 for VE;
//                      x_mean = x + eps s;  x = x_mean + sqrt(2 eps) z
//                      (score_sde's LangevinCorrector: the norms are each sample's L2 norm averaged over
//                      the batch, so one eps serves the whole batch; snr 0.16 is its VE setting)
//   none
// With denoise (the default; score_sde's noise_removal) the result is the last x_mean: the final
// reverse_diffusion step, to sigma = 0, adds no noise and is NCSN's denoising step x + sigma_{N-1}^2 s.
// Score evaluations: N (predictor) + N corrector_steps (corrector).
#pragma once
#include <string>
#include <vector>

#include "samplers/langevin.h"

namespace scorch {

struct PcSamplerOptions {
  std::string predictor = "reverse_diffusion";  // "reverse_diffusion", "ode" or "none"
  std::string corrector = "langevin";           // "langevin" or "none"
  // The grid: `sigmas` when given (strictly decreasing, > 0), else geometric_sigmas(sigma_max, sigma_min,
  // steps); the defaults are the MNIST schedule of reference-models.md.
  std::vector<double> sigmas = {};
  double sigma_max = 1.0;
  double sigma_min = 0.01;
  int steps = 1000;  // levels N, >= 2 (score_sde's VE default)
  double snr = 0.16;
  int corrector_steps = 1;
  bool denoise = true;
  int trajectory_every = 0;   // x0, then x after every k levels
  StepCallback on_step = {};  // (levels done, N)
};
SampleResult pc_sampler(const ScoreFn& score, const Tensor& x0, const PcSamplerOptions& options, Generator& gen);

}  // namespace scorch
