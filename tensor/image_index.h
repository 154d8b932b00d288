// image_index.h: the index arithmetic of pooling and bilinear interpolation (pool.h, upsample.h),
// callable on host and device: the CPU kernels (pool.cpp, upsample.cpp) and the CUDA kernels
// (cuda/pool.cu, cuda/upsample.cu) share these definitions, so both pick the same windows, the same
// argmax among ties and the same interpolation weights. The CUDA kernels' backward passes are gathers
// (each input element sums what flows back to it; no atomics), defined at the end of this file and
// checked on the CPU against the CPU's scatters (tests/ops/test_pool.cpp, test_upsample.cpp).
#pragma once
#include <cstdint>
#include <vector>

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

// ---- The gathers of the CUDA kernels, one output element each ----

// avg_pool2d at output (p, q) of the plane x: the sum over the window's rows of the sums over its
// columns, / k^2 (count_include_pad), in the CPU kernel's order.
template <typename T>
SCORCH_HOST_DEVICE T avg_pool_value(const T* x, const PoolGeometry& g, int64_t p, int64_t q) {
  const IndexRange rows = g.h.taps(p), cols = g.w.taps(q);
  T acc = 0;
  for (int64_t r = rows.lo; r < rows.hi; ++r) {
    const T* row = x + (g.h.start(p) + r) * g.w.in + g.w.start(q);
    T sum = 0;
    for (int64_t c = cols.lo; c < cols.hi; ++c) sum += row[c];
    acc += sum;
  }
  return acc / static_cast<T>(g.h.kernel * g.w.kernel);
}

// avg_pool2d_backward at input (h, w) of the plane: the sum of g / k^2 over the outputs whose window
// holds it (g is the plane's [P, Q] gradient).
template <typename T>
SCORCH_HOST_DEVICE T avg_pool_grad_value(const T* g, const PoolGeometry& geo, int64_t h, int64_t w) {
  const IndexRange ps = geo.h.outputs_holding(h), qs = geo.w.outputs_holding(w);
  const T divisor = static_cast<T>(geo.h.kernel * geo.w.kernel);
  T acc = 0;
  for (int64_t p = ps.lo; p < ps.hi; ++p)
    for (int64_t q = qs.lo; q < qs.hi; ++q) acc += g[p * geo.w.out + q] / divisor;
  return acc;
}

// max_pool2d_backward at input (h, w) of the plane: the sum of t over the outputs whose window holds
// it and whose argmax (the plane's [P, Q] indices h W + w) it is.
template <typename T>
SCORCH_HOST_DEVICE T max_pool_grad_value(const int64_t* argmax, const T* t, const PoolGeometry& geo, int64_t h,
                                         int64_t w) {
  const IndexRange ps = geo.h.outputs_holding(h), qs = geo.w.outputs_holding(w);
  const int64_t i = h * geo.w.in + w;
  T acc = 0;
  for (int64_t p = ps.lo; p < ps.hi; ++p)
    for (int64_t q = qs.lo; q < qs.hi; ++q)
      if (argmax[p * geo.w.out + q] == i) acc += t[p * geo.w.out + q];
  return acc;
}

// One dim's bilinear taps inverted (host side; the CUDA kernel gets a device copy): for input i,
// entries first[i] .. first[i + 1] - 1 of out and weight are the outputs that read it and their
// weights, in increasing output order (an output at the last input reads it twice: two entries).
template <typename T>
struct InverseTaps {
  std::vector<int64_t> first, out;
  std::vector<T> weight;
};
template <typename T>
InverseTaps<T> inverse_linear_taps(int64_t in, int64_t out, bool align_corners) {
  InverseTaps<T> inv{std::vector<int64_t>(in + 1, 0), std::vector<int64_t>(2 * out), std::vector<T>(2 * out)};
  std::vector<LinearTap<T>> taps(out);
  for (int64_t o = 0; o < out; ++o) {
    taps[o] = linear_tap<T>(in, out, align_corners, o);
    ++inv.first[taps[o].i0 + 1], ++inv.first[taps[o].i1 + 1];
  }
  for (int64_t i = 0; i < in; ++i) inv.first[i + 1] += inv.first[i];
  std::vector<int64_t> cursor(inv.first.begin(), inv.first.end() - 1);
  auto add = [&](int64_t i, int64_t o, T l) {
    inv.out[cursor[i]] = o, inv.weight[cursor[i]] = l;
    ++cursor[i];
  };
  for (int64_t o = 0; o < out; ++o) add(taps[o].i0, o, taps[o].l0), add(taps[o].i1, o, taps[o].l1);
  return inv;
}

// interpolate_bilinear_backward at input (h, w) of the plane: the sum over the (p, row weight) that read
// row h and the (q, column weight) that read column w of both weights times g[p, q] (g: [P, Q]).
template <typename T>
SCORCH_HOST_DEVICE T bilinear_grad_value(const T* g, int64_t Q, const int64_t* row_first, const int64_t* row_out,
                                         const T* row_weight, const int64_t* col_first, const int64_t* col_out,
                                         const T* col_weight, int64_t h, int64_t w) {
  T acc = 0;
  for (int64_t a = row_first[h]; a < row_first[h + 1]; ++a) {
    T row = 0;
    for (int64_t b = col_first[w]; b < col_first[w + 1]; ++b) row += col_weight[b] * g[row_out[a] * Q + col_out[b]];
    acc += row_weight[a] * row;
  }
  return acc;
}

}  // namespace scorch
