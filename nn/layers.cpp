#include "nn/layers.h"

#include <cmath>

#include "autograd/ops.h"

namespace scorch::nn {
namespace {

// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for the weight (kaiming_uniform_ with
// a = sqrt(5)) and the bias of Linear and Conv2d.
Tensor fan_in_uniform(const Shape& shape, int64_t fan_in, Generator& gen) {
  NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return (rand(shape, gen) * (2 * bound) - bound).detach();
}

}  // namespace

Linear::Linear(int64_t in_features, int64_t out_features, Generator& gen, bool with_bias) {
  if (in_features <= 0 || out_features <= 0)
    throw std::invalid_argument("Linear: features must be positive, got in " + std::to_string(in_features) + ", out " +
                                std::to_string(out_features));
  weight = register_parameter("weight", fan_in_uniform({out_features, in_features}, in_features, gen));
  if (with_bias) bias = register_parameter("bias", fan_in_uniform({out_features}, in_features, gen));
}

Tensor Linear::forward(const Tensor& x) {
  if (x.dim() == 0 || x.shape().back() != in_features())
    throw std::invalid_argument("Linear: input " + to_string(x.shape()) + " does not end in in_features " +
                                std::to_string(in_features()));
  return linear(x, weight, bias);
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, Generator& gen, Conv2dOptions options,
               bool with_bias)
    : options(options) {
  if (in_channels <= 0 || out_channels <= 0 || kernel <= 0)
    throw std::invalid_argument("Conv2d: channels and kernel must be positive, got in " + std::to_string(in_channels) +
                                ", out " + std::to_string(out_channels) + ", kernel " + std::to_string(kernel));
  const int64_t fan_in = in_channels * kernel * kernel;
  weight = register_parameter("weight", fan_in_uniform({out_channels, in_channels, kernel, kernel}, fan_in, gen));
  if (with_bias) bias = register_parameter("bias", fan_in_uniform({out_channels}, fan_in, gen));
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, options); }

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
