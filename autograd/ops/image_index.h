// image_index.h: the index arithmetic of pooling and bilinear interpolation (pool.h, upsample.h),
// callable on host and device: the CPU kernels (pool.cpp, upsample.cpp) and the CUDA kernels
// (cuda/pool.cu, cuda/upsample.cu) share these definitions, so both pick the same windows, the same
// argmax among ties and the same interpolation weights.
#pragma once
#include <cstdint>

#include "tensor/host_device.h"

namespace scorch {

// [lo, hi): a range of indices (empty when lo >= hi).
struct IndexRange {
  int64_t lo, hi;
};

// One spatial dim of the pooling windows: output o reads inputs start(o) + [0, kernel), clipped to [0, in).
struct Window {
  int64_t in, out, kernel, stride, padding;

  SCORCH_HOST_DEVICE int64_t start(int64_t o) const { return o * stride - padding; }
  // The taps of output o's window that land inside [0, in).
  SCORCH_HOST_DEVICE IndexRange taps(int64_t o) const {
    const int64_t s = start(o);
    return {s < 0 ? -s : 0, kernel < in - s ? kernel : in - s};
  }
  // The outputs whose tap t lands inside [0, in).
  SCORCH_HOST_DEVICE IndexRange outputs(int64_t t) const {
    const int64_t lo = padding > t ? (padding - t + stride - 1) / stride : 0;
    const int64_t last = in - 1 + padding - t;  // start(o) + t <= in - 1  <=>  o <= last / stride
    const int64_t hi = last >= 0 ? (out < last / stride + 1 ? out : last / stride + 1) : 0;
    return {lo < hi ? lo : hi, hi};
  }
  // The outputs whose window holds input i: start(o) <= i < start(o) + kernel.
  SCORCH_HOST_DEVICE IndexRange outputs_holding(int64_t i) const {
    const int64_t first = i + padding - kernel + 1;  // o stride >= first
    const int64_t lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    const int64_t hi = (i + padding) / stride + 1 < out ? (i + padding) / stride + 1 : out;  // i + padding >= 0
    return {lo, lo < hi ? hi : lo};
  }
};

// The windows of a pooling op over planes = N C planes of [h.in, w.in].
struct PoolGeometry {
  int64_t planes;
  Window h, w;
};

// The index in the plane x [h.in, w.in] of the max of window (p, q): strict > keeps the first of
// equal values in row-major window order; a NaN always replaces (as torch's CPU kernel).
template <typename T>
SCORCH_HOST_DEVICE int64_t window_argmax(const T* x, const PoolGeometry& g, int64_t p, int64_t q) {
  const IndexRange rows = g.h.taps(p), cols = g.w.taps(q);
  const int64_t W = g.w.in, r0 = g.h.start(p), c0 = g.w.start(q);
  int64_t best = (r0 + rows.lo) * W + c0 + cols.lo;
  T m = x[best];
  for (int64_t r = rows.lo; r < rows.hi; ++r)
    for (int64_t c = cols.lo; c < cols.hi; ++c) {
      const int64_t i = (r0 + r) * W + c0 + c;
      if (x[i] > m || x[i] != x[i]) m = x[i], best = i;  // x != x: NaN (no -ffast-math anywhere)
    }
  return best;
}

// The three passes of max pooling, with a the argmax of x [N, C, H, W], plane by plane:
//   forward  out[o] = x[a[o]]          scatter  out[a[o]] += t[o] (out zeroed)     gather  out[o] = t[a[o]]
enum class MaxPass { forward, scatter, gather };

// Bilinear interpolation along one dim: output o reads inputs i0 and i1 with weights l0 and l1
// (torch's compute_source_index_and_lambda; i1 = i0 at the last input).
template <typename T>
struct LinearTap {
  int64_t i0, i1;
  T l0, l1;
};

template <typename T>
SCORCH_HOST_DEVICE LinearTap<T> linear_tap(int64_t in, int64_t out, bool align_corners, int64_t o) {
  const double scale = align_corners ? (out > 1 ? static_cast<double>(in - 1) / static_cast<double>(out - 1) : 0.0)
                                     : static_cast<double>(in) / static_cast<double>(out);
  double src = align_corners ? scale * static_cast<double>(o) : scale * (static_cast<double>(o) + 0.5) - 0.5;
  if (src < 0) src = 0;
  const int64_t floor = static_cast<int64_t>(src);  // src >= 0
  const int64_t i0 = floor < in - 1 ? floor : in - 1;
  double l1 = src - static_cast<double>(i0);
  l1 = l1 < 0 ? 0 : (l1 > 1 ? 1 : l1);
  return {i0, i0 + (i0 < in - 1 ? 1 : 0), static_cast<T>(1.0 - l1), static_cast<T>(l1)};
}

// The interpolated value at output (p, q) of the plane x [H, W], from its row and column taps.
template <typename T>
SCORCH_HOST_DEVICE T bilinear_value(const T* x, int64_t W, const LinearTap<T>& r, const LinearTap<T>& c) {
  const T *x0 = x + r.i0 * W, *x1 = x + r.i1 * W;
  return r.l0 * (c.l0 * x0[c.i0] + c.l1 * x0[c.i1]) + r.l1 * (c.l0 * x1[c.i0] + c.l1 * x1[c.i1]);
}

}  // namespace scorch
