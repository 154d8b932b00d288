// loops.cuh: the generic CUDA elementwise loop, out = f(in...) over out's shape with the inputs
// broadcast to it, any strides (cuda/loops.h has the index arithmetic). One thread per element in a
// grid-stride loop; simple, coalesced when the operands are contiguous (the plan is then one flat dim).
#pragma once
#include <array>

#include "cuda/check.h"
#include "cuda/loops.h"
#include "cuda/runtime.h"
#include "tensor/tensor.h"

namespace scorch::cuda {

template <typename Out, typename In, int NIn, typename F>
__global__ void map_kernel(int64_t n, OffsetCalc<NIn + 1> calc, F f, Out* out, InputPtrs<In, NIn> in) {
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    map_element<Out, In, NIn>(i, calc, f, out, in);
}

// out (a CUDA tensor, any strides, not overlapping itself) = f(in...), the inputs on out's device with
// shapes that broadcast to out's. Queued on the device's current stream; returns without waiting.
template <typename Out, typename In, int NIn, typename F>
void map_cuda(const Tensor& out, const F& f, const std::array<Tensor, NIn>& in) {
  const int64_t n = out.numel();
  if (n == 0) return;
  std::array<Shape, NIn + 1> strides;
  strides[0] = out.strides();
  InputPtrs<In, NIn> ptrs;
  for (int k = 0; k < NIn; ++k) {
    strides[k + 1] = broadcast_strides(in[k], out.shape());
    ptrs.p[k] = in[k].template data<In>();
  }
  const OffsetCalc<NIn + 1> calc = make_offset_calc(make_loop_plan<NIn + 1>(out.shape(), strides));
  const int device = out.device().index;
  const cudaStream_t stream = current_stream(device);
  DeviceGuard guard(device);
  map_kernel<Out, In, NIn, F><<<blocks_for(n), kThreads, 0, stream>>>(n, calc, f, out.template data<Out>(), ptrs);
  SCORCH_CUDA_CHECK(cudaGetLastError());
}

}  // namespace scorch::cuda
