// gmm.h: a Gaussian mixture p(x) = sum_k w_k N(x; mu_k, Sigma_k) with its exact score.
//
// The score is  grad log p(x) = -sum_k r_k(x) Sigma_k^-1 (x - mu_k),  with responsibilities
// r_k = w_k N_k(x) / p(x) computed from log-densities by log-sum-exp, so points far from every mode
// (where each N_k underflows) still get the right field. Adding noise N(0, sigma^2 I) to samples gives
// the mixture with covariances Sigma_k + sigma^2 I, so the true score at noise level sigma is the same
// formula with those covariances (Song & Ermon 2019, the targets of denoising score matching).
// Scores and samples are computed in double; log_prob is built from autograd ops so that its gradient
// can be checked against score().
#pragma once
#include <vector>

#include "samplers/score.h"
#include "tensor/random.h"

namespace scorch {

class GaussianMixture : public ScoreFn {
 public:
  // weights [K] (normalised here), means [K, D], covariances [K, D, D] (symmetric positive definite).
  GaussianMixture(std::vector<double> weights, std::vector<std::vector<double>> means,
                  std::vector<std::vector<std::vector<double>>> covariances);
  // Diagonal covariances: variances [K, D].
  static GaussianMixture diagonal(std::vector<double> weights, std::vector<std::vector<double>> means,
                                  std::vector<std::vector<double>> variances);

  int dim() const { return static_cast<int>(means_[0].size()); }
  int components() const { return static_cast<int>(weights_.size()); }
  const std::vector<double>& weights() const { return weights_; }
  const std::vector<std::vector<double>>& means() const { return means_; }
  const std::vector<std::vector<double>>& covariances() const { return covariances_; }  // K x (D*D), row-major

  Tensor sample(int64_t n, Generator& gen, DType dtype = kFloat32) const;  // [n, D]
  Tensor log_prob(const Tensor& x) const;                                  // [N], differentiable in x
  Tensor score(const Tensor& x) const;                                     // [N, D], exact, sigma = 0
  // Score of the mixture convolved with N(0, sigma_i^2 I), row by row (sigma [N] or 0-d).
  Tensor score(const Tensor& x, const Tensor& sigma) const override;
  // Density up to no constant, for plots and the "high-density region" mask.
  std::vector<double> density(const Tensor& x) const;

 private:
  struct Component {                // the Gaussian of one mode at one noise level
    std::vector<double> precision;  // D x D, row-major
    double log_norm;                // log w_k - (D log 2 pi + log det Sigma_k) / 2
  };
  std::vector<Component> components_at(double sigma) const;
  void score_row(const double* x, const std::vector<Component>& comps, double* out, std::vector<double>& logits,
                 std::vector<double>& pull) const;

  std::vector<double> weights_;
  std::vector<std::vector<double>> means_;
  std::vector<std::vector<double>> covariances_;  // K x (D*D), row-major
  std::vector<std::vector<double>> cholesky_;     // K x (D*D), lower triangular, for sampling
};

}  // namespace scorch
