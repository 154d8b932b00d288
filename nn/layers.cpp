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

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim, Generator& gen) {
  if (num_embeddings <= 0 || embedding_dim <= 0)
    throw std::invalid_argument("Embedding: sizes must be positive, got " + std::to_string(num_embeddings) + " x " +
                                std::to_string(embedding_dim));
  weight = register_parameter("weight", randn({num_embeddings, embedding_dim}, gen));
}

// [*, num] @ [num, dim] -> [*, dim]: matmul broadcasts W over the label dims.
Tensor Embedding::forward(const Tensor& labels) {
  return matmul(one_hot(labels, num_embeddings(), weight.options()), weight);
}

Tensor one_hot(const Tensor& labels, int64_t num_classes, TensorOptions options) {
  if (!labels.defined() || labels.dtype() != kInt64)
    throw std::invalid_argument("one_hot: labels must be int64, got " +
                                (labels.defined() ? describe(labels) : std::string("undefined")));
  if (num_classes <= 0)
    throw std::invalid_argument("one_hot: num_classes must be positive, got " + std::to_string(num_classes));
  const std::vector<double> values = labels.values();  // int64 labels below 2^53 are exact in double
  std::vector<double> hot(values.size() * num_classes, 0.0);
  for (size_t i = 0; i < values.size(); ++i) {
    if (!(values[i] >= 0 && values[i] < static_cast<double>(num_classes)))
      throw std::invalid_argument("one_hot: label " + format_number(values[i]) + " at index " + std::to_string(i) +
                                  " is out of range [0, " + std::to_string(num_classes) + ")");
    hot[i * num_classes + static_cast<int64_t>(values[i])] = 1.0;
  }
  Shape shape = labels.shape();
  shape.push_back(num_classes);
  options.requires_grad = false;
  return from_vector(hot, shape, options);
}

std::shared_ptr<Activation> SiLU() {
  return std::make_shared<Activation>([](const Tensor& x) { return silu(x); });
}
std::shared_ptr<Activation> Softplus() {
  return std::make_shared<Activation>([](const Tensor& x) { return softplus(x); });
}
std::shared_ptr<Activation> ReLU() {
  return std::make_shared<Activation>([](const Tensor& x) { return relu(x); });
}
std::shared_ptr<Activation> Tanh() {
  return std::make_shared<Activation>([](const Tensor& x) { return tanh(x); });
}

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
