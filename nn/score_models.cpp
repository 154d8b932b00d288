#include "nn/score_models.h"

#include "autograd/ops.h"
#include "nn/refinenet.h"
#include "nn/unet.h"

namespace scorch::nn {
namespace {

// sigma [N] (or 0-d, shared by every row) as a column [N, 1] of x's dtype.
Tensor sigma_column(const Tensor& x, const Tensor& sigma) {
  const int64_t n = x.shape()[0];
  if (!sigma.defined() || (sigma.numel() != 1 && (sigma.dim() != 1 || sigma.shape()[0] != n)))
    throw std::invalid_argument("score model: sigma " + describe(sigma) + " must be [" + std::to_string(n) +
                                "] or a scalar for x " + describe(x));
  return expand(reshape(sigma, {-1, 1}), {n, 1});
}

void check_input(const Tensor& x, int64_t dim) {
  if (!x.defined() || x.dim() != 2 || x.shape()[1] != dim)
    throw std::invalid_argument("score model: x must be [N, " + std::to_string(dim) + "], got " + describe(x));
}

}  // namespace

MlpScore::MlpScore(Generator& gen, Options options) : options_(options) {
  const int64_t in = options.dim + (options.conditional ? 1 : 0), h = options.hidden;
  auto act = [&] { return options.conditional ? SiLU() : Softplus(); };
  net_ = register_module("net", std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<UnaryModule>>{
                                    std::make_shared<Linear>(in, h, gen), act(), std::make_shared<Linear>(h, h, gen),
                                    act(), std::make_shared<Linear>(h, options.dim, gen)}));
}

Tensor MlpScore::forward(const Tensor& x, const Tensor& sigma) {
  check_input(x, options_.dim);
  if (!options_.conditional) return net_->forward(x);
  const Tensor s = sigma_column(x, sigma);
  return net_->forward(concat({x, log(s)}, 1)) / s;
}

std::shared_ptr<ScoreModel> make_score_model(std::string_view name, Generator& gen, const std::vector<double>& sigmas) {
  if (name == "mlp") return std::make_shared<MlpScore>(gen, MlpScore::Options{.conditional = true});
  if (name == "mlp-uncond") return std::make_shared<MlpScore>(gen, MlpScore::Options{.conditional = false});
  if (name == "unet-small") return std::make_shared<UNetSmall>(gen, UNetSmall::Options{});
  if (name == "refinenet") {
    if (sigmas.empty())
      throw std::invalid_argument("make_score_model: refinenet needs the noise levels it is conditioned on");
    return std::make_shared<RefineNet>(
        gen, RefineNet::Options{.ngf = 16, .num_classes = static_cast<int64_t>(sigmas.size()), .sigmas = sigmas});
  }
  throw std::invalid_argument("unknown score model '" + std::string(name) +
                              "' (known: mlp, mlp-uncond, unet-small, refinenet)");
}

}  // namespace scorch::nn
