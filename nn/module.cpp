#include "nn/module.h"

#include <set>
#include <stdexcept>

#include "autograd/grad_mode.h"
#include "autograd/ops/shape.h"

namespace scorch::nn {

void Module::collect(const std::string& prefix, NamedTensors& out, bool buffers) const {
  for (const auto& [name, t] : buffers ? buffers_ : parameters_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out, buffers);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", out, false);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", out, true);
  return out;
}

TensorList Module::parameters() const {
  TensorList out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Tensor& p : parameters()) n += p.numel();
  return n;
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> state;
  for (auto& [name, t] : named_parameters()) state.emplace(name, t);
  for (auto& [name, t] : named_buffers()) state.emplace(name, t);
  return state;
}

void load_named(const std::map<std::string, Tensor>& target, const std::map<std::string, Tensor>& state,
                const std::string& file, const std::string& what) {
  const std::string source = file.empty() ? "state_dict" : file, there = file.empty() ? "the state dict" : "the file";
  std::string problems;
  for (const auto& [name, t] : target) {
    auto it = state.find(name);
    if (it == state.end())
      problems += "\n  missing " + name + " " + to_string(t.shape());
    else if (!it->second.defined())
      problems += "\n  " + name + " is undefined in " + there;
    else if (it->second.shape() != t.shape())
      problems += "\n  " + name + " is " + to_string(it->second.shape()) + " in " + there + ", " +
                  to_string(t.shape()) + " in " + what;
  }
  for (const auto& [name, t] : state)
    if (!target.count(name)) problems += "\n  unexpected " + name + (t.defined() ? " " + to_string(t.shape()) : "");
  if (!problems.empty()) throw std::invalid_argument(source + ": does not match " + what + ":" + problems);
  NoGradGuard no_grad;
  for (const auto& [name, t] : target) t.copy_(state.at(name));
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, const std::string& file) {
  load_named(state_dict(), state, file, "the model");
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

namespace {
// Replaces the data under each parameter's and buffer's shared handle by convert(tensor), so that every
// module holding it sees the change; gradients are dropped.
template <typename Convert>
void convert_in_place(const Module& module, Convert convert) {
  NamedTensors all = module.named_parameters(), buffers = module.named_buffers();
  all.insert(all.end(), buffers.begin(), buffers.end());
  NoGradGuard no_grad;
  for (auto& [name, t] : all) {
    const Tensor converted = convert(t.detach());
    if (converted.storage() == t.storage()) continue;  // already that dtype or on that device
    const Tensor c = converted.contiguous();
    TensorImpl& impl = *t.impl();
    impl.storage = c.impl()->storage;
    impl.strides = c.strides();
    impl.offset = c.offset();
    impl.dtype = c.dtype();
    impl.grad = Tensor();
  }
}
}  // namespace

void Module::to(DType dtype) {
  convert_in_place(*this, [dtype](const Tensor& t) { return scorch::to(t, dtype); });
}

void Module::to(Device device) {
  convert_in_place(*this, [device](const Tensor& t) { return scorch::to(t, device); });
}

void Module::zero_grad() {
  for (const Tensor& p : parameters()) p.zero_grad();
}

Tensor Module::register_parameter(std::string name, Tensor value) {
  if (!value.requires_grad()) value.requires_grad_();
  parameters_.emplace_back(std::move(name), value);
  return value;
}

Tensor Module::register_buffer(std::string name, Tensor value) {
  buffers_.emplace_back(std::move(name), value);
  return value;
}

}  // namespace scorch::nn
