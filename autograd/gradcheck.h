// gradcheck.h: finite-difference checks of gradients, in float64.
//
// gradcheck compares the Jacobian that backward computes with central differences
//   J[i][j] ~ (f(x + eps e_j)_i - f(x - eps e_j)_i) / (2 eps)
// one input element at a time, and passes when |analytic - numeric| <= atol + rtol |numeric| for every
// entry. gradgradcheck does the same for the function (inputs, v) -> grad(f(inputs), inputs, v) built
// with create_graph, i.e. it checks the backward of the backward (what sliced score matching uses).
// Same method and defaults as torch.autograd.gradcheck.
#pragma once
#include <functional>
#include <string>

#include "tensor/tensor.h"

namespace scorch {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  std::string name;  // shown in the report (e.g. the op under test)
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // on failure: the op, the input, the worst Jacobian entry, both values
  explicit operator bool() const { return ok; }
};

using DifferentiableFn = std::function<Tensor(const TensorList&)>;

// Every input that requires grad is checked; inputs must be float64.
GradcheckResult gradcheck(const DifferentiableFn& f, const TensorList& inputs, const GradcheckOptions& options = {});
GradcheckResult gradgradcheck(const DifferentiableFn& f, const TensorList& inputs,
                              const GradcheckOptions& options = {});

}  // namespace scorch
