// elementwise.cu: the CUDA side of the pointwise ops (autograd/ops/elementwise.cpp): the generic loop
// of loops.cuh over the functors of tensor/elementwise_fns.h, the same formulas the CPU runs. One
// instantiation per functor of that file's lists (SCORCH_*_FNS): an op whose functor is not listed
// there fails to link.
#include "tensor/elementwise_fns.h"
#include "cuda/loops.cuh"
#include "tensor/backend.h"

namespace scorch::backend {
using namespace cuda;

template <typename Fn>
void unary(std::string_view op, const Fn& fn, const Tensor& a, const Tensor& out) {
  dispatch_float(op, a.dtype(), [&]<typename T>() { map_cuda<T, T, 1>(out, fn, {a}); });
}

template <typename Fn>
void binary(std::string_view op, const Fn& fn, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_float(op, a.dtype(), [&]<typename T>() { map_cuda<T, T, 2>(out, fn, {a, b}); });
}

template <typename Fn>
void ternary(std::string_view op, const Fn& fn, const Tensor& c, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_float(op, a.dtype(), [&]<typename T>() { map_cuda<T, T, 3>(out, fn, {c, a, b}); });
}

SCORCH_BACKEND_INSTANTIATE_ELEMENTWISE()

}  // namespace scorch::backend
