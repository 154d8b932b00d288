// score.h: ScoreFn, what every sampler and objective evaluates: s(x, sigma) ~ grad_x log p_sigma(x),
// the score of the data density convolved with N(0, sigma^2 I).
//
// x is [N, ...] (points [N, D], images [N, C, H, W]); sigma is [N] (one noise level per particle;
// samplers pass a constant). An analytic score (GaussianMixture) and a trained network (ModelScore)
// both implement it, so every sampler runs on either.
#pragma once
#include <memory>

#include "nn/score_models.h"
#include "tensor/tensor.h"

namespace scorch {

class ScoreFn {
 public:
  virtual ~ScoreFn() = default;
  virtual Tensor score(const Tensor& x, const Tensor& sigma) const = 0;
  Tensor operator()(const Tensor& x, const Tensor& sigma) const { return score(x, sigma); }
};

// A trained network as a ScoreFn (evaluated as is: wrap calls in NoGradGuard when sampling). The
// adapter lives here, above nn, so that the models know nothing of the samplers that use them.
class ModelScore : public ScoreFn {
 public:
  explicit ModelScore(std::shared_ptr<nn::ScoreModel> model) : model_(std::move(model)) {}
  Tensor score(const Tensor& x, const Tensor& sigma) const override { return model_->forward(x, sigma); }

 private:
  std::shared_ptr<nn::ScoreModel> model_;
};

}  // namespace scorch
