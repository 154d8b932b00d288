// Naive references for pointwise ops: index loops in double over row-major values, with broadcasting
// done by hand (never calling scorch's broadcasting or kernels).
#pragma once
#include <algorithm>
#include <functional>
#include <vector>

#include "tensor/tensor.h"

namespace scorch::reference {

// out[idx] = f(x_0[idx_0], x_1[idx_1], ...) where idx_k drops the leading dims x_k lacks and zeroes its
// size-1 dims.
inline Tensor nary(const std::vector<Tensor>& xs, const std::function<double(const std::vector<double>&)>& f) {
  size_t n = 0;
  for (const Tensor& x : xs) n = std::max(n, x.shape().vec().size());
  std::vector<std::vector<int64_t>> padded;  // each shape with leading 1s, to n dims
  std::vector<std::vector<double>> values;
  std::vector<int64_t> out(n, 1);
  for (const Tensor& x : xs) {
    const std::vector<int64_t> s = x.shape().vec();
    std::vector<int64_t> p(n, 1);
    std::copy(s.begin(), s.end(), p.begin() + (n - s.size()));
    for (size_t d = 0; d < n; ++d)
      if (p[d] != 1) out[d] = p[d];
    padded.push_back(p);
    values.push_back(x.values());
  }
  int64_t total = 1;
  for (int64_t s : out) total *= s;
  std::vector<double> result(total), args(xs.size());
  for (int64_t i = 0; i < total; ++i) {
    for (size_t k = 0; k < xs.size(); ++k) {
      int64_t rest = i, index = 0, stride = 1;
      for (size_t d = n; d-- > 0;) {
        const int64_t at = rest % out[d];
        rest /= out[d];
        index += (padded[k][d] == 1 ? 0 : at) * stride;
        stride *= padded[k][d];
      }
      args[k] = values[k][index];
    }
    result[i] = f(args);
  }
  return from_vector(result, Shape(out), {.dtype = kFloat64});
}

inline Tensor binary(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f) {
  return nary({a, b}, [&](const std::vector<double>& v) { return f(v[0], v[1]); });
}

inline Tensor ternary(const Tensor& a, const Tensor& b, const Tensor& c,
                      const std::function<double(double, double, double)>& f) {
  return nary({a, b, c}, [&](const std::vector<double>& v) { return f(v[0], v[1], v[2]); });
}

inline Tensor unary(const Tensor& a, const std::function<double(double)>& f) {
  std::vector<double> v = a.values();
  for (double& x : v) x = f(x);
  return from_vector(v, a.shape(), {.dtype = kFloat64});
}

}  // namespace scorch::reference
