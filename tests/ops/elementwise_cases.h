// elementwise_cases.h: the one table of elementwise op cases, in the manner of ggml's
// test-backend-ops. Each entry is one op as users call it, with what every check of it needs:
//   - the naive double reference (tests/ops/test_elementwise.cpp: forward against it, then gradcheck
//     and gradgradcheck in float64 where the op has a gradient);
//   - the float32 accuracy class, which sets the CPU/CUDA parity tolerance (tests/test_cuda_ops.cpp);
//   - the input range, kept inside the op's domain (log, sqrt, div's divisor);
//   - `fn`, the per-element struct of tensor/elementwise_fns.h the op runs: the test
//     ElementwiseCases.EveryElementwiseFnHasACase fails when a struct of SCORCH_UNARY_FNS,
//     SCORCH_BINARY_FNS or SCORCH_TERNARY_FNS has no entry here, so a new op cannot miss its tests.
// bench/bench_elementwise.cpp registers one benchmark per entry (elementwise/<name>/1M).
// The shapes and layouts each check runs over are its own (the reference check covers 0-d, empty,
// broadcast and strided inputs; parity adds large ones); the ops are listed once.
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "autograd/ops.h"

namespace scorch::testing {

// How close float32 results of two backends must be: `exact` ops are IEEE-rounded arithmetic on both
// (but a fused multiply-add), `transcendental` ones go through each backend's exp/log/... (a few ulp).
enum class Accuracy { exact, transcendental };

struct UnaryCase {
  const char* name;
  const char* fn;  // its struct in tensor/elementwise_fns.h
  std::function<Tensor(const Tensor&)> op;
  double (*ref)(double);
  double lo = -2, hi = 2;  // input range
  Accuracy accuracy = Accuracy::transcendental;
  bool differentiable = true;  // sign: a zero Jacobian both ways, still checked
};

struct BinaryCase {
  const char* name;
  const char* fn;
  Tensor (*op)(const Tensor&, const Tensor&);
  double (*ref)(double, double);
  double lo = -1, hi = 1;  // range of the second input (div's divisor stays away from 0)
  Accuracy accuracy = Accuracy::exact;
  bool differentiable = true;  // comparisons: no graph at all
};

struct TernaryCase {
  const char* name;
  const char* fn;
  std::function<Tensor(const TensorList&)> op;  // three inputs
  double (*ref)(double, double, double);
  bool first_is_condition = false;  // where: a 0/1 mask, not differentiated
};

inline double sigmoid_of(double x) { return 1 / (1 + std::exp(-x)); }

inline const std::vector<UnaryCase>& unary_cases() {
  using A = Accuracy;
  static const std::vector<UnaryCase> cases = {
      {"neg", "NegFn", [](const Tensor& a) { return neg(a); }, [](double x) { return -x; }, -2, 2, A::exact},
      {"pow3", "PowFn", [](const Tensor& a) { return pow(a, 3); }, [](double x) { return x * x * x; }},
      {"pow2", "PowFn", [](const Tensor& a) { return pow(a, 2); }, [](double x) { return x * x; }, -2, 2, A::exact},
      {"pow-1.5", "PowFn", [](const Tensor& a) { return pow(a, -1.5); }, [](double x) { return std::pow(x, -1.5); },
       0.5, 2},
      {"pow-0.5", "PowFn", [](const Tensor& a) { return pow(a, -0.5); }, [](double x) { return 1 / std::sqrt(x); }, 0.5,
       3},
      {"exp", "ExpFn", [](const Tensor& a) { return exp(a); }, [](double x) { return std::exp(x); }},
      {"log", "LogFn", [](const Tensor& a) { return log(a); }, [](double x) { return std::log(x); }, 0.2, 3},
      {"sqrt", "SqrtFn", [](const Tensor& a) { return sqrt(a); }, [](double x) { return std::sqrt(x); }, 0.2, 3},
      {"rsqrt", "RsqrtFn", [](const Tensor& a) { return rsqrt(a); }, [](double x) { return 1 / std::sqrt(x); }, 0.2, 3},
      {"abs", "AbsFn", [](const Tensor& a) { return abs(a); }, [](double x) { return std::abs(x); }, -2, 2, A::exact},
      {"square", "SquareFn", [](const Tensor& a) { return square(a); }, [](double x) { return x * x; }, -2, 2,
       A::exact},
      {"sin", "SinFn", [](const Tensor& a) { return sin(a); }, [](double x) { return std::sin(x); }, -4, 4},
      {"cos", "CosFn", [](const Tensor& a) { return cos(a); }, [](double x) { return std::cos(x); }, -4, 4},
      {"tanh", "TanhFn", [](const Tensor& a) { return tanh(a); }, [](double x) { return std::tanh(x); }},
      {"sigmoid", "SigmoidFn", [](const Tensor& a) { return sigmoid(a); }, sigmoid_of},
      {"relu", "ReluFn", [](const Tensor& a) { return relu(a); }, [](double x) { return x > 0 ? x : 0; }, -2, 2,
       A::exact},
      {"silu", "SiluFn", [](const Tensor& a) { return silu(a); }, [](double x) { return x * sigmoid_of(x); }, -4, 4},
      {"gelu", "GeluFn", [](const Tensor& a) { return gelu(a); },
       [](double x) { return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }, -4, 4},
      {"softplus", "SoftplusFn", [](const Tensor& a) { return softplus(a); },
       [](double x) { return std::log1p(std::exp(x)); }},
      {"elu", "EluFn", [](const Tensor& a) { return elu(a, 0.7); },
       [](double x) { return x > 0 ? x : 0.7 * (std::exp(x) - 1); }},
      {"clamp", "ClampFn", [](const Tensor& a) { return clamp(a, -0.5, 0.8); },
       [](double x) { return std::clamp(x, -0.5, 0.8); }, -2, 2, A::exact},
      {"sign", "SignFn", [](const Tensor& a) { return sign(a); }, [](double x) { return double((x > 0) - (x < 0)); },
       -2, 2, A::exact},
  };
  return cases;
}

inline const std::vector<BinaryCase>& binary_cases() {
  using A = Accuracy;
  static const std::vector<BinaryCase> cases = {
      {"add", "AddFn", add, [](double a, double b) { return a + b; }},
      {"sub", "SubFn", sub, [](double a, double b) { return a - b; }},
      {"mul", "MulFn", mul, [](double a, double b) { return a * b; }},
      {"div", "DivFn", div, [](double a, double b) { return a / b; }, 0.5, 2.0},
      {"silu_backward", "SiluBackwardFn", silu_backward,
       [](double g, double a) { return g * sigmoid_of(a) * (1 + a * (1 - sigmoid_of(a))); }, -3, 3, A::transcendental},
      {"eq", "EqFn", eq, [](double a, double b) { return double(a == b); }, -1, 1, A::exact, false},
      {"ne", "NeFn", ne, [](double a, double b) { return double(a != b); }, -1, 1, A::exact, false},
      {"lt", "LtFn", lt, [](double a, double b) { return double(a < b); }, -1, 1, A::exact, false},
      {"le", "LeFn", le, [](double a, double b) { return double(a <= b); }, -1, 1, A::exact, false},
      {"gt", "GtFn", gt, [](double a, double b) { return double(a > b); }, -1, 1, A::exact, false},
      {"ge", "GeFn", ge, [](double a, double b) { return double(a >= b); }, -1, 1, A::exact, false},
  };
  return cases;
}

// add_scaled's scales, fixed so that the reference can hold them.
inline constexpr double kAddScaledAlpha = 0.7, kAddScaledBeta = -1.3;

inline const std::vector<TernaryCase>& ternary_cases() {
  static const std::vector<TernaryCase> cases = {
      {"where", "WhereFn", [](const TensorList& x) { return where(x[0], x[1], x[2]); },
       [](double c, double a, double b) { return c != 0 ? a : b; }, true},
      {"add_scaled", "AddScaledFn",
       [](const TensorList& x) { return add_scaled(x[0], x[1], kAddScaledAlpha, x[2], kAddScaledBeta); },
       [](double x, double a, double b) { return x + kAddScaledAlpha * a + kAddScaledBeta * b; }},
  };
  return cases;
}

}  // namespace scorch::testing
