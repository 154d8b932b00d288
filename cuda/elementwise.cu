// elementwise.cu: the CUDA side of the pointwise ops (autograd/ops/elementwise.cpp): the generic loop
// of loops.cuh over the functors of elementwise_fns.h, the same formulas the CPU runs. One instantiation
// per functor and float dtype, listed below: an op added to elementwise.cpp without a line here fails
// to link.
#include "autograd/ops/elementwise_fns.h"
#include "cuda/loops.cuh"
#include "cuda/ops.h"

namespace scorch::cuda {

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

SCORCH_UNARY(NegFn)
SCORCH_UNARY(PowFn)
SCORCH_UNARY(ExpFn)
SCORCH_UNARY(LogFn)
SCORCH_UNARY(SqrtFn)
SCORCH_UNARY(RsqrtFn)
SCORCH_UNARY(AbsFn)
SCORCH_UNARY(SquareFn)
SCORCH_UNARY(SinFn)
SCORCH_UNARY(CosFn)
SCORCH_UNARY(TanhFn)
SCORCH_UNARY(SigmoidFn)
SCORCH_UNARY(ReluFn)
SCORCH_UNARY(SiluFn)
SCORCH_UNARY(SoftplusFn)
SCORCH_UNARY(EluFn)
SCORCH_UNARY(ClampFn)
SCORCH_UNARY(SignFn)

SCORCH_BINARY(AddFn)
SCORCH_BINARY(SubFn)
SCORCH_BINARY(MulFn)
SCORCH_BINARY(DivFn)
SCORCH_BINARY(EqFn)
SCORCH_BINARY(NeFn)
SCORCH_BINARY(LtFn)
SCORCH_BINARY(LeFn)
SCORCH_BINARY(GtFn)
SCORCH_BINARY(GeFn)
SCORCH_BINARY(SiluBackwardFn)

template void ternary<fns::WhereFn>(std::string_view, const fns::WhereFn&, const Tensor&, const Tensor&, const Tensor&,
                                    const Tensor&);
template void ternary<fns::AddScaledFn>(std::string_view, const fns::AddScaledFn&, const Tensor&, const Tensor&,
                                        const Tensor&, const Tensor&);

}  // namespace scorch::cuda
