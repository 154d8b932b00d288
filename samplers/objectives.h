// objectives.h: score-matching losses, each a scalar to minimise over the score's parameters.
//
//   dsm           one noise level:  x~ = x + sigma z,  L = mean_n 1/2 |s(x~, sigma) + z / sigma|^2
//                 (Vincent 2011: the minimiser is the score of the noised data)
//   annealed_dsm  sigma_n drawn uniformly from the schedule per sample, weighted by lambda = sigma^2:
//                 L = mean_n 1/2 sigma_n^2 |s(x~_n, sigma_n) + z_n / sigma_n|^2     (NCSN, Song & Ermon 2019)
//   ssm           sliced score matching with variance reduction (Song et al. 2019, eq. 8):
//                 L = mean_n [ v^T grad_x (v^T s(x)) + 1/2 |s(x)|^2 ],  v ~ N(0, I);
//                 the first term is a Hessian-vector product through double backward
//   esm           explicit score matching (Hyvarinen 2005): L = mean_n [ tr(grad_x s(x)) + 1/2 |s(x)|^2 ],
//                 the trace by one backward per dimension (cheap in 2-D)
//   log_uniform_dsm_loss  annealed_dsm with sigma_n = sigma_min (sigma_max / sigma_min)^u_n, u_n ~ U[0, 1): every
//                 noise level between the ends, not only the schedule's (the training of continuous-time VE
//                 models, Song et al. 2021, which samplers that evaluate the score between levels need)
//   denoising_score_loss  the annealed DSM loss for given draws: sigma [N] per sample and z shaped as x
//                 (the validation loss of the MNIST app, with the same draws at every evaluation)
// ssm and esm evaluate the score at noise level `sigma` (unconditional models ignore it) on x [N, D];
// dsm and annealed_dsm also take images x [N, C, H, W] (|.|^2 sums over every dim but the batch).
#pragma once
#include <vector>

#include "samplers/score.h"
#include "tensor/random.h"

namespace scorch {

Tensor dsm_loss(const ScoreFn& score, const Tensor& x, double sigma, Generator& gen);
Tensor annealed_dsm_loss(const ScoreFn& score, const Tensor& x, const std::vector<double>& sigmas, Generator& gen);
Tensor log_uniform_dsm_loss(const ScoreFn& score, const Tensor& x, double sigma_min, double sigma_max, Generator& gen);
Tensor denoising_score_loss(const ScoreFn& score, const Tensor& x, const Tensor& sigma, const Tensor& z);
Tensor sliced_score_matching_loss(const ScoreFn& score, const Tensor& x, double sigma, Generator& gen,
                                  int projections = 1);
Tensor explicit_score_matching_loss(const ScoreFn& score, const Tensor& x, double sigma);

}  // namespace scorch
