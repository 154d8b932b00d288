// norm.h: normalisation layers: GroupNorm (unet-small) and NCSN's ConditionalInstanceNorm2dPlus
// (refinenet).
//
// GroupNorm(groups, channels): y = group_norm(x, groups, weight, bias, eps) on x [N, channels, *];
// weight [channels] starts at ones and bias [channels] at zeros, as torch.nn.GroupNorm. forward_silu(x)
// gives silu(forward(x)) in one fused pass (group_norm_silu), the GN -> SiLU before every unet-small conv.
//
// ConditionalInstanceNorm2dPlus(C, num_classes, gen, bias): instance norm++ conditioned on a label y
// (the noise level index), exactly as NCSN's models/cond_refinenet_dilated.py. On x [N, C, H, W] and int64
// labels y [N], with e = embed(y) [N, 3C] split into gamma, alpha, beta ([N, 2C] and beta = 0 without bias):
//   mu_nc = mean of x over H, W        m_n = mean over c of mu_nc      v_n = unbiased variance over c of mu_nc
//   h = instance_norm(x, eps 1e-5) + alpha (mu_nc - m_n) / sqrt(v_n + 1e-5)
//   out = gamma h + beta
// The alpha term puts back the relative channel means that instance norm removes (in images, the
// colours: NCSN adds it against colour shifts). v_n is torch.var's unbiased variance, so C must be at least 2
// (PyTorch returns NaN for C = 1; here the constructor and the forward throw).
// Parameter: embed.weight [num_classes, 3C] (2C without bias), its first 2C columns N(1, 0.02), the rest 0.
// The whole forward is made of differentiable ops (embed as one_hot(y) @ embed.weight), so every
// derivative, also of second order, comes from those ops.
// Reference: Song & Ermon, "Generative Modeling by Estimating Gradients of the Data Distribution"
// (NeurIPS 2019), the architecture appendix; ermongroup/ncsn, models/cond_refinenet_dilated.py.
#pragma once
#include "nn/layers.h"

namespace scorch::nn {

class GroupNorm : public UnaryModule {
 public:
  GroupNorm(int64_t groups, int64_t channels, double eps = 1e-5);
  Tensor forward(const Tensor& x) override;
  Tensor forward_silu(const Tensor& x);  // silu(forward(x)), fused
  int64_t groups() const { return groups_; }

  Tensor weight, bias;

 private:
  int64_t groups_;
  double eps_;
};

class ConditionalInstanceNorm2dPlus : public Module {
 public:
  ConditionalInstanceNorm2dPlus(int64_t num_features, int64_t num_classes, Generator& gen, bool bias = true);
  Tensor forward(const Tensor& x, const Tensor& labels);
  Tensor operator()(const Tensor& x, const Tensor& labels) { return forward(x, labels); }

  std::shared_ptr<Embedding> embed;

 private:
  bool bias_;
};

// The forward of ConditionalInstanceNorm2dPlus as a function of its parameter, embed_weight
// [num_classes, 3C] (2C when !bias); what the module calls, and what gradchecks differentiate.
Tensor cond_instance_norm_plus(const Tensor& x, const Tensor& labels, const Tensor& embed_weight, bool bias = true);

}  // namespace scorch::nn
