// elementwise.h: pointwise ops with NumPy broadcasting (float32 and float64).
//
// Forward and backward, with g the gradient of the output y; sum_to(t, shape) sums t over the dims
// that broadcasting added (reduce.h). Every backward is written with these same ops, so it can be
// differentiated again (gradgradcheck covers each one).
//   add      y = a + b            ga = sum_to(g)             gb = sum_to(g)
//   sub      y = a - b            ga = sum_to(g)             gb = sum_to(-g)
//   mul      y = a * b            ga = sum_to(g b)           gb = sum_to(g a)
//   div      y = a / b            ga = sum_to(g / b)         gb = sum_to(-g a / b^2)
//   neg      y = -a               ga = -g
//   pow      y = a^p (scalar p)   ga = g p a^(p-1)
//   exp      y = e^a              ga = g y
//   log      y = ln a             ga = g / a
//   sqrt     y = sqrt(a)          ga = g / (2 y)
//   rsqrt    y = 1 / sqrt(a)      ga = -g y^3 / 2
//   abs      y = |a|              ga = g sign(a)            (0 at a = 0, as PyTorch)
//   square   y = a^2              ga = 2 g a
//   sin      y = sin a            ga = g cos a
//   cos      y = cos a            ga = -g sin a
//   tanh     y = tanh a           ga = g (1 - y^2)
//   sigmoid  y = 1/(1+e^-a)       ga = g y (1 - y)
//   relu     y = max(a, 0)        ga = g [a > 0]
//   silu     y = a sigmoid(a)     ga = silu_backward(g, a) = g s (1 + a (1 - s)),  s = sigmoid(a)
//            (one fused op, itself differentiable: silu'' = s (1 - s) (2 + a (1 - 2 s)))
//   gelu     y = 0.5 a (1 + tanh u),  u = sqrt(2/pi) (a + 0.044715 a^3)   (the tanh approximation)
//            ga = g (0.5 (1 + t) + 0.5 a (1 - t^2) sqrt(2/pi) (1 + 0.134145 a^2)),  t = tanh u
//   softplus y = ln(1 + e^a)      ga = g sigmoid(a)          computed as max(a,0) + log1p(e^-|a|)
//   elu      y = a > 0 ? a : alpha (e^a - 1)                 ga = g (a > 0 ? 1 : y + alpha)
//   clamp    y = min(max(a, lo), hi)                         ga = g [lo <= a <= hi]
//   where    y = c != 0 ? a : b   ga = sum_to(where(c, g, 0))  gb = sum_to(where(c, 0, g))   (no grad for c)
//   add_scaled  y = x + alpha a + beta b, one pass (a Langevin step: x + step s + sqrt(2 step) z)
//               gx = g   ga = alpha g   gb = beta g   (each summed to its input's shape)
// Not differentiable (outputs never require grad): sign, and the comparisons eq ne lt le gt ge, which
// return 1 or 0 in the dtype of their inputs so that masks multiply directly.
// Reference: PyTorch tools/autograd/derivatives.yaml.
#pragma once
#include "tensor/tensor.h"

namespace scorch {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor add_scaled(const Tensor& x, const Tensor& a, double alpha, const Tensor& b, double beta);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, double p);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor square(const Tensor& a);
Tensor sin(const Tensor& a);
Tensor cos(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor gelu(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor silu(const Tensor& a);
Tensor silu_backward(const Tensor& g, const Tensor& a);
Tensor softplus(const Tensor& a);
Tensor elu(const Tensor& a, double alpha = 1.0);
Tensor clamp(const Tensor& a, double lo, double hi);
Tensor sign(const Tensor& a);

// Scalars are 0-d tensors of the other operand's dtype and device.
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

}  // namespace scorch
