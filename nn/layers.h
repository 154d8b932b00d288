// layers.h: Linear, Conv2d, Embedding, the activations as modules, and Sequential.
//
// Linear(in, out): y = x W^T + b, W [out, in], b [out], x [..., in] -> y [..., out].
// Conv2d(in, out, kernel): y = conv2d(x, W, b) (autograd/ops/conv2d.h), W [out, in, kernel, kernel].
// Both are initialised as PyTorch's nn.Linear and nn.Conv2d: W and b uniform on
// [-1/sqrt(fan_in), 1/sqrt(fan_in)], fan_in = in (x kernel^2) (kaiming_uniform_ with a = sqrt(5) gives
// exactly this bound for W).
// Embedding(num, dim): rows of W [num, dim] picked by int64 labels [*] -> [*, dim], computed as
// one_hot(labels) @ W so that W gets its gradient from matmul (gW = one_hot^T g: row k sums the
// gradients of the labels equal to k). Initialised N(0, 1), as torch.nn.Embedding.
#pragma once
#include <functional>
#include <initializer_list>

#include "autograd/ops/conv2d.h"
#include "nn/module.h"
#include "tensor/random.h"

namespace scorch::nn {

class Linear : public UnaryModule {
 public:
  Linear(int64_t in_features, int64_t out_features, Generator& gen, bool bias = true);
  Tensor forward(const Tensor& x) override;
  int64_t in_features() const { return weight.shape()[1]; }
  int64_t out_features() const { return weight.shape()[0]; }

  Tensor weight, bias;  // bias undefined when constructed without one
};

class Conv2d : public UnaryModule {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, Generator& gen, Conv2dOptions options = {},
         bool bias = true);
  Tensor forward(const Tensor& x) override;

  Tensor weight, bias;  // bias undefined when constructed without one
  Conv2dOptions options;
};

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, Generator& gen);
  Tensor forward(const Tensor& labels);
  Tensor operator()(const Tensor& labels) { return forward(labels); }
  int64_t num_embeddings() const { return weight.shape()[0]; }

  Tensor weight;
};

// [*labels.shape, num_classes] with 1 at each label and 0 elsewhere (no gradient); labels int64 in
// [0, num_classes), else std::invalid_argument naming the first bad label and its position.
Tensor one_hot(const Tensor& labels, int64_t num_classes, TensorOptions options = {});

// An elementwise activation (SiLU, Softplus, ...) as a module without parameters.
class Activation : public UnaryModule {
 public:
  using Fn = Tensor (*)(const Tensor&);
  explicit Activation(Fn fn) : fn_(fn) {}
  Tensor forward(const Tensor& x) override { return fn_(x); }

 private:
  Fn fn_;
};
std::shared_ptr<Activation> SiLU();
std::shared_ptr<Activation> Softplus();
std::shared_ptr<Activation> ReLU();
std::shared_ptr<Activation> Tanh();

// Applies its modules in order; they are named "0", "1", ... as in torch.nn.Sequential.
class Sequential : public UnaryModule {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<UnaryModule>> modules);
  void push_back(std::shared_ptr<UnaryModule> module);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }

 private:
  std::vector<std::shared_ptr<UnaryModule>> layers_;
};

}  // namespace scorch::nn
