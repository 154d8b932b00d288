// Naive references for pointwise ops: index loops in double over row-major values, with broadcasting
// done by hand (never calling scorch's broadcasting or kernels).
#pragma once
#include <functional>
#include <vector>

#include "tensor/tensor.h"

namespace scorch::reference {

// out[idx] = f(a[idx'], b[idx'']) where idx' drops leading dims and zeroes size-1 dims.
inline Tensor binary(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f) {
  const std::vector<int64_t> as = a.shape().vec(), bs = b.shape().vec();
  const size_t n = std::max(as.size(), bs.size());
  std::vector<int64_t> pa(n, 1), pb(n, 1), out(n);
  std::copy(as.begin(), as.end(), pa.begin() + (n - as.size()));
  std::copy(bs.begin(), bs.end(), pb.begin() + (n - bs.size()));
  for (size_t d = 0; d < n; ++d) out[d] = pa[d] == 1 ? pb[d] : pa[d];
  const std::vector<double> va = a.values(), vb = b.values();
  int64_t total = 1;
  for (int64_t s : out) total *= s;
  std::vector<double> result(total);
  for (int64_t i = 0; i < total; ++i) {
    int64_t rest = i, ia = 0, ib = 0, sa = 1, sb = 1;
    for (size_t d = n; d-- > 0;) {
      const int64_t k = rest % out[d];
      rest /= out[d];
      ia += (pa[d] == 1 ? 0 : k) * sa;
      ib += (pb[d] == 1 ? 0 : k) * sb;
      sa *= pa[d];
      sb *= pb[d];
    }
    result[i] = f(va[ia], vb[ib]);
  }
  return from_vector(result, Shape(out), {.dtype = kFloat64});
}

inline Tensor unary(const Tensor& a, const std::function<double(double)>& f) {
  std::vector<double> v = a.values();
  for (double& x : v) x = f(x);
  return from_vector(v, a.shape(), {.dtype = kFloat64});
}

}  // namespace scorch::reference
