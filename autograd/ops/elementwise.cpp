// elementwise.cpp: the pointwise ops of elementwise.h: Op structs (shapes, the CPU and CUDA kernels
// over the functors of elementwise_fns.h, backward formulas) and the public functions.
#include "autograd/ops/elementwise.h"

#include <cmath>

#include "autograd/apply.h"
#include "tensor/elementwise_fns.h"
#include "autograd/ops/reduce.h"
#include "tensor/backend.h"
#include "tensor/cpu_loops.h"

namespace scorch {
namespace {

using namespace fns;  // the functors: elementwise_fns.h

Tensor scalar_like(double v, const Tensor& t) { return scalar_tensor(v, t.options()); }

// ---- Op bases: shapes and the CPU kernel; the derived Op adds name and backward. ----
template <typename Derived, typename Fn>
struct UnaryOp {
  Fn fn{};
  Shape out_shape(const Tensor& a) const { return a.shape(); }
  void cpu(const Tensor& a, const Tensor& out) const {
    dispatch_float(Derived::name, a.dtype(), [&]<typename T>() { map_cpu<T, T>(out, fn, a); });
  }
  void device(const Tensor& a, const Tensor& out) const { backend::unary(Derived::name, fn, a, out); }
};

template <typename Derived, typename Fn>
struct BinaryOp {
  Shape out_shape(const Tensor& a, const Tensor& b) const {
    return broadcast_shapes(Derived::name, a.shape(), b.shape());
  }
  void cpu(const Tensor& a, const Tensor& b, const Tensor& out) const {
    dispatch_float(Derived::name, a.dtype(), [&]<typename T>() { map_cpu<T, T, T>(out, Fn{}, a, b); });
  }
  void device(const Tensor& a, const Tensor& b, const Tensor& out) const {
    backend::binary(Derived::name, Fn{}, a, b, out);
  }
};

// Gradient for input i only when it requires one (saves the work for constants and data).
template <typename F>
Tensor grad_if(const TensorList& in, size_t i, F&& f) {
  return in[i].requires_grad() ? sum_to(f(), in[i].shape()) : Tensor();
}

struct Add : BinaryOp<Add, AddFn> {
  static constexpr std::string_view name = "add";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {grad_if(in, 0, [&] { return g; }), grad_if(in, 1, [&] { return g; })};
  }
};
struct Sub : BinaryOp<Sub, SubFn> {
  static constexpr std::string_view name = "sub";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {grad_if(in, 0, [&] { return g; }), grad_if(in, 1, [&] { return neg(g); })};
  }
};
struct Mul : BinaryOp<Mul, MulFn> {
  static constexpr std::string_view name = "mul";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {grad_if(in, 0, [&] { return mul(g, in[1]); }), grad_if(in, 1, [&] { return mul(g, in[0]); })};
  }
};
struct Div : BinaryOp<Div, DivFn> {
  static constexpr std::string_view name = "div";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {grad_if(in, 0, [&] { return div(g, in[1]); }),
            grad_if(in, 1, [&] { return neg(div(mul(g, in[0]), square(in[1]))); })};
  }
};
// Comparisons have no backward: their outputs are constants for autograd.
struct Eq : BinaryOp<Eq, EqFn> {
  static constexpr std::string_view name = "eq";
};
struct Ne : BinaryOp<Ne, NeFn> {
  static constexpr std::string_view name = "ne";
};
struct Lt : BinaryOp<Lt, LtFn> {
  static constexpr std::string_view name = "lt";
};
struct Le : BinaryOp<Le, LeFn> {
  static constexpr std::string_view name = "le";
};
struct Gt : BinaryOp<Gt, GtFn> {
  static constexpr std::string_view name = "gt";
};
struct Ge : BinaryOp<Ge, GeFn> {
  static constexpr std::string_view name = "ge";
};

struct Where {
  static constexpr std::string_view name = "where";
  Shape out_shape(const Tensor& c, const Tensor& a, const Tensor& b) const {
    return broadcast_shapes(name, broadcast_shapes(name, c.shape(), a.shape()), b.shape());
  }
  void cpu(const Tensor& c, const Tensor& a, const Tensor& b, const Tensor& out) const {
    dispatch_float(name, a.dtype(), [&]<typename T>() { map_cpu<T, T, T, T>(out, WhereFn{}, c, a, b); });
  }
  void device(const Tensor& c, const Tensor& a, const Tensor& b, const Tensor& out) const {
    backend::ternary(name, WhereFn{}, c, a, b, out);
  }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    const Tensor zero = scalar_like(0, g);
    return {Tensor(), grad_if(in, 1, [&] { return where(in[0], g, zero); }),
            grad_if(in, 2, [&] { return where(in[0], zero, g); })};
  }
};

struct AddScaled {
  static constexpr std::string_view name = "add_scaled";
  AddScaledFn fn;
  Shape out_shape(const Tensor& x, const Tensor& a, const Tensor& b) const {
    return broadcast_shapes(name, broadcast_shapes(name, x.shape(), a.shape()), b.shape());
  }
  void cpu(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& out) const {
    dispatch_float(name, x.dtype(), [&]<typename T>() { map_cpu<T, T, T, T>(out, fn, x, a, b); });
  }
  void device(const Tensor& x, const Tensor& a, const Tensor& b, const Tensor& out) const {
    backend::ternary(name, fn, x, a, b, out);
  }
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {grad_if(in, 0, [&] { return g; }), grad_if(in, 1, [&] { return g * fn.alpha; }),
            grad_if(in, 2, [&] { return g * fn.beta; })};
  }
};

struct Neg : UnaryOp<Neg, NegFn> {
  static constexpr std::string_view name = "neg";
  TensorList backward(const Tensor& g, const TensorList&, const Tensor&) const { return {neg(g)}; }
};
struct Pow : UnaryOp<Pow, PowFn> {
  static constexpr std::string_view name = "pow";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    if (fn.p == 0) return {mul(g, scalar_like(0, g))};  // not 0 * pow(x, -1), which is NaN at x = 0
    return {mul(g, mul(scalar_like(fn.p, g), pow(in[0], fn.p - 1)))};
  }
};
struct Exp : UnaryOp<Exp, ExpFn> {
  static constexpr std::string_view name = "exp";
  static constexpr bool needs_output = true;
  TensorList backward(const Tensor& g, const TensorList&, const Tensor& out) const { return {mul(g, out)}; }
};
struct Log : UnaryOp<Log, LogFn> {
  static constexpr std::string_view name = "log";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const { return {div(g, in[0])}; }
};
struct Sqrt : UnaryOp<Sqrt, SqrtFn> {
  static constexpr std::string_view name = "sqrt";
  static constexpr bool needs_output = true;
  TensorList backward(const Tensor& g, const TensorList&, const Tensor& out) const {
    return {div(g, mul(out, scalar_like(2, out)))};
  }
};
struct Rsqrt : UnaryOp<Rsqrt, RsqrtFn> {
  static constexpr std::string_view name = "rsqrt";
  static constexpr bool needs_output = true;
  TensorList backward(const Tensor& g, const TensorList&, const Tensor& out) const {
    return {mul(g, mul(pow(out, 3), scalar_like(-0.5, out)))};
  }
};
struct Abs : UnaryOp<Abs, AbsFn> {
  static constexpr std::string_view name = "abs";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const { return {mul(g, sign(in[0]))}; }
};
struct Square : UnaryOp<Square, SquareFn> {
  static constexpr std::string_view name = "square";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {mul(g, mul(in[0], scalar_like(2, g)))};
  }
};
struct Sin : UnaryOp<Sin, SinFn> {
  static constexpr std::string_view name = "sin";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const { return {mul(g, cos(in[0]))}; }
};
struct Cos : UnaryOp<Cos, CosFn> {
  static constexpr std::string_view name = "cos";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const { return {neg(mul(g, sin(in[0])))}; }
};
struct Tanh : UnaryOp<Tanh, TanhFn> {
  static constexpr std::string_view name = "tanh";
  static constexpr bool needs_output = true;
  TensorList backward(const Tensor& g, const TensorList&, const Tensor& out) const {
    return {mul(g, sub(scalar_like(1, out), square(out)))};
  }
};
struct Sigmoid : UnaryOp<Sigmoid, SigmoidFn> {
  static constexpr std::string_view name = "sigmoid";
  static constexpr bool needs_output = true;
  TensorList backward(const Tensor& g, const TensorList&, const Tensor& out) const {
    return {mul(g, mul(out, sub(scalar_like(1, out), out)))};
  }
};
struct Relu : UnaryOp<Relu, ReluFn> {
  static constexpr std::string_view name = "relu";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    return {mul(g, gt(in[0], scalar_like(0, g)))};
  }
};
struct Silu : UnaryOp<Silu, SiluFn> {
  static constexpr std::string_view name = "silu";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const { return {silu_backward(g, in[0])}; }
};
// gelu' = 0.5 (1 + t) + 0.5 a (1 - t^2) du/da, t = tanh(u), du/da = sqrt(2/pi) (1 + 3 * 0.044715 a^2);
// written with differentiable ops, so that its own gradient (gradgradcheck) comes for free.
struct Gelu : UnaryOp<Gelu, GeluFn> {
  static constexpr std::string_view name = "gelu";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    const Tensor& a = in[0];
    const Tensor k = scalar_like(kGeluSqrt2OverPi, a), c = scalar_like(kGeluCubic, a), one = scalar_like(1, a),
                 half = scalar_like(0.5, a);
    const Tensor t = tanh(mul(k, add(a, mul(c, pow(a, 3)))));
    const Tensor du = mul(k, add(one, mul(scalar_like(3 * kGeluCubic, a), square(a))));
    return {mul(g, mul(half, add(add(one, t), mul(mul(a, sub(one, square(t))), du))))};
  }
};
// y = g silu'(a), fused (a training step spends more time in this than in silu itself). It is linear
// in g, and silu''(a) = s (1 - s) (2 + a (1 - 2 s)), so
//   gg_g = silu_backward(gg, a)      gg_a = gg g s (1 - s) (2 + a (1 - 2 s))
struct SiluBackward : BinaryOp<SiluBackward, SiluBackwardFn> {
  static constexpr std::string_view name = "silu_backward";
  TensorList backward(const Tensor& gg, const TensorList& in, const Tensor&) const {
    const Tensor &g = in[0], &a = in[1];
    return {grad_if(in, 0, [&] { return silu_backward(gg, a); }), grad_if(in, 1, [&] {
              const Tensor s = sigmoid(a), one = scalar_like(1, a);
              const Tensor second =
                  mul(mul(s, sub(one, s)), add(scalar_like(2, a), mul(a, sub(one, mul(s, scalar_like(2, a))))));
              return mul(mul(gg, g), second);
            })};
  }
};
struct Softplus : UnaryOp<Softplus, SoftplusFn> {
  static constexpr std::string_view name = "softplus";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const { return {mul(g, sigmoid(in[0]))}; }
};
struct Elu : UnaryOp<Elu, EluFn> {
  static constexpr std::string_view name = "elu";
  static constexpr bool needs_output = true;
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor& out) const {
    const Tensor slope = where(gt(in[0], scalar_like(0, g)), scalar_like(1, g), add(out, scalar_like(fn.alpha, g)));
    return {mul(g, slope)};
  }
};
struct Clamp : UnaryOp<Clamp, ClampFn> {
  static constexpr std::string_view name = "clamp";
  TensorList backward(const Tensor& g, const TensorList& in, const Tensor&) const {
    const Tensor inside = mul(ge(in[0], scalar_like(fn.lo, g)), le(in[0], scalar_like(fn.hi, g)));
    return {mul(g, inside)};
  }
};
struct Sign : UnaryOp<Sign, SignFn> {
  static constexpr std::string_view name = "sign";
};

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return apply(Add{}, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return apply(Sub{}, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return apply(Mul{}, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return apply(Div{}, a, b); }
Tensor where(const Tensor& c, const Tensor& a, const Tensor& b) { return apply(Where{}, c, a, b); }
Tensor add_scaled(const Tensor& x, const Tensor& a, double alpha, const Tensor& b, double beta) {
  return apply(AddScaled{{alpha, beta}}, x, a, b);
}
Tensor eq(const Tensor& a, const Tensor& b) { return apply(Eq{}, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return apply(Ne{}, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return apply(Lt{}, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return apply(Le{}, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return apply(Gt{}, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return apply(Ge{}, a, b); }

Tensor neg(const Tensor& a) { return apply(Neg{}, a); }
Tensor pow(const Tensor& a, double p) { return apply(Pow{{PowFn{p}}}, a); }
Tensor exp(const Tensor& a) { return apply(Exp{}, a); }
Tensor log(const Tensor& a) { return apply(Log{}, a); }
Tensor sqrt(const Tensor& a) { return apply(Sqrt{}, a); }
Tensor rsqrt(const Tensor& a) { return apply(Rsqrt{}, a); }
Tensor abs(const Tensor& a) { return apply(Abs{}, a); }
Tensor square(const Tensor& a) { return apply(Square{}, a); }
Tensor sin(const Tensor& a) { return apply(Sin{}, a); }
Tensor cos(const Tensor& a) { return apply(Cos{}, a); }
Tensor tanh(const Tensor& a) { return apply(Tanh{}, a); }
Tensor gelu(const Tensor& a) { return apply(Gelu{}, a); }
Tensor sigmoid(const Tensor& a) { return apply(Sigmoid{}, a); }
Tensor relu(const Tensor& a) { return apply(Relu{}, a); }
Tensor silu(const Tensor& a) { return apply(Silu{}, a); }
Tensor silu_backward(const Tensor& g, const Tensor& a) { return apply(SiluBackward{}, g, a); }
Tensor softplus(const Tensor& a) { return apply(Softplus{}, a); }
Tensor elu(const Tensor& a, double alpha) { return apply(Elu{{EluFn{alpha}}}, a); }
Tensor clamp(const Tensor& a, double lo, double hi) {
  if (!(lo <= hi))
    throw std::invalid_argument("clamp: lo must be <= hi, got lo " + format_number(lo) + ", hi " + format_number(hi));
  return apply(Clamp{{ClampFn{lo, hi}}}, a);
}
Tensor sign(const Tensor& a) { return apply(Sign{}, a); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double b) { return add(a, scalar_like(b, a)); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar_like(b, a)); }
Tensor operator*(const Tensor& a, double b) { return mul(a, scalar_like(b, a)); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar_like(b, a)); }
Tensor operator+(double a, const Tensor& b) { return add(scalar_like(a, b), b); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar_like(a, b), b); }
Tensor operator*(double a, const Tensor& b) { return mul(scalar_like(a, b), b); }
Tensor operator/(double a, const Tensor& b) { return div(scalar_like(a, b), b); }

}  // namespace scorch
