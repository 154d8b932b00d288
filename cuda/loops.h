// loops.h: the index arithmetic of the CUDA elementwise loops, written once for host and device (no
// CUDA types), so that the CPU tests run exactly what a thread of the kernel runs
// (tests/test_cuda_loops.cpp); cuda/loops.cuh launches it.
//
// An N-operand loop (operand 0 the output, the rest inputs, broadcast to its shape) is the LoopPlan of
// tensor/loop_plan.h: dims merged where every operand is contiguous across them. Thread i (of a
// grid-stride loop over the output's numel) takes element i in row-major order of the plan, splits i
// into one index per dim (innermost first: i % size, i / size) and sums index * stride per operand.
// A contiguous operation merges into one dim and costs no division.
#pragma once
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "tensor/host_device.h"
#include "tensor/loop_plan.h"
#include "tensor/reduce_plan.h"

namespace scorch::cuda {

template <int N>
struct OffsetCalc {
  int ndim = 1;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxDims][N] = {};  // [dim][operand], in elements

  // off[k] = offset of element i (row-major over sizes) in operand k.
  SCORCH_HOST_DEVICE void get(int64_t i, int64_t (&off)[N]) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d > 0; --d) {
      const int64_t idx = i % sizes[d];
      i /= sizes[d];
      for (int k = 0; k < N; ++k) off[k] += idx * strides[d][k];
    }
    for (int k = 0; k < N; ++k) off[k] += i * strides[0][k];  // i < sizes[0] here: no modulo needed
  }
};

template <int N>
OffsetCalc<N> make_offset_calc(const LoopPlan<N>& plan) {
  OffsetCalc<N> c;
  c.ndim = plan.shape.size();  // >= 1: make_loop_plan gives [1] for a single element
  for (int d = 0; d < c.ndim; ++d) {
    c.sizes[d] = plan.shape[d];
    for (int k = 0; k < N; ++k) c.strides[d][k] = plan.strides[k][d];
  }
  return c;
}

// A reduction of a over the dims in mask as two index sets: output o (row-major over the kept dims,
// the order of the contiguous output) starts at kept.get(o), and its r-th term lies reduced.get(r)
// further. The reduced dims go by decreasing stride, so that consecutive r, taken by consecutive
// threads of a block, read consecutive addresses when a reduced dim is contiguous.
struct ReducePlan {
  OffsetCalc<1> kept, reduced;
  int64_t outputs = 1, length = 1;  // number of outputs, terms folded into each
};

inline ReducePlan make_reduce_plan(const Tensor& a, uint32_t mask) {
  const scorch::ReducePlan p = scorch::make_reduce_plan(a, mask);
  return {make_offset_calc(p.kept), make_offset_calc(p.reduced), p.outputs, p.length};
}

// The input pointers of a loop with NIn inputs of element type In (at least one slot, so that a fill,
// with no input, still has a valid array type).
template <typename In, int NIn>
struct InputPtrs {
  const In* p[NIn > 0 ? NIn : 1] = {};
};

// What one thread does for element i: out[off0] = f(in_0[off1], ..., in_{NIn-1}[offNIn]).
template <typename Out, typename In, int NIn, typename F>
SCORCH_HOST_DEVICE inline void map_element(int64_t i, const OffsetCalc<NIn + 1>& calc, const F& f, Out* out,
                                           const InputPtrs<In, NIn>& in) {
  int64_t off[NIn + 1];
  calc.get(i, off);
  if constexpr (NIn == 0)
    out[off[0]] = f();
  else if constexpr (NIn == 1)
    out[off[0]] = f(in.p[0][off[1]]);
  else if constexpr (NIn == 2)
    out[off[0]] = f(in.p[0][off[1]], in.p[1][off[2]]);
  else {
    static_assert(NIn == 3, "map_element: at most three inputs");
    out[off[0]] = f(in.p[0][off[1]], in.p[1][off[2]], in.p[2][off[3]]);
  }
}

// The functors of fill_ and copy_ (a conversion between any two dtypes, as static_cast on the CPU).
template <typename T>
struct FillFn {
  T value;
  SCORCH_HOST_DEVICE T operator()() const { return value; }
};
template <typename Out>
struct CastFn {
  template <typename In>
  SCORCH_HOST_DEVICE Out operator()(In x) const {
    return static_cast<Out>(x);
  }
};

}  // namespace scorch::cuda
