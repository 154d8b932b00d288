// reduce_plan.h: how a reduction walks its input, shared by the CPU kernels (autograd/ops/reduce.cpp)
// and the CUDA ones (cuda/loops.h turns the two plans into device offset calculators).
#pragma once
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "tensor/loop_plan.h"

namespace scorch {

// a's dims split into the kept ones (row-major, the order of the contiguous output) and the reduced
// ones (by decreasing stride, so that a transposed input is still read in memory order); size-1 dims
// dropped, contiguous runs merged.
struct ReducePlan {
  LoopPlan<1> kept, reduced;
  int64_t outputs = 1, length = 1;  // number of outputs, elements folded into each
};

inline ReducePlan make_reduce_plan(const Tensor& a, uint32_t mask) {
  Shape kept_shape, kept_strides, reduced_shape, reduced_strides;
  std::vector<std::pair<int64_t, int64_t>> reduced;  // (stride, size)
  for (int d = 0; d < a.dim(); ++d) {
    if (mask >> d & 1u) {
      reduced.emplace_back(a.strides()[d], a.shape()[d]);
    } else {
      kept_shape.push_back(a.shape()[d]);
      kept_strides.push_back(a.strides()[d]);
    }
  }
  std::stable_sort(reduced.begin(), reduced.end(), [](auto x, auto y) { return x.first > y.first; });
  for (auto [stride, size] : reduced) reduced_strides.push_back(stride), reduced_shape.push_back(size);
  return {make_loop_plan<1>(kept_shape, {kept_strides}), make_loop_plan<1>(reduced_shape, {reduced_strides}),
          kept_shape.numel(), reduced_shape.numel()};
}

}  // namespace scorch
