// norm.cpp: GroupNorm and ConditionalInstanceNorm2dPlus (formulas in norm.h).
#include "nn/norm.h"

#include "autograd/ops.h"

namespace scorch::nn {

GroupNorm::GroupNorm(int64_t groups, int64_t channels, double eps) : groups_(groups), eps_(eps) {
  if (groups <= 0 || channels <= 0 || channels % groups != 0)
    throw std::invalid_argument("GroupNorm: " + std::to_string(channels) + " channels are not divisible into " +
                                std::to_string(groups) + " groups");
  if (!(eps >= 0)) throw std::invalid_argument("GroupNorm: eps must be >= 0, got " + format_number(eps));
  weight = register_parameter("weight", ones({channels}));
  bias = register_parameter("bias", zeros({channels}));
}

Tensor GroupNorm::forward(const Tensor& x) { return group_norm(x, groups_, weight, bias, eps_); }
Tensor GroupNorm::forward_silu(const Tensor& x) { return group_norm_silu(x, groups_, weight, bias, eps_); }

ConditionalInstanceNorm2dPlus::ConditionalInstanceNorm2dPlus(int64_t num_features, int64_t num_classes, Generator& gen,
                                                             bool bias)
    : bias_(bias) {
  if (num_features < 2 || num_classes <= 0)
    throw std::invalid_argument(
        "ConditionalInstanceNorm2dPlus: needs num_features >= 2 (an unbiased variance over "
        "channels) and num_classes >= 1, got " +
        std::to_string(num_features) + " and " + std::to_string(num_classes));
  embed = register_module("embed", std::make_shared<Embedding>(num_classes, (bias ? 3 : 2) * num_features, gen));
  // gamma and alpha start near 1 (N(1, 0.02)), beta at 0, as NCSN's embed.weight.data[...].normal_(1, 0.02).
  NoGradGuard no_grad;
  embed->weight.fill_(0.0);
  narrow(embed->weight, 1, 0, 2 * num_features).copy_(randn({num_classes, 2 * num_features}, gen) * 0.02 + 1.0);
}

Tensor ConditionalInstanceNorm2dPlus::forward(const Tensor& x, const Tensor& labels) {
  return cond_instance_norm_plus(x, labels, embed->weight, bias_);
}

namespace {

void check_cond_instance_norm_plus(const Tensor& x, const Tensor& labels, const Tensor& embed_weight, bool bias) {
  const std::string op = "ConditionalInstanceNorm2dPlus";
  if (!x.defined() || !labels.defined() || !embed_weight.defined())
    throw std::invalid_argument(op + ": x, labels and embed.weight must be defined");
  if (x.dim() != 4) throw std::invalid_argument(op + ": input " + to_string(x.shape()) + " must be [N, C, H, W]");
  const int64_t N = x.shape()[0], C = x.shape()[1], width = (bias ? 3 : 2) * C;
  if (C < 2)  // the unbiased variance over channels divides by C - 1: NaN in PyTorch, an error here
    throw std::invalid_argument(op + ": input " + to_string(x.shape()) + " has " + std::to_string(C) +
                                " channel(s); needs at least 2 (an unbiased variance over channels)");
  if (embed_weight.dim() != 2 || embed_weight.shape()[1] != width)
    throw std::invalid_argument(op + ": embed.weight " + to_string(embed_weight.shape()) + " must be [num_classes, " +
                                std::to_string(width) + "] for input " + to_string(x.shape()) +
                                (bias ? " (gamma, alpha, beta)" : " (gamma, alpha)"));
  if (labels.shape() != Shape{N})
    throw std::invalid_argument(op + ": labels " + to_string(labels.shape()) + " must be [" + std::to_string(N) +
                                "], one per sample of input " + to_string(x.shape()));
}

}  // namespace

Tensor cond_instance_norm_plus(const Tensor& x, const Tensor& labels, const Tensor& embed_weight, bool bias) {
  check_cond_instance_norm_plus(x, labels, embed_weight, bias);
  const int64_t N = x.shape()[0], C = x.shape()[1];
  Tensor rows;
  try {
    rows = one_hot(labels, embed_weight.shape()[0], embed_weight.options());
  } catch (const std::invalid_argument& e) {  // a label out of range: say which layer saw it
    throw std::invalid_argument("ConditionalInstanceNorm2dPlus: " + std::string(e.what()));
  }
  const Tensor e = matmul(rows, embed_weight);  // [N, 3C]: the labels' rows of embed.weight
  auto column = [&](int64_t k) { return reshape(narrow(e, 1, k * C, C), {N, C, 1, 1}); };  // gamma, alpha, beta

  const Tensor means = mean(x, {2, 3}, /*keepdim=*/true);  // [N, C, 1, 1]
  const Tensor centred = means - mean(means, {1}, true);
  const Tensor var = sum(square(centred), {1}, true) / static_cast<double>(C - 1);  // unbiased, as torch.var
  const Tensor h = instance_norm(x) + column(1) * (centred / sqrt(var + 1e-5));
  const Tensor out = column(0) * h;
  return bias ? out + column(2) : out;
}

}  // namespace scorch::nn
