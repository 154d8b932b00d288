// group_norm.cpp: group_norm, group_norm_silu and instance_norm (formulas in group_norm.h).
//
// Layout: a contiguous x [N, C, S] holds group ng = n G + g as one run of D = C/G * S elements at
// offset ng D, channel after channel. Every kernel is a parallel_for over the N G groups; inside a group
// the work is a few passes over S-element channel rows, each a contiguous loop (the row_* functions,
// compiled for AVX2 and AVX-512 like map_contiguous). A group (12 KiB for [64, 32, 28, 28] / 8 groups)
// stays in L1/L2 between the passes, so memory is read about once.
//
// The forward saves mean and r = 1/sqrt(var + eps) per (n, group) in two float64 [N, G] tensors, held by
// the op struct (hence by the graph node). The fused backward reads them; the composite backward
// recomputes them from x with differentiable ops, because their dependence on x matters to the second
// derivative.
//
// NOTE: float32 rows compute (x - mean) in float32 with the mean rounded to float32, so an input whose
// |mean| is far above its spread loses digits: about 4e-6 absolute for mean 100 and std 1, 5e-4 for mean
// 1e4 (where x itself is only known to 1e-3).
#include "autograd/ops/group_norm.h"

#include <cmath>
#include <utility>

#include "autograd/apply.h"
#include "autograd/ops/elementwise.h"
#include "tensor/group_norm_fns.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/shape.h"
#include "tensor/backend.h"
#include "tensor/cpu_loops.h"
#include "tensor/vec_math.h"

namespace scorch {
namespace {

// x viewed as [N, G, C/G, S].
struct NormShape {
  int64_t N = 0, C = 0, S = 1, G = 1;
  int64_t channels_per_group() const { return C / G; }
  int64_t group_size() const { return C / G * S; }  // D
};

// ---- Row kernels: contiguous loops over n elements. ----

// The sum of term(i) for i < n in double, with kLanes independent accumulators: one accumulator would
// be a dependency chain that the compiler may not split (FP addition does not associate).
constexpr int kLanes = 8;
template <typename F>
inline double sum_lanes(int64_t n, F term) {
  double lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) lane[k] += term(i + k);
  double sum = 0;
  for (int k = 0; k < kLanes; ++k) sum += lane[k];
  for (; i < n; ++i) sum += term(i);
  return sum;
}

// mean and biased variance of x[0, n), in double; two passes (the second over data still in cache)
// keep the variance accurate when |mean| >> std, unlike E[x^2] - E[x]^2.
template <typename T>
SCORCH_CPU_CLONES std::pair<double, double> row_moments(const T* x, int64_t n) {
  const double mean = sum_lanes(n, [x](int64_t i) { return static_cast<double>(x[i]); }) / n;
  const double var = sum_lanes(n, [x, mean](int64_t i) {
    const double d = static_cast<double>(x[i]) - mean;
    return d * d;
  });
  return {mean, var / n};
}

// a = (x - m) scale + shift, the normalised and affine value; y = a, or silu(a).
template <bool kSilu, typename T>
SCORCH_CPU_CLONES void row_forward(const T* x, T* y, int64_t n, T m, T scale, T shift) {
  for (int64_t i = 0; i < n; ++i) y[i] = fns::group_norm_value<kSilu>(x[i], m, scale, shift);
}

// The first backward pass over a channel row: returns (sum gy (x - m), sum gy) with gy = g, or, for
// group_norm_silu, gy = g silu'(a) = g s (1 + a (1 - s)), s = sigmoid(a), which is also stored in gy_out.
template <bool kSilu, typename T>
SCORCH_CPU_CLONES std::pair<double, double> row_backward_sums(const T* g, const T* x, T* gy_out, int64_t n, T m,
                                                              T scale, T shift) {
  const T* gy = g;
  if constexpr (kSilu) {
    for (int64_t i = 0; i < n; ++i) gy_out[i] = fns::group_norm_grad_of_affine<kSilu>(g[i], x[i], m, scale, shift);
    gy = gy_out;
  }
  const double dot = sum_lanes(n, [gy, x, m](int64_t i) { return static_cast<double>(gy[i]) * (x[i] - m); });
  return {dot, sum_lanes(n, [gy](int64_t i) { return static_cast<double>(gy[i]); })};
}

// The second pass: gx = alpha gy + beta (x - m) + gamma (gx may be gy itself).
template <typename T>
SCORCH_CPU_CLONES void row_backward_input(const T* gy, const T* x, T* gx, int64_t n, T m, T alpha, T beta, T gamma) {
  for (int64_t i = 0; i < n; ++i) gx[i] = fns::group_norm_grad_input(gy[i], x[i], m, alpha, beta, gamma);
}

// ---- Kernels over all groups. Pointers are contiguous; w and b may be null (no affine). ----

// Groups per parallel_for item: about kGrainElementwise elements of work.
int64_t groups_per_task(const NormShape& s) { return grain_for(s.group_size()); }

// x, y [N, C, S]; w, b [C]; mean, rstd [N, G] (written).
template <bool kSilu, typename T>
void group_norm_forward_cpu(const NormShape& s, const T* x, const T* w, const T* b, double eps, T* y, double* mean,
                            double* rstd) {
  const int64_t D = s.group_size(), Cg = s.channels_per_group(), S = s.S;
  parallel_for(s.N * s.G, groups_per_task(s), [&](int64_t begin, int64_t end) {
    for (int64_t ng = begin; ng < end; ++ng) {
      const auto [mu, var] = row_moments(x + ng * D, D);
      const double r = 1.0 / std::sqrt(var + eps);
      mean[ng] = mu, rstd[ng] = r;
      for (int64_t j = 0, c = (ng % s.G) * Cg; j < Cg; ++j, ++c) {
        const int64_t off = ng * D + j * S;
        row_forward<kSilu>(x + off, y + off, S, T(mu), T(w ? r * w[c] : r), T(b ? b[c] : 0));
      }
    }
  });
}

// g, x, gx [N, C, S]; w, b [C]; mean, rstd [N, G]; dot, sum [N, C] (written): per (n, c), the sums over S
// of gy (x - mean) and of gy, from which the weight and bias gradients follow.
template <bool kSilu, typename T>
void group_norm_backward_cpu(const NormShape& s, const T* g, const T* x, const T* w, const T* b, const double* mean,
                             const double* rstd, T* gx, double* dot, double* sum) {
  const int64_t D = s.group_size(), Cg = s.channels_per_group(), S = s.S;
  parallel_for(s.N * s.G, groups_per_task(s), [&](int64_t begin, int64_t end) {
    for (int64_t ng = begin; ng < end; ++ng) {
      const double mu = mean[ng], r = rstd[ng];
      const int64_t c0 = (ng % s.G) * Cg, nc0 = ng * Cg;  // first channel of the group, its index in [N, C]
      double dot_w = 0, sum_w = 0;                        // sum over the group of gh (x - mu) and of gh, gh = gy w
      for (int64_t j = 0; j < Cg; ++j) {
        const int64_t off = ng * D + j * S;
        const double wc = w ? w[c0 + j] : 1.0;
        std::tie(dot[nc0 + j], sum[nc0 + j]) =
            row_backward_sums<kSilu>(g + off, x + off, gx + off, S, T(mu), T(r * wc), T(b ? b[c0 + j] : 0));
        dot_w += wc * dot[nc0 + j], sum_w += wc * sum[nc0 + j];
      }
      // gx = r (gh - mean(gh) - xhat mean(gh xhat)) = r w gy + beta (x - mu) + gamma.
      const auto [beta, gamma] = fns::group_norm_input_coefficients(r, dot_w, sum_w, D);
      for (int64_t j = 0; j < Cg; ++j) {
        const int64_t off = ng * D + j * S;
        const T* gy = kSilu ? gx + off : g + off;
        row_backward_input(gy, x + off, gx + off, S, T(mu), T(r * (w ? w[c0 + j] : 1.0)), T(beta), T(gamma));
      }
    }
  });
}

template <typename T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
Tensor contiguous_or_none(const Tensor& t) { return t.defined() ? contiguous(t) : t; }

NormShape check_group_norm(std::string_view op, const Tensor& x, int64_t groups, const Tensor& w, const Tensor& b,
                           double eps) {
  const std::string name(op);
  if (!x.defined()) throw std::invalid_argument(name + ": input is undefined");
  if (x.dim() < 2) throw std::invalid_argument(name + ": input " + to_string(x.shape()) + " must be at least [N, C]");
  NormShape s{x.shape()[0], x.shape()[1], 1, groups};
  for (int d = 2; d < x.dim(); ++d) s.S *= x.shape()[d];
  if (groups <= 0) throw std::invalid_argument(name + ": groups must be positive, got " + std::to_string(groups));
  // A negative (or NaN) eps would make var + eps negative for a near-constant group: NaN with no error.
  if (!(eps >= 0)) throw std::invalid_argument(name + ": eps must be >= 0, got " + format_number(eps));
  if (s.C % groups != 0)
    throw std::invalid_argument(name + ": " + std::to_string(s.C) + " channels of input " + to_string(x.shape()) +
                                " are not divisible by " + std::to_string(groups) + " groups");
  for (const auto& [what, t] : {std::pair{"weight", &w}, std::pair{"bias", &b}})
    if (t->defined() && t->shape() != Shape{s.C})
      throw std::invalid_argument(name + ": " + what + " " + to_string(t->shape()) + " must be [" +
                                  std::to_string(s.C) + "]");
  return s;
}

// The op of group_norm (kSilu false) and group_norm_silu. Inputs: x, then weight and bias when given.
template <bool kSilu>
struct GroupNormOp {
  static constexpr std::string_view name = kSilu ? "group_norm_silu" : "group_norm";
  NormShape s;
  double eps;
  bool has_weight, has_bias;
  Tensor saved_mean, saved_rstd;  // [N, G] float64, written by forward (handles: the node's copy shares them)

  backend::NormDims dims() const { return {s.N, s.C, s.S, s.G}; }
  Tensor weight(const TensorList& in) const { return has_weight ? in[1] : Tensor(); }
  Tensor bias(const TensorList& in) const { return has_bias ? in[1 + has_weight] : Tensor(); }

  Shape out_shape(const TensorList& in) const { return in[0].shape(); }
  void cpu(const TensorList& in, const Tensor& y) const {
    const Tensor x = contiguous(in[0]), w = contiguous_or_none(weight(in)), b = contiguous_or_none(bias(in));
    dispatch_float(name, x.dtype(), [&]<typename T>() {
      group_norm_forward_cpu<kSilu, T>(s, x.data<T>(), data_or_null<T>(w), data_or_null<T>(b), eps, y.data<T>(),
                                       saved_mean.data<double>(), saved_rstd.data<double>());
    });
  }
  void device(const TensorList& in, const Tensor& y) const {
    const Tensor x = contiguous(in[0]), w = contiguous_or_none(weight(in)), b = contiguous_or_none(bias(in));
    backend::group_norm_forward(kSilu, dims(), x, w, b, eps, y, saved_mean, saved_rstd);
  }

  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return GradMode::is_enabled() ? composite_backward(g, in) : fused_backward(g, in);
  }

  // The fused backward's kernel: gx, dot and sum from g, x, w, b (contiguous) and the saved statistics.
  struct BackwardKernel {
    static constexpr std::string_view name = GroupNormOp::name;
    const GroupNormOp* op;
    void cpu(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& gx, const Tensor& dot,
             const Tensor& sum) const {
      dispatch_float(name, x.dtype(), [&]<typename T>() {
        group_norm_backward_cpu<kSilu, T>(op->s, g.data<T>(), x.data<T>(), data_or_null<T>(w), data_or_null<T>(b),
                                          op->saved_mean.data<double>(), op->saved_rstd.data<double>(), gx.data<T>(),
                                          dot.data<double>(), sum.data<double>());
      });
    }
    void device(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& gx, const Tensor& dot,
                const Tensor& sum) const {
      backend::group_norm_backward(kSilu, op->dims(), g, x, w, b, op->saved_mean, op->saved_rstd, gx, dot, sum);
    }
  };

  // One kernel for gx and the [N, C] float64 sums dot and sum; then gw_c = sum_n r dot[n, c] (as
  // xhat = (x - mean) r) and gb_c = sum_n sum[n, c], with ops, on whichever device x is.
  TensorList fused_backward(const Tensor& g, const TensorList& in) const {
    const Tensor x = contiguous(in[0]), gc = contiguous(g);
    const Tensor w = contiguous_or_none(weight(in)), b = contiguous_or_none(bias(in));
    Tensor gx = empty(x.shape(), x.options());
    const Tensor dot = empty({s.N, s.C}, {.dtype = kFloat64, .device = x.device()}), sum = empty_like(dot);
    detail::run_kernel(BackwardKernel{this}, x.device(), gc, x, w, b, gx, dot, sum);
    TensorList grads{in[0].requires_grad() ? gx : Tensor()};
    if (has_weight && in[1].requires_grad()) {
      const Tensor r =
          reshape(expand(reshape(saved_rstd, {s.N, s.G, 1}), {s.N, s.G, s.channels_per_group()}), {s.N, s.C});
      grads.push_back(to(scorch::sum(r * dot, {0}), x.dtype()));
    } else if (has_weight) {
      grads.push_back(Tensor());
    }
    if (has_bias) grads.push_back(bias(in).requires_grad() ? to(scorch::sum(sum, {0}), x.dtype()) : Tensor());
    return grads;
  }

  // The formulas of group_norm.h with differentiable ops, on x viewed as [N, G, D] and [N, C, S].
  TensorList composite_backward(const Tensor& g, const TensorList& in) const {
    const int64_t N = s.N, C = s.C, S = s.S, G = s.G, D = s.group_size();
    const Tensor xg = reshape(in[0], {N, G, D});
    const Tensor xc = xg - scorch::mean(xg, {2}, true);
    const Tensor r = rsqrt(scorch::mean(square(xc), {2}, true) + eps);
    const Tensor xhat = reshape(xc * r, {N, C, S});
    const Tensor w = has_weight ? reshape(in[1], {1, C, 1}) : Tensor();
    Tensor gy = reshape(g, {N, C, S});
    if constexpr (kSilu) {
      Tensor a = w.defined() ? xhat * w : xhat;
      if (has_bias) a = a + reshape(bias(in), {1, C, 1});
      gy = silu_backward(gy, a);
    }
    TensorList grads{Tensor()};
    if (in[0].requires_grad()) {
      const Tensor gh = reshape(w.defined() ? gy * w : gy, {N, G, D}), xh = reshape(xhat, {N, G, D});
      const Tensor gx = r * (gh - scorch::mean(gh, {2}, true) - xh * scorch::mean(gh * xh, {2}, true));
      grads[0] = reshape(gx, in[0].shape());
    }
    if (has_weight) grads.push_back(in[1].requires_grad() ? scorch::sum(gy * xhat, {0, 2}) : Tensor());
    if (has_bias) grads.push_back(bias(in).requires_grad() ? scorch::sum(gy, {0, 2}) : Tensor());
    return grads;
  }
};

template <bool kSilu>
Tensor group_norm_impl(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps) {
  const NormShape s = check_group_norm(GroupNormOp<kSilu>::name, x, groups, weight, bias, eps);
  const GroupNormOp<kSilu> op{s,
                              eps,
                              weight.defined(),
                              bias.defined(),
                              empty({s.N, groups}, {.dtype = kFloat64, .device = x.device()}),
                              empty({s.N, groups}, {.dtype = kFloat64, .device = x.device()})};
  TensorList inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  if (bias.defined()) inputs.push_back(bias);
  return apply_list(op, inputs);
}

}  // namespace

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps) {
  return group_norm_impl<false>(x, groups, weight, bias, eps);
}

Tensor group_norm_silu(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps) {
  return group_norm_impl<true>(x, groups, weight, bias, eps);
}

Tensor instance_norm(const Tensor& x, double eps) {
  if (x.defined() && x.dim() < 2)
    throw std::invalid_argument("instance_norm: input " + to_string(x.shape()) + " must be at least [N, C]");
  return group_norm(x, x.defined() ? std::max<int64_t>(x.shape()[1], 1) : 1, {}, {}, eps);
}

}  // namespace scorch
