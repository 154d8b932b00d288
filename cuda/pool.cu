// pool.cu: avg_pool2d, max_pool2d and their backward ops on a CUDA device (pool.h has the formulas,
// image_index.h the windows and the argmax both devices use).
//
// One thread per output element in a grid-stride loop, every pass written as a gather, so no two
// threads write one element and nothing needs atomics: results are deterministic.
//   avg forward    y[p, q]  = (sum over the window's rows of (sum over its columns of x)) / k^2
//   avg backward   gx[h, w] = sum over the outputs (p, q) whose window holds (h, w) of g[p, q] / k^2
//   max forward    y[o]     = x[a(o)]               max gather  out[o] = t[a(o)]
//   max scatter    gx[i]    = sum of t[o] over the outputs o whose window holds i and a(o) = i; a is
//                  first computed into an index tensor, so each input checks at most k^2 outputs.
#include "cuda/check.h"
#include "cuda/ops.h"
#include "cuda/runtime.h"

namespace scorch::cuda {
namespace {

#define SCORCH_GRID_STRIDE(i, n) \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += static_cast<int64_t>(blockDim.x) * gridDim.x)

template <typename T>
__global__ void avg_pool_kernel(PoolGeometry g, const T* x, T* y) {
  const int64_t P = g.h.out, Q = g.w.out, HW = g.h.in * g.w.in;
  const T divisor = static_cast<T>(g.h.kernel * g.w.kernel);  // count_include_pad: always k^2
  SCORCH_GRID_STRIDE(o, g.planes * P * Q) {
    const int64_t n = o / (P * Q), p = o / Q % P, q = o % Q;
    const IndexRange rows = g.h.taps(p), cols = g.w.taps(q);
    const T* plane = x + n * HW;
    T acc = 0;
    for (int64_t r = rows.lo; r < rows.hi; ++r) {
      const T* row = plane + (g.h.start(p) + r) * g.w.in + g.w.start(q);
      T sum = 0;
      for (int64_t c = cols.lo; c < cols.hi; ++c) sum += row[c];
      acc += sum;
    }
    y[o] = acc / divisor;
  }
}

template <typename T>
__global__ void avg_pool_backward_kernel(PoolGeometry geo, const T* g, T* gx) {
  const int64_t H = geo.h.in, W = geo.w.in, PQ = geo.h.out * geo.w.out;
  const T divisor = static_cast<T>(geo.h.kernel * geo.w.kernel);
  SCORCH_GRID_STRIDE(i, geo.planes * H * W) {
    const int64_t n = i / (H * W), h = i / W % H, w = i % W;
    const IndexRange ps = geo.h.outputs_holding(h), qs = geo.w.outputs_holding(w);
    const T* plane = g + n * PQ;
    T acc = 0;
    for (int64_t p = ps.lo; p < ps.hi; ++p)
      for (int64_t q = qs.lo; q < qs.hi; ++q) acc += plane[p * geo.w.out + q] / divisor;
    gx[i] = acc;
  }
}

// forward: out[o] = src[a(o)] with src = x; gather: the same with src = t. argmax_only: out_index[o] = a(o).
template <typename T>
__global__ void max_pool_kernel(PoolGeometry g, const T* x, const T* src, T* out, int64_t* out_index) {
  const int64_t P = g.h.out, Q = g.w.out, HW = g.h.in * g.w.in;
  SCORCH_GRID_STRIDE(o, g.planes * P * Q) {
    const int64_t n = o / (P * Q), p = o / Q % P, q = o % Q;
    const int64_t a = window_argmax(x + n * HW, g, p, q);
    if (out_index) out_index[o] = a;
    else out[o] = src[n * HW + a];
  }
}

template <typename T>
__global__ void max_pool_scatter_kernel(PoolGeometry geo, const int64_t* argmax, const T* t, T* gx) {
  const int64_t H = geo.h.in, W = geo.w.in, PQ = geo.h.out * geo.w.out;
  SCORCH_GRID_STRIDE(i, geo.planes * H * W) {
    const int64_t n = i / (H * W), hw = i % (H * W);
    const IndexRange ps = geo.h.outputs_holding(hw / W), qs = geo.w.outputs_holding(hw % W);
    T acc = 0;
    for (int64_t p = ps.lo; p < ps.hi; ++p)
      for (int64_t q = qs.lo; q < qs.hi; ++q) {
        const int64_t o = n * PQ + p * geo.w.out + q;
        if (argmax[o] == hw) acc += t[o];
      }
    gx[i] = acc;
  }
}

// Queues kernel<<<blocks for n, kThreads>>>(args...) on t's device.
template <typename Kernel, typename... Args>
void launch(const Tensor& t, int64_t n, Kernel kernel, Args... args) {
  if (n == 0) return;
  const int device = t.device().index;
  const cudaStream_t stream = current_stream(device);
  DeviceGuard guard(device);
  kernel<<<blocks_for(n), kThreads, 0, stream>>>(args...);
  SCORCH_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void avg_pool2d(const Tensor& x, const Tensor& y, const PoolGeometry& g) {
  dispatch_float("avg_pool2d", x.dtype(), [&]<typename T>() {
    launch(y, y.numel(), avg_pool_kernel<T>, g, x.data<T>(), y.data<T>());
  });
}

void avg_pool2d_backward(const Tensor& g, const Tensor& gx, const PoolGeometry& geo) {
  dispatch_float("avg_pool2d_backward", g.dtype(), [&]<typename T>() {
    launch(gx, gx.numel(), avg_pool_backward_kernel<T>, geo, g.data<T>(), gx.data<T>());
  });
}

void max_pool2d(MaxPass pass, const Tensor& x, const Tensor& t, const Tensor& out, const PoolGeometry& g) {
  dispatch_float("max_pool2d", x.dtype(), [&]<typename T>() {
    if (pass != MaxPass::scatter) {
      const T* src = pass == MaxPass::forward ? x.data<T>() : t.data<T>();
      launch(out, out.numel(), max_pool_kernel<T>, g, x.data<T>(), src, out.data<T>(), static_cast<int64_t*>(nullptr));
      return;
    }
    const Tensor argmax = empty({g.planes, g.h.out, g.w.out}, {.dtype = kInt64, .device = x.device()});
    launch(argmax, argmax.numel(), max_pool_kernel<T>, g, x.data<T>(), x.data<T>(), static_cast<T*>(nullptr),
           argmax.data<int64_t>());
    launch(out, out.numel(), max_pool_scatter_kernel<T>, g, argmax.data<int64_t>(), t.data<T>(), out.data<T>());
  });
}

}  // namespace scorch::cuda
