// node.h: a recorded op in the autograd graph.
//
// Every op has one output, so a Node stands for exactly one tensor: the gradient of that tensor is the
// sum of what flows into its Node. A Node keeps the op's inputs (their own grad_fn are the graph's
// edges) and, detached, its output; backward formulas are written with differentiable ops, so running
// them in grad mode (create_graph) records a new graph that can be differentiated again.
#pragma once
#include <memory>
#include <string_view>

#include "tensor/tensor.h"

namespace scorch {

class Node : public std::enable_shared_from_this<Node> {
 public:
  explicit Node(TensorList inputs) : inputs_(std::move(inputs)) {}
  virtual ~Node();
  virtual std::string_view name() const = 0;

  // Gradients w.r.t. each input given the gradient of the output (undefined where an input needs none).
  TensorList backward(const Tensor& grad);
  // Frees what backward needs (called after backward unless retain_graph); a later backward throws.
  void release();
  bool released() const { return released_; }

  const TensorList& inputs() const { return inputs_; }
  // The output with this node as its grad_fn (for formulas that reuse it, e.g. exp).
  Tensor output();
  void set_output(const Tensor& out) { output_ = out.detach(); }

 protected:
  virtual TensorList compute_backward(const Tensor& grad, const TensorList& inputs, const Tensor& out) = 0;

 private:
  TensorList inputs_;
  Tensor output_;  // detached: holding it with grad_fn would make a cycle
  bool released_ = false;
};

}  // namespace scorch
