// module.h: Module, the base of every layer and model: named parameters and buffers, submodules,
// state_dict()/load_state_dict() and the train/eval flag.
//
// Names are dotted paths from the top module ("net.0.weight"), as in PyTorch, so checkpoints written
// by one implementation read in the other. A Module is held by shared_ptr (submodules are shared with
// their parent); copying one is not allowed.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace scorch::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  NamedTensors named_parameters() const;  // this module's, then each submodule's, in registration order
  TensorList parameters() const;
  NamedTensors named_buffers() const;
  int64_t num_parameters() const;

  // Parameters and buffers by name (the values share memory with the module).
  std::map<std::string, Tensor> state_dict() const;
  // Copies values in; throws naming every missing, unexpected or mis-shaped entry, and `file` when
  // the values come from one ("best.safetensors: up1.weight is [64, 3] in the file, [64, 4] in the model").
  void load_state_dict(const std::map<std::string, Tensor>& state, const std::string& file = "");

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  // Converts every parameter and buffer to `dtype` in place (float64 copies of a model for gradcheck);
  // gradients are dropped.
  void to(DType dtype);
  // Moves every parameter and buffer to `device` in place (the handles stay: modules sharing a tensor
  // see it move); gradients are dropped. Build optimizers and EMAs after moving: their state stays
  // where it was made, and they throw naming the parameter when it no longer matches.
  void to(Device device);

 protected:
  // Registers a leaf that requires grad; returns its handle (sharing the module's tensor).
  Tensor register_parameter(std::string name, Tensor value);
  Tensor register_buffer(std::string name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    children_.emplace_back(std::move(name), module);
    return module;
  }

 private:
  void collect(const std::string& prefix, NamedTensors& out, bool buffers) const;

  NamedTensors parameters_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// Copies `state` into the tensors of `target` (a state_dict: same names, same shapes), or throws
// std::invalid_argument listing every missing, unexpected, undefined or mis-shaped entry, as
// "<file>: does not match <what>:\n  w is [3] in the file, [2] in <what>" (file empty: "state_dict").
void load_named(const std::map<std::string, Tensor>& target, const std::map<std::string, Tensor>& state,
                const std::string& file, const std::string& what);

// A module with one input and one output; what Sequential chains.
class UnaryModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

}  // namespace scorch::nn
