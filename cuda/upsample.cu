// upsample.cu: upsample_nearest2d, interpolate_bilinear and their backward ops on a CUDA device
// (upsample.h has the formulas, image_index.h the interpolation taps both devices use).
//
// One thread per output element, every pass a gather (no atomics, deterministic):
//   nearest forward   y[h, w] = x[h / s, w / s]      backward  gx[h, w] = sum of g's s x s block
//   bilinear forward  y[p, q] = bilinear_value(rows tap p, columns tap q)
//   bilinear backward gx[h, w] = sum over the (p, row weight) that read row h and the (q, column weight)
//                     that read column w of the two weights times g[p, q]. Which outputs read an input
//                     has no closed form, so the host inverts each dim's taps once per call into a small
//                     table (image_index.h's inverse_linear_taps) copied to the device, 2 (P + Q)
//                     entries in all. The per-element gathers are image_index.h's, tested on the CPU.
#include <vector>

#include "cuda/launch.cuh"
#include "tensor/backend.h"

namespace scorch::cuda {
namespace {

template <typename T>
__global__ void nearest_kernel(int64_t n, int64_t H, int64_t W, int64_t s, const T* x, T* y) {
  const int64_t Ho = H * s, Wo = W * s;
  SCORCH_GRID_STRIDE(o, n) {
    const int64_t plane = o / (Ho * Wo), h = o / Wo % Ho, w = o % Wo;
    y[o] = x[(plane * H + h / s) * W + w / s];
  }
}

template <typename T>
__global__ void nearest_backward_kernel(int64_t n, int64_t H, int64_t W, int64_t s, const T* g, T* gx) {
  const int64_t Wo = W * s;
  SCORCH_GRID_STRIDE(i, n) {
    const int64_t plane = i / (H * W), h = i / W % H, w = i % W;
    T acc = 0;
    for (int64_t a = 0; a < s; ++a) {
      const T* row = g + ((plane * H + h) * s + a) * Wo + w * s;
      for (int64_t b = 0; b < s; ++b) acc += row[b];
    }
    gx[i] = acc;
  }
}

template <typename T>
__global__ void bilinear_kernel(int64_t n, int64_t H, int64_t W, int64_t P, int64_t Q, bool align_corners, const T* x,
                                T* y) {
  SCORCH_GRID_STRIDE(o, n) {
    const int64_t plane = o / (P * Q), p = o / Q % P, q = o % Q;
    y[o] = bilinear_value(x + plane * H * W, W, linear_tap<T>(H, P, align_corners, p),
                          linear_tap<T>(W, Q, align_corners, q));
  }
}

// One dim's taps inverted (image_index.h), copied to the device.
struct DeviceInverseTaps {
  Tensor first, out, weight;  // int64 [in + 1], int64 [2 out], T [2 out]
};

template <typename T>
DeviceInverseTaps inverse_taps_on(int64_t in, int64_t out, bool align_corners, Device device, DType dtype) {
  const InverseTaps<T> inv = inverse_linear_taps<T>(in, out, align_corners);
  const std::vector<double> first(inv.first.begin(), inv.first.end()), outs(inv.out.begin(), inv.out.end()),
      weights(inv.weight.begin(), inv.weight.end());  // exact: small integers, and T values
  const TensorOptions index{.dtype = kInt64};
  return {from_vector(first, {in + 1}, index).to(device), from_vector(outs, {2 * out}, index).to(device),
          from_vector(weights, {2 * out}, {.dtype = dtype}).to(device)};
}

template <typename T>
__global__ void bilinear_backward_kernel(int64_t n, int64_t H, int64_t W, int64_t P, int64_t Q,
                                         const int64_t* row_first, const int64_t* row_out, const T* row_weight,
                                         const int64_t* col_first, const int64_t* col_out, const T* col_weight,
                                         const T* g, T* gx) {
  SCORCH_GRID_STRIDE(i, n) {
    const int64_t plane = i / (H * W), h = i / W % H, w = i % W;
    gx[i] =
        bilinear_grad_value(g + plane * P * Q, Q, row_first, row_out, row_weight, col_first, col_out, col_weight, h, w);
  }
}

}  // namespace
}  // namespace scorch::cuda

// The entries of tensor/backend.h that this file defines.
namespace scorch::backend {
using namespace cuda;

void upsample_nearest2d(const Tensor& x, const Tensor& y, int64_t scale) {
  dispatch_float("upsample_nearest2d", x.dtype(), [&]<typename T>() {
    launch_elements(y, y.numel(), nearest_kernel<T>, x.shape()[2], x.shape()[3], scale, x.data<T>(), y.data<T>());
  });
}

void upsample_nearest2d_backward(const Tensor& g, const Tensor& gx, int64_t scale) {
  dispatch_float("upsample_nearest2d_backward", g.dtype(), [&]<typename T>() {
    launch_elements(gx, gx.numel(), nearest_backward_kernel<T>, gx.shape()[2], gx.shape()[3], scale, g.data<T>(),
                    gx.data<T>());
  });
}

void interpolate_bilinear(const Tensor& x, const Tensor& y, bool align_corners) {
  dispatch_float("interpolate_bilinear", x.dtype(), [&]<typename T>() {
    launch_elements(y, y.numel(), bilinear_kernel<T>, x.shape()[2], x.shape()[3], y.shape()[2], y.shape()[3],
                    align_corners, x.data<T>(), y.data<T>());
  });
}

void interpolate_bilinear_backward(const Tensor& g, const Tensor& gx, bool align_corners) {
  if (gx.numel() == 0) return;
  dispatch_float("interpolate_bilinear_backward", g.dtype(), [&]<typename T>() {
    const int64_t H = gx.shape()[2], W = gx.shape()[3], P = g.shape()[2], Q = g.shape()[3];
    const DeviceInverseTaps rows = inverse_taps_on<T>(H, P, align_corners, g.device(), g.dtype());
    const DeviceInverseTaps cols = inverse_taps_on<T>(W, Q, align_corners, g.device(), g.dtype());
    launch_elements(gx, gx.numel(), bilinear_backward_kernel<T>, H, W, P, Q, rows.first.data<int64_t>(),
                    rows.out.data<int64_t>(), rows.weight.data<T>(), cols.first.data<int64_t>(),
                    cols.out.data<int64_t>(), cols.weight.data<T>(), g.data<T>(), gx.data<T>());
  });
}

}  // namespace scorch::backend
