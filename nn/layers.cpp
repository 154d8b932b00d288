#include "nn/layers.h"

#include <cmath>

#include "autograd/ops.h"

namespace scorch::nn {

Linear::Linear(int64_t in_features, int64_t out_features, Generator& gen, bool with_bias) {
  if (in_features <= 0 || out_features <= 0)
    throw std::invalid_argument("Linear: features must be positive, got in " + std::to_string(in_features) + ", out " +
                                std::to_string(out_features));
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  auto uniform = [&](const Shape& shape) {
    NoGradGuard no_grad;
    return (rand(shape, gen) * (2 * bound) - bound).detach();
  };
  weight = register_parameter("weight", uniform({out_features, in_features}));
  if (with_bias) bias = register_parameter("bias", uniform({out_features}));
}

Tensor Linear::forward(const Tensor& x) {
  if (x.dim() == 0 || x.shape().back() != in_features())
    throw std::invalid_argument("Linear: input " + to_string(x.shape()) + " does not end in in_features " +
                                std::to_string(in_features()));
  return linear(x, weight, bias);
}

std::shared_ptr<Activation> SiLU() { return std::make_shared<Activation>([](const Tensor& x) { return silu(x); }); }
std::shared_ptr<Activation> Softplus() { return std::make_shared<Activation>([](const Tensor& x) { return softplus(x); }); }
std::shared_ptr<Activation> ReLU() { return std::make_shared<Activation>([](const Tensor& x) { return relu(x); }); }
std::shared_ptr<Activation> Tanh() { return std::make_shared<Activation>([](const Tensor& x) { return tanh(x); }); }

Sequential::Sequential(std::initializer_list<std::shared_ptr<UnaryModule>> modules) {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<UnaryModule> module) {
  register_module(std::to_string(layers_.size()), module);
  layers_.push_back(std::move(module));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& layer : layers_) h = layer->forward(h);
  return h;
}

}  // namespace scorch::nn
