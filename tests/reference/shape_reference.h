// Naive references for shape ops: index arithmetic over row-major values, in double.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace scorch::reference {

// Row-major multi-index of flat position i in `shape`.
inline std::vector<int64_t> unravel(int64_t i, const std::vector<int64_t>& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}

inline int64_t ravel(const std::vector<int64_t>& idx, const std::vector<int64_t>& shape) {
  int64_t i = 0;
  for (size_t d = 0; d < shape.size(); ++d) i = i * shape[d] + idx[d];
  return i;
}

inline Tensor permute(const Tensor& a, const std::vector<int64_t>& dims) {
  const std::vector<int64_t> in = a.shape().vec();
  std::vector<int64_t> out(dims.size());
  for (size_t d = 0; d < dims.size(); ++d) out[d] = in[dims[d]];
  const std::vector<double> v = a.values();
  std::vector<double> r(v.size());
  for (size_t i = 0; i < r.size(); ++i) {
    const std::vector<int64_t> oi = unravel(static_cast<int64_t>(i), out);
    std::vector<int64_t> ii(in.size());
    for (size_t d = 0; d < dims.size(); ++d) ii[dims[d]] = oi[d];
    r[i] = v[ravel(ii, in)];
  }
  return from_vector(r, Shape(out), {.dtype = kFloat64});
}

// Elements start, start + step, ... < end of dim `dim` (all non-negative, already clamped).
inline Tensor slice(const Tensor& a, int dim, int64_t start, int64_t end, int64_t step) {
  const std::vector<int64_t> in = a.shape().vec();
  std::vector<int64_t> out = in;
  out[dim] = end > start ? (end - start + step - 1) / step : 0;
  const std::vector<double> v = a.values();
  int64_t total = 1;
  for (int64_t s : out) total *= s;
  std::vector<double> r(total);
  for (int64_t i = 0; i < total; ++i) {
    std::vector<int64_t> idx = unravel(i, out);
    idx[dim] = start + idx[dim] * step;
    r[i] = v[ravel(idx, in)];
  }
  return from_vector(r, Shape(out), {.dtype = kFloat64});
}

// Concatenation along `dim`.
inline Tensor concat(const std::vector<Tensor>& ts, int dim) {
  std::vector<int64_t> out = ts[0].shape().vec();
  out[dim] = 0;
  for (const Tensor& t : ts) out[dim] += t.shape()[dim];
  int64_t total = 1;
  for (int64_t s : out) total *= s;
  std::vector<double> r(total);
  for (int64_t i = 0; i < total; ++i) {
    std::vector<int64_t> idx = unravel(i, out);
    size_t k = 0;
    while (idx[dim] >= ts[k].shape()[dim]) idx[dim] -= ts[k++].shape()[dim];
    r[i] = ts[k].values()[ravel(idx, ts[k].shape().vec())];
  }
  return from_vector(r, Shape(out), {.dtype = kFloat64});
}

}  // namespace scorch::reference
