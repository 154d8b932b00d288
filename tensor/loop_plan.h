// loop_plan.h: the layout of an N-operand elementwise loop, shared by the CPU loops (cpu_loops.h) and
// the CUDA ones (cuda/loops.h): each operand is read through its own strides over the (broadcast)
// output shape, with stride 0 on broadcast dims, and adjacent dims that are contiguous in every
// operand are merged, so that the common cases collapse to one flat dim.
#pragma once
#include <array>
#include <cstdint>
#include <optional>

#include "tensor/tensor.h"

namespace scorch {

// Strides of `t` seen with the (broadcast) shape `shape`: 0 where t has size 1 or no such dim.
Shape broadcast_strides(const Tensor& t, const Shape& shape);

// Shape and per-operand strides of an N-operand loop after merging dims.
template <int N>
struct LoopPlan {
  Shape shape;
  std::array<Shape, N> strides;
};

template <int N>
LoopPlan<N> make_loop_plan(const Shape& shape, const std::array<Shape, N>& strides) {
  LoopPlan<N> p;
  for (int d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;  // size-1 dims do not move any pointer
    const int last = p.shape.size() - 1;
    bool merge = last >= 0;
    for (int k = 0; merge && k < N; ++k) merge = p.strides[k][last] == strides[k][d] * shape[d];
    if (merge) {
      p.shape[last] *= shape[d];
      for (int k = 0; k < N; ++k) p.strides[k][last] = strides[k][d];
    } else {
      p.shape.push_back(shape[d]);
      for (int k = 0; k < N; ++k) p.strides[k].push_back(strides[k][d]);
    }
  }
  if (p.shape.empty()) {  // a single element (or a 0-d tensor)
    p.shape.push_back(1);
    for (int k = 0; k < N; ++k) p.strides[k].push_back(1);
  }
  return p;
}

// ---- Batched matmul operands (the CPU's OpenBLAS loop and cuBLAS's strided batches) ----

// a [..., M, K] as a single [rows, K] matrix, if its batch and row dims merge into one evenly
// spaced dim (a contiguous [B, M, K] is [B*M, K]).
inline std::optional<Tensor> as_one_matrix(const Tensor& a) {
  Shape rows = a.shape(), strides = a.strides();
  rows.erase(a.dim() - 1);
  strides.erase(a.dim() - 1);
  const LoopPlan<1> p = make_loop_plan<1>(rows, {strides});
  if (p.shape.size() != 1) return std::nullopt;
  return make_view(a, {p.shape[0], a.shape().back()}, {p.strides[0][0], a.strides().back()}, a.offset());
}

// y [..., M, N] = a [..., M, K] @ b with one b [K, N] for the whole batch (a linear layer on [B, T, C]):
// a, b and y are viewed in place as one product [rows, K] @ [K, N] -> [rows, N] when a's batch and row
// dims merge (as_one_matrix; y is fresh and contiguous). Otherwise they are left as they are.
inline void merge_shared_rhs_batch(Tensor& a, Tensor& b, Tensor& y) {
  const int64_t K = a.shape().back(), N = y.shape().back();
  if (b.numel() != K * N) return;
  const std::optional<Tensor> rows = as_one_matrix(a);
  if (!rows) return;
  a = *rows;
  b = make_view(b, {K, N}, {b.strides()[b.dim() - 2], b.strides().back()}, b.offset());
  y = make_view(y, {a.shape()[0], N}, {N, 1}, y.offset());
}

// Strides of t's batch dims seen with the broadcast batch shape (0 where t is broadcast).
inline Shape batch_strides(const Tensor& t, const Shape& batch) {
  Shape full = batch;
  full.push_back(t.shape()[t.dim() - 2]);
  full.push_back(t.shape().back());
  Shape s = broadcast_strides(t, full);
  s.erase(s.size() - 1);
  s.erase(s.size() - 1);
  return s;
}

}  // namespace scorch
