// engine.h: reverse-mode differentiation over the recorded graph.
//
// backward() accumulates d(outputs)/d(leaf) into every reachable leaf's .grad(); grad() returns the
// gradients w.r.t. given tensors (leaves or not) and leaves .grad() alone. With create_graph the
// backward formulas run in grad mode, so the results can be differentiated again (Hessian-vector
// products for sliced score matching). Without retain_graph each node frees its saved tensors once
// used; a second backward through it throws.
#pragma once
#include "tensor/tensor.h"

namespace scorch {

struct GradOptions {
  bool retain_graph = false;  // keep saved tensors for another backward (implied by create_graph)
  bool create_graph = false;  // record the backward pass itself
  bool allow_unused = true;   // an input the outputs do not depend on gets an undefined gradient (else throw)
};

// `grad_outputs` may be empty (every output a scalar: gradient 1) or hold one tensor per output.
void backward(const TensorList& outputs, const TensorList& grad_outputs = {}, GradOptions options = {});
TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs = {},
                GradOptions options = {});

}  // namespace scorch
