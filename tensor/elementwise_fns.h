// elementwise_fns.h: the scalar formula of each pointwise op of elementwise.h, one functor per op,
// templated on the element type and callable on host and device: the CPU loop (elementwise.cpp) and
// the CUDA loop (cuda/elementwise.cu) run the same code.
//
// The one difference is the elementary functions that the CPU vectorises by hand: float exp, log1p and
// tanh are tensor/vec_math.h's (<= 2, 4, 4 ulp) on the CPU, CUDA's expf, log1pf, tanhf on a device. So
// float32 results of exp, sigmoid, silu, gelu, softplus, tanh may differ between the two by a few ulp; float64 ones
// use each platform's exp (libm, CUDA: <= 1 ulp apart).
#pragma once
#include <algorithm>
#include <cmath>

#include "tensor/host_device.h"
#include "tensor/vec_math.h"

namespace scorch::fns {

template <typename T>
SCORCH_HOST_DEVICE inline T exp_fn(T x) {
#ifdef __CUDA_ARCH__
  return std::exp(x);
#else
  return exp_vec(x);
#endif
}
template <typename T>
SCORCH_HOST_DEVICE inline T log1p_fn(T x) {
#ifdef __CUDA_ARCH__
  return std::log1p(x);
#else
  return log1p_vec(x);
#endif
}

template <typename T>
SCORCH_HOST_DEVICE inline T tanh_fn(T x) {
#ifdef __CUDA_ARCH__
  return std::tanh(x);
#else
  return tanh_vec(x);
#endif
}

// clang-format off: one functor a line, a table
#define SCORCH_FN       \
  template <typename T> \
  SCORCH_HOST_DEVICE T operator()

struct AddFn {
  SCORCH_FN(T a, T b) const { return a + b; }
};
struct SubFn {
  SCORCH_FN(T a, T b) const { return a - b; }
};
struct MulFn {
  SCORCH_FN(T a, T b) const { return a * b; }
};
struct DivFn {
  SCORCH_FN(T a, T b) const { return a / b; }
};
struct EqFn {
  SCORCH_FN(T a, T b) const { return a == b; }
};
struct NeFn {
  SCORCH_FN(T a, T b) const { return a != b; }
};
struct LtFn {
  SCORCH_FN(T a, T b) const { return a < b; }
};
struct LeFn {
  SCORCH_FN(T a, T b) const { return a <= b; }
};
struct GtFn {
  SCORCH_FN(T a, T b) const { return a > b; }
};
struct GeFn {
  SCORCH_FN(T a, T b) const { return a >= b; }
};

struct NegFn {
  SCORCH_FN(T a) const { return -a; }
};
struct ExpFn {
  SCORCH_FN(T a) const { return exp_fn(a); }
};
struct LogFn {
  SCORCH_FN(T a) const { return std::log(a); }
};
struct SqrtFn {
  SCORCH_FN(T a) const { return std::sqrt(a); }
};
struct RsqrtFn {
  SCORCH_FN(T a) const { return T(1) / std::sqrt(a); }
};
struct AbsFn {
  SCORCH_FN(T a) const { return std::abs(a); }
};
struct SquareFn {
  SCORCH_FN(T a) const { return a * a; }
};
struct SinFn {
  SCORCH_FN(T a) const { return std::sin(a); }
};
struct CosFn {
  SCORCH_FN(T a) const { return std::cos(a); }
};
struct TanhFn {
  SCORCH_FN(T a) const { return tanh_fn(a); }
};
struct SigmoidFn {
  SCORCH_FN(T a) const { return T(1) / (T(1) + exp_fn(-a)); }
};
struct ReluFn {
  SCORCH_FN(T a) const { return a > T(0) ? a : T(0); }
};
struct SiluFn {
  SCORCH_FN(T a) const { return a / (T(1) + exp_fn(-a)); }
};
// gelu's tanh approximation (Hendrycks & Gimpel; PyTorch's approximate="tanh"): 0.5 a (1 + tanh u),
// u = sqrt(2/pi) (a + 0.044715 a^3), computed as a sigmoid(2u) = a / (1 + e^-2u): the same function,
// through exp_fn, which vectorises (std::tanh does not: 14x slower on 1M floats).
inline constexpr double kGeluSqrt2OverPi = 0.7978845608028654, kGeluCubic = 0.044715;
struct GeluFn {
  SCORCH_FN(T a) const {
    const T u = static_cast<T>(kGeluSqrt2OverPi) * (a + static_cast<T>(kGeluCubic) * a * a * a);
    return a / (T(1) + exp_fn(T(-2) * u));
  }
};
// silu's backward in one pass: g s (1 + a (1 - s)), s = sigmoid(a).
struct SiluBackwardFn {
  SCORCH_FN(T g, T a) const {
    const T s = T(1) / (T(1) + exp_fn(-a));
    return g * s * (T(1) + a * (T(1) - s));
  }
};
// log(1 + e^a) without overflow for large a or loss of precision for very negative a.
struct SoftplusFn {
  SCORCH_FN(T a) const { return std::max(a, T(0)) + log1p_fn(exp_fn(-std::abs(a))); }
};
struct SignFn {
  SCORCH_FN(T a) const { return T((a > T(0)) - (a < T(0))); }
};
struct PowFn {
  double p;
  SCORCH_FN(T a) const { return p == 2.0 ? a * a : std::pow(a, static_cast<T>(p)); }
};
struct EluFn {
  double alpha;
  SCORCH_FN(T a) const { return a > T(0) ? a : static_cast<T>(alpha) * std::expm1(a); }
};
struct ClampFn {
  double lo, hi;
  SCORCH_FN(T a) const { return std::min(std::max(a, static_cast<T>(lo)), static_cast<T>(hi)); }
};
struct WhereFn {
  SCORCH_FN(T c, T a, T b) const { return c != T(0) ? a : b; }
};
// x + alpha a + beta b in one pass: the three ops x + a * alpha, then + b * beta, except that GCC and
// nvcc may contract the first into an FMA (a last-bit difference from the separate ops).
struct AddScaledFn {
  double alpha, beta;
  SCORCH_FN(T x, T a, T b) const { return (x + a * static_cast<T>(alpha)) + b * static_cast<T>(beta); }
};

#undef SCORCH_FN
// clang-format on

}  // namespace scorch::fns

// Every functor of the elementwise ops, by arity: a device backend instantiates its kernels for each
// (cuda/elementwise.cu, and cuda/device_stub.cpp in a build without one).
#define SCORCH_UNARY_FNS(X)                                                                                     \
  X(NegFn)                                                                                                      \
  X(PowFn) X(ExpFn) X(LogFn) X(SqrtFn) X(RsqrtFn) X(AbsFn) X(SquareFn) X(SinFn) X(CosFn) X(TanhFn) X(SigmoidFn) \
      X(ReluFn) X(SiluFn) X(GeluFn) X(SoftplusFn) X(EluFn) X(ClampFn) X(SignFn)
#define SCORCH_BINARY_FNS(X) \
  X(AddFn) X(SubFn) X(MulFn) X(DivFn) X(EqFn) X(NeFn) X(LtFn) X(LeFn) X(GtFn) X(GeFn) X(SiluBackwardFn)
#define SCORCH_TERNARY_FNS(X) X(WhereFn) X(AddScaledFn)
