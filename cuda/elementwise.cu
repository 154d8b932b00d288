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

#define SCORCH_UNARY(Fn) template void unary<fns::Fn>(std::string_view, const fns::Fn&, const Tensor&, const Tensor&);
#define SCORCH_BINARY(Fn) \
  template void binary<fns::Fn>(std::string_view, const fns::Fn&, const Tensor&, const Tensor&, const Tensor&);
#define SCORCH_TERNARY(Fn)                                                                                      \
  template void ternary<fns::Fn>(std::string_view, const fns::Fn&, const Tensor&, const Tensor&, const Tensor&, \
                                 const Tensor&);
SCORCH_UNARY_FNS(SCORCH_UNARY)
SCORCH_BINARY_FNS(SCORCH_BINARY)
SCORCH_TERNARY_FNS(SCORCH_TERNARY)

}  // namespace scorch::backend
