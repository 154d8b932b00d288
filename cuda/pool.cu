// pool.cu: avg_pool2d, max_pool2d and their backward ops on a CUDA device (pool.h has the formulas,
// image_index.h the windows, the argmax and the per-element gathers, tested on the CPU).
//
// One thread per output element in a grid-stride loop, every pass written as a gather, so no two
// threads write one element and nothing needs atomics: results are deterministic.
//   avg forward    y[p, q]  = (sum over the window's rows of (sum over its columns of x)) / k^2
//   avg backward   gx[h, w] = sum over the outputs (p, q) whose window holds (h, w) of g[p, q] / k^2
//   max forward    y[o]     = x[a(o)]               max gather  out[o] = t[a(o)]
//   max scatter    gx[i]    = sum of t[o] over the outputs o whose window holds i and a(o) = i; a is
//                  first computed into an index tensor, so each input checks at most k^2 outputs.
#include "cuda/launch.cuh"
#include "tensor/backend.h"

namespace scorch::cuda {
namespace {

template <typename T>
__global__ void avg_pool_kernel(int64_t n, PoolGeometry g, const T* x, T* y) {
  const int64_t P = g.h.out, Q = g.w.out, HW = g.h.in * g.w.in;
  SCORCH_GRID_STRIDE(o, n) {
    const int64_t plane = o / (P * Q), p = o / Q % P, q = o % Q;
    y[o] = avg_pool_value(x + plane * HW, g, p, q);
  }
}

template <typename T>
__global__ void avg_pool_backward_kernel(int64_t n, PoolGeometry geo, const T* g, T* gx) {
  const int64_t H = geo.h.in, W = geo.w.in, PQ = geo.h.out * geo.w.out;
  SCORCH_GRID_STRIDE(i, n) {
    const int64_t plane = i / (H * W), h = i / W % H, w = i % W;
    gx[i] = avg_pool_grad_value(g + plane * PQ, geo, h, w);
  }
}

// forward: out[o] = src[a(o)] with src = x; gather: the same with src = t. argmax_only: out_index[o] = a(o).
template <typename T>
__global__ void max_pool_kernel(int64_t n, PoolGeometry g, const T* x, const T* src, T* out, int64_t* out_index) {
  const int64_t P = g.h.out, Q = g.w.out, HW = g.h.in * g.w.in;
  SCORCH_GRID_STRIDE(o, n) {
    const int64_t plane = o / (P * Q), p = o / Q % P, q = o % Q;
    const int64_t a = window_argmax(x + plane * HW, g, p, q);
    if (out_index)
      out_index[o] = a;
    else
      out[o] = src[plane * HW + a];
  }
}

template <typename T>
__global__ void max_pool_scatter_kernel(int64_t n, PoolGeometry geo, const int64_t* argmax, const T* t, T* gx) {
  const int64_t H = geo.h.in, W = geo.w.in, PQ = geo.h.out * geo.w.out;
  SCORCH_GRID_STRIDE(i, n) {
    const int64_t plane = i / (H * W), h = i / W % H, w = i % W;
    gx[i] = max_pool_grad_value(argmax + plane * PQ, t + plane * PQ, geo, h, w);
  }
}

}  // namespace
}  // namespace scorch::cuda

// The entries of tensor/backend.h that this file defines.
namespace scorch::backend {
using namespace cuda;

void avg_pool2d(const Tensor& x, const Tensor& y, const PoolGeometry& g) {
  dispatch_float("avg_pool2d", x.dtype(),
                 [&]<typename T>() { launch_elements(y, y.numel(), avg_pool_kernel<T>, g, x.data<T>(), y.data<T>()); });
}

void avg_pool2d_backward(const Tensor& g, const Tensor& gx, const PoolGeometry& geo) {
  dispatch_float("avg_pool2d_backward", g.dtype(), [&]<typename T>() {
    launch_elements(gx, gx.numel(), avg_pool_backward_kernel<T>, geo, g.data<T>(), gx.data<T>());
  });
}

void max_pool2d(MaxPass pass, const Tensor& x, const Tensor& t, const Tensor& out, const PoolGeometry& g) {
  dispatch_float("max_pool2d", x.dtype(), [&]<typename T>() {
    if (pass != MaxPass::scatter) {
      const T* src = pass == MaxPass::forward ? x.data<T>() : t.data<T>();
      launch_elements(out, out.numel(), max_pool_kernel<T>, g, x.data<T>(), src, out.data<T>(),
                      static_cast<int64_t*>(nullptr));
      return;
    }
    const Tensor argmax = empty({g.planes, g.h.out, g.w.out}, {.dtype = kInt64, .device = x.device()});
    launch_elements(argmax, argmax.numel(), max_pool_kernel<T>, g, x.data<T>(), x.data<T>(), static_cast<T*>(nullptr),
                    argmax.data<int64_t>());
    launch_elements(out, out.numel(), max_pool_scatter_kernel<T>, g, argmax.data<int64_t>(), t.data<T>(),
                    out.data<T>());
  });
}

}  // namespace scorch::backend
