#include "nn/score_models.h"

#include "autograd/ops.h"

namespace scorch::nn {
namespace {

// sigma [N] (or 0-d, shared by every row) as a column [N, 1] of x's dtype.
Tensor sigma_column(const Tensor& x, const Tensor& sigma) {
  const int64_t n = x.shape()[0];
  if (sigma.numel() != 1 && (sigma.dim() != 1 || sigma.shape()[0] != n))
    throw std::invalid_argument("score model: sigma " + describe(sigma) + " must be [" + std::to_string(n) +
                                "] or a scalar for x " + describe(x));
  return expand(reshape(sigma, {-1, 1}), {n, 1});
}

void check_input(const Tensor& x, int64_t dim) {
  if (x.dim() != 2 || x.shape()[1] != dim)
    throw std::invalid_argument("score model: x must be [N, " + std::to_string(dim) + "], got " + describe(x));
}

}  // namespace

MlpScore::MlpScore(Generator& gen, int64_t dim, int64_t hidden) : dim_(dim) {
  net_ = register_module("net", std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<UnaryModule>>{
                                    std::make_shared<Linear>(dim + 1, hidden, gen), SiLU(),
                                    std::make_shared<Linear>(hidden, hidden, gen), SiLU(),
                                    std::make_shared<Linear>(hidden, dim, gen)}));
}

Tensor MlpScore::forward(const Tensor& x, const Tensor& sigma) {
  check_input(x, dim_);
  const Tensor s = sigma_column(x, sigma);
  return net_->forward(concat({x, log(s)}, 1)) / s;
}

MlpUncondScore::MlpUncondScore(Generator& gen, int64_t dim, int64_t hidden) : dim_(dim) {
  net_ = register_module("net", std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<UnaryModule>>{
                                    std::make_shared<Linear>(dim, hidden, gen), Softplus(),
                                    std::make_shared<Linear>(hidden, hidden, gen), Softplus(),
                                    std::make_shared<Linear>(hidden, dim, gen)}));
}

Tensor MlpUncondScore::forward(const Tensor& x, const Tensor&) {
  check_input(x, dim_);
  return net_->forward(x);
}

std::shared_ptr<ScoreModel> make_score_model(std::string_view name, Generator& gen) {
  if (name == "mlp") return std::make_shared<MlpScore>(gen);
  if (name == "mlp-uncond") return std::make_shared<MlpUncondScore>(gen);
  throw std::invalid_argument("unknown score model '" + std::string(name) + "' (known: mlp, mlp-uncond)");
}

}  // namespace scorch::nn
