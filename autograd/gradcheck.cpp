#include "autograd/gradcheck.h"

#include <cmath>
#include <random>
#include <sstream>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops/shape.h"

namespace scorch {
namespace {

// The storage element behind row-major element k of t (t must not overlap itself, e.g. no expand).
double& element(const Tensor& t, int64_t k) {
  int64_t offset = 0;
  for (int d = t.dim() - 1; d >= 0; --d) {
    offset += (k % t.shape()[d]) * t.strides()[d];
    k /= t.shape()[d];
  }
  return t.data<double>()[offset];
}

std::vector<double> evaluate(const DifferentiableFn& f, const TensorList& inputs) {
  NoGradGuard no_grad;
  return f(inputs).values();
}

struct Worst {
  double excess = -1;  // |a - n| - (atol + rtol |n|); > 0 means failure
  size_t input = 0;
  int64_t out = 0, in = 0;
  double analytic = 0, numeric = 0;
};

// Jacobian J[i][k] = d out_i / d input_k by one backward pass per output element.
std::vector<std::vector<double>> analytic_jacobian(const Tensor& out, const Tensor& input) {
  std::vector<std::vector<double>> jac(out.numel(), std::vector<double>(input.numel(), 0.0));
  if (!out.requires_grad()) return jac;
  for (int64_t i = 0; i < out.numel(); ++i) {
    std::vector<double> onehot(out.numel(), 0.0);
    onehot[i] = 1.0;
    const Tensor v = from_vector(onehot, out.shape(), {.dtype = kFloat64});
    const TensorList g = grad({out}, {input}, {v}, {.retain_graph = true});
    if (g[0].defined()) jac[i] = g[0].values();
  }
  return jac;
}

}  // namespace

GradcheckResult gradcheck(const DifferentiableFn& f, const TensorList& inputs, const GradcheckOptions& o) {
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad() && t.dtype() != kFloat64)
      throw std::invalid_argument("gradcheck: inputs must be float64, got " + describe(t));
  const Tensor out = f(inputs);
  Worst worst;
  for (size_t j = 0; j < inputs.size(); ++j) {
    const Tensor& x = inputs[j];
    if (!x.defined() || !x.requires_grad()) continue;
    const auto jac = analytic_jacobian(out, x);
    for (int64_t k = 0; k < x.numel(); ++k) {
      double& xk = element(x, k);
      const double saved = xk;
      xk = saved + o.eps;
      const std::vector<double> plus = evaluate(f, inputs);
      xk = saved - o.eps;
      const std::vector<double> minus = evaluate(f, inputs);
      xk = saved;
      for (int64_t i = 0; i < out.numel(); ++i) {
        const double numeric = (plus[i] - minus[i]) / (2 * o.eps), analytic = jac[i][k];
        const double excess = std::abs(analytic - numeric) - (o.atol + o.rtol * std::abs(numeric));
        if (!(excess <= worst.excess) || std::isnan(excess))
          worst = {std::isnan(excess) ? INFINITY : excess, j, i, k, analytic, numeric};
      }
    }
  }
  GradcheckResult r;
  r.ok = worst.excess <= 0;
  if (!r.ok) {
    std::ostringstream msg;
    msg << "gradcheck" << (o.name.empty() ? "" : " of '" + o.name + "'") << " failed: d output[" << worst.out << "] of "
        << to_string(out.shape()) << " / d input " << worst.input << " [" << worst.in << "] of "
        << to_string(inputs[worst.input].shape()) << ": analytic " << worst.analytic << ", numeric " << worst.numeric
        << " (eps " << o.eps << ", atol " << o.atol << ", rtol " << o.rtol << ")";
    r.message = msg.str();
  }
  return r;
}

GradcheckResult gradgradcheck(const DifferentiableFn& f, const TensorList& inputs, const GradcheckOptions& o) {
  std::vector<size_t> diff;  // inputs that require grad
  for (size_t j = 0; j < inputs.size(); ++j)
    if (inputs[j].defined() && inputs[j].requires_grad()) diff.push_back(j);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = f(inputs);
  }
  // A fixed random cotangent v, itself checked as an input of the backward.
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> vals(out.numel());
  for (double& x : vals) x = u(rng);
  TensorList extended = inputs;
  extended.push_back(from_vector(vals, out.shape(), {.dtype = kFloat64, .requires_grad = true}));

  // (inputs, v) -> all gradients of <f(inputs), v> w.r.t. the differentiable inputs, flattened.
  const DifferentiableFn backward_fn = [&](const TensorList& in) {
    GradModeGuard grad_mode(true);  // also when gradcheck evaluates it under NoGradGuard
    const TensorList x(in.begin(), in.end() - 1);
    const Tensor y = f(x);
    TensorList targets;
    for (size_t j : diff) targets.push_back(x[j]);
    TensorList grads(targets.size());
    if (y.requires_grad()) grads = grad({y}, targets, {in.back()}, {.create_graph = true});
    TensorList flat;
    for (size_t k = 0; k < grads.size(); ++k)
      flat.push_back(reshape(grads[k].defined() ? grads[k] : zeros(targets[k].shape(), {.dtype = kFloat64}), {-1}));
    return concat(flat, 0);
  };
  GradcheckOptions second = o;
  second.name = "backward of " + (o.name.empty() ? std::string("f") : o.name);
  GradcheckResult r = gradcheck(backward_fn, extended, second);
  if (!r.ok) r.message = "gradgradcheck: " + r.message;
  return r;
}

}  // namespace scorch
