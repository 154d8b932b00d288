// optim.cu: the fused optimizer updates on a CUDA device: one kernel per parameter per step reads p, g
// and the state (momentum buffer; Adam's m and v; the EMA's average) once and writes them back, where
// the composition of elementwise ops would take five to ten passes. The per-element formulas are
// tensor/optim_fns.h's, the code the CPU loops run, so both devices apply the same fused multiply-adds.
// nvcc contracts a * b + c into an FMA by default, but those lines have no product feeding an addition
// outside their explicit std::fma calls, and sqrt and division are correctly rounded on both (nvcc's
// default -prec-sqrt and -prec-div): the updates should match the CPU's bit for bit.
#include "cuda/launch.cuh"
#include "tensor/backend.h"

namespace scorch::cuda {
namespace {

template <typename F>
__global__ void for_each_kernel(int64_t n, F f) {
  SCORCH_GRID_STRIDE(i, n) f(i);
}

// f(i) for every i < n on t's device.
template <typename F>
void for_each(const Tensor& t, int64_t n, F f) {
  launch_elements(t, n, for_each_kernel<F>, f);
}

template <typename T>
struct SgdStep {
  T *p, *buf;
  const T* g;
  fns::SgdCoefficients<T> c;
  __device__ void operator()(int64_t i) const { fns::sgd_element(p, g, buf, i, c); }
};

template <typename T, bool kDecay>
struct AdamStep {
  T *p, *m, *v;
  const T* g;
  fns::AdamCoefficients<T> c;
  __device__ void operator()(int64_t i) const { fns::adam_element<T, kDecay>(p, g, m, v, i, c); }
};

template <typename T>
struct EmaStep {
  T* shadow;
  const T* p;
  T decay, one_minus_decay;
  __device__ void operator()(int64_t i) const { shadow[i] = fns::ema_value(shadow[i], p[i], decay, one_minus_decay); }
};

}  // namespace
}  // namespace scorch::cuda

// The entries of tensor/backend.h that this file defines.
namespace scorch::backend {
using namespace cuda;

template <typename T>
void sgd_update(const Tensor& p, const Tensor& g, const Tensor& buf, const fns::SgdCoefficients<T>& c) {
  for_each(p, p.numel(), SgdStep<T>{p.data<T>(), buf.defined() ? buf.data<T>() : nullptr, g.data<T>(), c});
}

template <typename T>
void adam_update(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const fns::AdamCoefficients<T>& c,
                 bool decay) {
  if (decay)
    for_each(p, p.numel(), AdamStep<T, true>{p.data<T>(), m.data<T>(), v.data<T>(), g.data<T>(), c});
  else
    for_each(p, p.numel(), AdamStep<T, false>{p.data<T>(), m.data<T>(), v.data<T>(), g.data<T>(), c});
}

void ema_update(const Tensor& shadow, const Tensor& p, double decay) {
  dispatch_float("EMA::update", shadow.dtype(), [&]<typename T>() {
    for_each(shadow, shadow.numel(),
             EmaStep<T>{shadow.data<T>(), p.data<T>(), static_cast<T>(decay), static_cast<T>(1 - decay)});
  });
}

SCORCH_BACKEND_INSTANTIATE_OPTIM()

}  // namespace scorch::backend
