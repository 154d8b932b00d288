// reduce_reference.h: naive sum, mean, max and sum_to for the tests: one pass over every element of
// the input in row-major order, accumulating in double into the output element it reduces to. Never
// calls the code under test (only values(), shape() and from_vector()).
#pragma once
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/tensor.h"

namespace scorch::reference {

// Which dims a reduction runs over (empty dims: all of them; negative dims count from the end).
inline std::vector<bool> reduced_dims(const Shape& shape, const std::vector<int64_t>& dims) {
  std::vector<bool> r(shape.size(), dims.empty());
  for (int64_t d : dims)
    if (shape.size() > 0) r[d < 0 ? d + shape.size() : d] = true;
  return r;
}

// Folds every element of `a` into the output element it reduces to: out = fold(out, x).
template <typename Fold>
Tensor reduce(const Tensor& a, const std::vector<bool>& reduced, bool keepdim, double init, Fold fold) {
  const Shape& in = a.shape();
  Shape out_shape, kept_shape;  // kept_shape: the output with keepdim, for the index arithmetic
  for (int d = 0; d < in.size(); ++d) {
    kept_shape.push_back(reduced[d] ? 1 : in[d]);
    if (!reduced[d] || keepdim) out_shape.push_back(kept_shape[d]);
  }
  std::vector<double> out(out_shape.numel(), init);
  const std::vector<double> x = a.values();
  std::vector<int64_t> index(in.size(), 0);
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t o = 0;
    for (int d = 0; d < in.size(); ++d) o = o * kept_shape[d] + (reduced[d] ? 0 : index[d]);
    out[o] = fold(out[o], x[i]);
    for (int d = in.size() - 1; d >= 0 && ++index[d] == in[d]; --d) index[d] = 0;
  }
  return from_vector(out, out_shape, {.dtype = a.dtype()});
}

inline Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce(a, reduced_dims(a.shape(), dims), keepdim, 0.0, [](double s, double x) { return s + x; });
}

inline Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  const std::vector<bool> r = reduced_dims(a.shape(), dims);
  double count = 1;
  for (int d = 0; d < a.dim(); ++d)
    if (r[d]) count *= static_cast<double>(a.shape()[d]);
  const Tensor s = reduce(a, r, keepdim, 0.0, [](double s, double x) { return s + x; });
  std::vector<double> v = s.values();
  for (double& x : v) x /= count;
  return from_vector(v, s.shape(), {.dtype = a.dtype()});
}

inline Tensor max(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce(a, reduced_dims(a.shape(), dims), keepdim, -std::numeric_limits<double>::infinity(),
                [](double m, double x) { return x > m ? x : m; });
}

// Sums the leading dims that `shape` lacks and the dims where it has 1.
inline Tensor sum_to(const Tensor& a, const Shape& shape) {
  const int lead = a.dim() - shape.size();
  std::vector<bool> r(a.dim());
  for (int d = 0; d < a.dim(); ++d) r[d] = d < lead || shape[d - lead] == 1;
  const Tensor s = reduce(a, r, /*keepdim=*/true, 0.0, [](double s, double x) { return s + x; });
  return from_vector(s.values(), shape, {.dtype = a.dtype()});
}

}  // namespace scorch::reference
