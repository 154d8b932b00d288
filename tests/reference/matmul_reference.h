// matmul_reference.h: naive numpy.matmul for the tests: triple loop in double over every batch
// element, with 1-d operands and batch broadcasting handled by index arithmetic. Never calls the code
// under test (only values(), shape() and from_vector()).
#pragma once
#include <algorithm>
#include <vector>

#include "tensor/tensor.h"

namespace scorch::reference {

inline Tensor matmul(const Tensor& a, const Tensor& b) {
  // View 1-d operands as matrices: a [K] -> [1, K], b [K] -> [K, 1].
  Shape sa = a.shape(), sb = b.shape();
  if (a.dim() == 1) sa.insert(0, 1);
  if (b.dim() == 1) sb.push_back(1);
  const int na = sa.size() - 2, nb = sb.size() - 2, n = std::max(na, nb);
  const int64_t M = sa[na], K = sa[na + 1], N = sb[nb + 1];
  Shape batch;
  for (int i = 0; i < n; ++i) {
    const int64_t da = i >= n - na ? sa[i - (n - na)] : 1, db = i >= n - nb ? sb[i - (n - nb)] : 1;
    batch.push_back(da == 1 ? db : da);
  }
  const std::vector<double> x = a.values(), w = b.values();
  std::vector<double> y(batch.numel() * M * N, 0.0);
  std::vector<int64_t> index(n, 0);
  for (int64_t t = 0; t < batch.numel(); ++t) {
    int64_t ia = 0, ib = 0;  // row-major index of this batch element in a's and b's own batch dims
    for (int i = 0; i < n; ++i) {
      if (i >= n - na) ia = ia * sa[i - (n - na)] + (sa[i - (n - na)] == 1 ? 0 : index[i]);
      if (i >= n - nb) ib = ib * sb[i - (n - nb)] + (sb[i - (n - nb)] == 1 ? 0 : index[i]);
    }
    for (int64_t m = 0; m < M; ++m)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += x[(ia * M + m) * K + k] * w[(ib * K + k) * N + j];
        y[(t * M + m) * N + j] = s;
      }
    for (int i = n - 1; i >= 0 && ++index[i] == batch[i]; --i) index[i] = 0;
  }
  Shape out = batch;
  if (a.dim() >= 2) out.push_back(M);
  if (b.dim() >= 2) out.push_back(N);
  return from_vector(y, out, {.dtype = a.dtype()});
}

}  // namespace scorch::reference
