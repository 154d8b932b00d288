// copy.cu: fill_ and same-device copy_ (with dtype conversion and broadcasting) of CUDA tensors, both
// the generic elementwise loop of loops.cuh.
#include "cuda/loops.cuh"
#include "cuda/runtime.h"
#include "tensor/backend.h"

namespace scorch::cuda {

void copy_on_device(const Tensor& dst, const Tensor& src) {
  dispatch_all(dst.dtype(), [&]<typename T>() {
    dispatch_all(src.dtype(), [&]<typename S>() { map_cuda<T, S, 1>(dst, CastFn<T>{}, {src}); });
  });
}

}  // namespace scorch::cuda

namespace scorch::backend {

void fill(const Tensor& t, double value) {
  dispatch_all(t.dtype(),
               [&]<typename T>() { cuda::map_cuda<T, T, 0>(t, cuda::FillFn<T>{static_cast<T>(value)}, {}); });
}

}  // namespace scorch::backend
