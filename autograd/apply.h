// apply.h: the one function that runs an op. apply<Op>(op, inputs...) checks devices and dtypes,
// allocates the output, calls Op::cpu, or Op::device for a tensor on a device (which calls the
// backend's entry, tensor/backend.h), and, in grad mode, records an OpNode keeping what Op::backward
// reads.
//
// An Op is a small struct (see autograd/ops/elementwise.h):
//   static constexpr std::string_view name;               used in errors and the graph
//   Shape out_shape(in...) const;                          and the kernels  void cpu(in..., out) const;
//                                                          (and  void device(in..., out) const;)
//   or instead  Tensor forward(in...) const;               for views and ops built from other ops
//   (apply_list: the same members on one const TensorList&, for ops over a list of inputs)
//   TensorList backward(grad, inputs, out) const;          optional: without it the op is not differentiable
//   optional:  DType out_dtype(in...) const;  static constexpr bool mixed_dtypes, needs_output;
//              double flops(const TensorList& in, const Tensor& out) const;   for the profiler
// While a Profiler (autograd/profiler.h) is alive, each call records an event; off, that costs one
// test of a global flag.
#pragma once
#include <memory>
#include <string>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/profiler.h"

namespace scorch {

template <typename Op>
class OpNode final : public Node {
 public:
  OpNode(Op op, TensorList inputs) : Node(std::move(inputs)), op_(std::move(op)) {}
  std::string_view name() const override { return Op::name; }

 protected:
  TensorList compute_backward(const Tensor& grad, const TensorList& inputs, const Tensor& out) override {
    return op_.backward(grad, inputs, out);
  }

 private:
  Op op_;
};

template <typename Op>
concept Differentiable = requires(const Op& op, const Tensor& t, const TensorList& l) {
  { op.backward(t, l, t) } -> std::same_as<TensorList>;
};

namespace detail {

[[noreturn]] void throw_mismatch(std::string_view op, std::string_view what, const TensorList& inputs);

template <typename Op>
void check_inputs(const Op&, const TensorList& in) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (!in[i].defined())
      throw std::invalid_argument(std::string(Op::name) + ": input " + std::to_string(i) + " is undefined");
    if (in[i].device() != in[0].device()) throw_mismatch(Op::name, "device", in);
    if constexpr (!requires { Op::mixed_dtypes; })
      if (in[i].dtype() != in[0].dtype()) throw_mismatch(Op::name, "dtype", in);
  }
}

inline bool any_requires_grad(const TensorList& in) {
  for (const Tensor& t : in)
    if (t.requires_grad()) return true;
  return false;
}

// op.cpu(args...) on the CPU, else op.device(args...) (which calls the device backend's entry for the
// op's family, tensor/backend.h): the one place where a kernel is chosen by device. apply and
// apply_list run an op's forward through it, and a fused backward its kernel struct.
template <typename Op, typename... Args>
void run_kernel(const Op& op, const Device& device, Args&&... args) {  // args: lvalues, out among them
  if (device.is_cpu()) {
    op.cpu(args...);
  } else if constexpr (requires { op.device(args...); }) {
    op.device(args...);
  } else {
    throw std::runtime_error(std::string(Op::name) + ": not implemented on " + device.str());
  }
}

// The event of one op, with its FLOPs where the op counts them.
template <typename Op>
[[gnu::noinline]] void profile(const OpTimer& timer, const Op& op, const TensorList& inputs, const Tensor& out) {
  double flops = 0;
  if constexpr (requires { op.flops(inputs, out); }) flops = op.flops(inputs, out);
  timer.finish(Op::name, ProfilePhase::forward, inputs, out, flops);
}

}  // namespace detail

// Attaches a node for `op` to `out` when grad mode is on and an input requires grad.
template <typename Op>
void record(const Op& op, TensorList inputs, Tensor& out) {
  if constexpr (Differentiable<Op>) {
    if (!GradMode::is_enabled() || !detail::any_requires_grad(inputs)) return;
    for (const Tensor& t : inputs)
      if (t.impl() == out.impl()) {  // forward() returned an input as is: give the output its own handle
        out = out.detach();
        break;
      }
    auto node = std::make_shared<OpNode<Op>>(op, std::move(inputs));
    if constexpr (requires { Op::needs_output; }) node->set_output(out);
    out.impl()->grad_fn = std::move(node);
    out.impl()->requires_grad = true;
  }
}

template <typename Op, typename... In>
Tensor apply(const Op& op, const In&... in) {
  TensorList inputs{in...};
  detail::check_inputs(op, inputs);
  const detail::TraceRange trace(Op::name.data());  // Op::name is a string literal: null-terminated
  const detail::OpTimer timer;
  Tensor out;
  {
    NoGradGuard no_grad;  // the forward never records: only the node below does
    if constexpr (requires { op.forward(in...); }) {
      out = op.forward(in...);
    } else {
      DType dtype = inputs.empty() ? kFloat32 : inputs[0].dtype();
      if constexpr (requires { op.out_dtype(in...); }) dtype = op.out_dtype(in...);
      out = empty(op.out_shape(in...), {.dtype = dtype, .device = inputs[0].device()});
      detail::run_kernel(op, out.device(), in..., out);
    }
  }
  if (timer.active()) [[unlikely]]
    detail::profile(timer, op, inputs, out);
  record(op, std::move(inputs), out);
  return out;
}

// The same for ops over a list of tensors (concat; group_norm, whose weight and bias are optional):
// forward(const TensorList&), or out_shape(const TensorList&) and cpu/device(const TensorList&, out).
template <typename Op>
Tensor apply_list(const Op& op, const TensorList& inputs) {
  detail::check_inputs(op, inputs);
  const detail::TraceRange trace(Op::name.data());
  const detail::OpTimer timer;
  Tensor out;
  {
    NoGradGuard no_grad;
    if constexpr (requires { op.forward(inputs); }) {
      out = op.forward(inputs);
    } else {
      out = empty(op.out_shape(inputs), inputs[0].options());
      detail::run_kernel(op, out.device(), inputs, out);
    }
  }
  if (timer.active()) [[unlikely]]
    detail::profile(timer, op, inputs, out);
  record(op, inputs, out);
  return out;
}

}  // namespace scorch
