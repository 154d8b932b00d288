// score_models.h: the score networks of shared/spec/reference-models.md.
//
// A ScoreModel maps (x [N, D] or images [N, C, H, W], sigma [N]) to s(x, sigma), shaped as x.
// samplers/score.h's ModelScore adapts one to the samplers' ScoreFn (nn knows no samplers).
//   mlp         [x, log sigma] -> Linear(3,128) -> SiLU -> Linear(128,128) -> SiLU -> Linear(128,2),
//               divided by sigma (noise-conditional; 17,282 parameters)
//   mlp-uncond  x -> Linear(2,128) -> Softplus -> Linear(128,128) -> Softplus -> Linear(128,2)
//               (NCSN's toy model; ignores sigma; 17,154 parameters)
//   unet-small  the MNIST U-Net on [N, 1, 28, 28] (nn/unet.h; 1,466,049 parameters), divided by sigma
//   refinenet   NCSN's CondRefineNetDilated, ngf 16, on [N, 1, 28, 28] (nn/refinenet.h; 518,817
//               parameters); sigma must be a level of the MNIST schedule (geometric 1 -> 0.01, L = 10).
//               NOTE: its output is the score itself, not divided by sigma.
#pragma once
#include <string_view>
#include <vector>

#include "nn/layers.h"

namespace scorch::nn {

class ScoreModel : public Module {
 public:
  virtual Tensor forward(const Tensor& x, const Tensor& sigma) = 0;
};

// Both MLPs of the spec: `conditional` (mlp: SiLU, input [x, log sigma], output / sigma) or not
// (mlp-uncond: Softplus, input x, sigma ignored).
class MlpScore : public ScoreModel {
 public:
  struct Options {
    bool conditional = true;
    int64_t dim = 2, hidden = 128;
  };
  MlpScore(Generator& gen, Options options);
  Tensor forward(const Tensor& x, const Tensor& sigma) override;

 private:
  Options options_;
  std::shared_ptr<Sequential> net_;
};

// "mlp", "mlp-uncond", "unet-small" (nn/unet.h, default options) or "refinenet" (nn/refinenet.h, ngf 16,
// conditioned on the noise levels `sigmas`, which it needs); throws naming the known models otherwise.
std::shared_ptr<ScoreModel> make_score_model(std::string_view name, Generator& gen,
                                             const std::vector<double>& sigmas = {});

}  // namespace scorch::nn
