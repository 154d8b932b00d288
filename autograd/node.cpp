// node.cpp: a recorded op's backward step (with its profiler event and trace range), its release
// after a pass, and the iterative teardown of long chains.
#include "autograd/node.h"

#include <cstdio>
#include <stdexcept>
#include <string>

#include "autograd/profiler.h"

namespace scorch {

TensorList Node::backward(const Tensor& grad) {
  if (released_)
    throw std::runtime_error("backward: trying to backward through the graph a second time (the saved tensors of '" +
                             std::string(name()) +
                             "' were freed after the first backward); pass retain_graph = true "
                             "to the first backward if you need to go through it again");
  char trace_name[96];
  std::snprintf(trace_name, sizeof trace_name, "%.*s_backward", static_cast<int>(name().size()), name().data());
  const detail::TraceRange trace(trace_name);
  const detail::OpTimer timer;  // the ops the formula runs nest under this "<name>_backward" event
  TensorList grads = compute_backward(grad, inputs_, output());
  if (timer.active()) [[unlikely]]
    timer.finish(name(), ProfilePhase::backward, inputs_, Tensor(), 0.0, &grad);
  if (grads.size() != inputs_.size())
    throw std::logic_error(std::string(name()) + ": backward returned " + std::to_string(grads.size()) +
                           " gradients for " + std::to_string(inputs_.size()) + " inputs");
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined() && grads[i].shape() != inputs_[i].shape())
      throw std::logic_error(std::string(name()) + ": backward gave input " + std::to_string(i) + " a gradient " +
                             to_string(grads[i].shape()) + " for shape " + to_string(inputs_[i].shape()));
  return grads;
}

Node::~Node() {
  // Tear long chains down iteratively: freeing inputs_ may free their grad_fn, whose destructor
  // would free its inputs, and so on, one stack frame per node of the graph. Instead, take over
  // every node that only this chain still holds and clear its inputs here.
  std::vector<std::shared_ptr<Node>> orphans;
  auto adopt = [&orphans](TensorList& inputs) {
    for (Tensor& t : inputs)
      if (t.defined() && t.impl_ptr().use_count() == 1 && t.grad_fn() && t.grad_fn().use_count() == 1)
        orphans.push_back(std::move(t.impl()->grad_fn));
    inputs.clear();
  };
  adopt(inputs_);
  while (!orphans.empty()) {
    std::shared_ptr<Node> node = std::move(orphans.back());
    orphans.pop_back();
    adopt(node->inputs_);
  }  // each node dies here with no inputs left, so its own destructor does not recurse
}

void Node::release() {
  inputs_.clear();
  output_ = Tensor();
  released_ = true;
}

Tensor Node::output() {
  if (!output_.defined()) return Tensor();
  Tensor out = output_.detach();
  out.impl()->grad_fn = shared_from_this();
  out.impl()->requires_grad = true;
  return out;
}

}  // namespace scorch
