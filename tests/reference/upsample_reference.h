// Naive references for resizing: one output element at a time over row-major values, in double.
// Bilinear follows torch.nn.functional.interpolate(mode='bilinear') as its documentation and
// aten/src/ATen/native/UpSample.h (area_pixel_compute_source_index) define it.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/tensor.h"

namespace scorch::reference {

// y[n, c, i, j] = x[n, c, i / s, j / s].
inline Tensor upsample_nearest2d(const Tensor& x, int64_t s) {
  const std::vector<double> v = x.values();
  const int64_t NC = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  std::vector<double> y;
  for (int64_t n = 0; n < NC; ++n)
    for (int64_t i = 0; i < H * s; ++i)
      for (int64_t j = 0; j < W * s; ++j) y.push_back(v[(n * H + i / s) * W + j / s]);
  return from_vector(y, {x.shape()[0], x.shape()[1], H * s, W * s}, {.dtype = kFloat64});
}

// gx[n, c, i / s, j / s] += g[n, c, i, j].
inline Tensor upsample_nearest2d_backward(const Tensor& g, int64_t s) {
  const std::vector<double> v = g.values();
  const int64_t NC = g.shape()[0] * g.shape()[1], Ho = g.shape()[2], Wo = g.shape()[3], H = Ho / s, W = Wo / s;
  std::vector<double> gx(NC * H * W, 0.0);
  for (int64_t n = 0; n < NC; ++n)
    for (int64_t i = 0; i < Ho; ++i)
      for (int64_t j = 0; j < Wo; ++j) gx[(n * H + i / s) * W + j / s] += v[(n * Ho + i) * Wo + j];
  return from_vector(gx, {g.shape()[0], g.shape()[1], H, W}, {.dtype = kFloat64});
}

// The two inputs of output o along one dim and the weight of the second.
struct Lerp {
  int64_t lo, hi;
  double t;
};

inline Lerp bilinear_source(int64_t o, int64_t in, int64_t out, bool align_corners) {
  double src;
  if (align_corners)
    src = out > 1 ? static_cast<double>(o) * (in - 1) / (out - 1) : 0.0;
  else
    src = std::max(0.0, (o + 0.5) * in / out - 0.5);
  const int64_t lo = static_cast<int64_t>(std::floor(src));
  return {lo, std::min(lo + 1, in - 1), src - static_cast<double>(lo)};
}

// Calls f(o, i, weight) for the four (output, input) pairs of every output, as row-major indices
// into [N, C, P, Q] and [N, C, H, W].
template <typename F>
void for_each_bilinear_tap(const Shape& x, int64_t P, int64_t Q, bool align_corners, F f) {
  const int64_t H = x[2], W = x[3];
  for (int64_t n = 0; n < x[0] * x[1]; ++n)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        const Lerp r = bilinear_source(p, H, P, align_corners), c = bilinear_source(q, W, Q, align_corners);
        const int64_t o = (n * P + p) * Q + q;
        f(o, (n * H + r.lo) * W + c.lo, (1 - r.t) * (1 - c.t));
        f(o, (n * H + r.lo) * W + c.hi, (1 - r.t) * c.t);
        f(o, (n * H + r.hi) * W + c.lo, r.t * (1 - c.t));
        f(o, (n * H + r.hi) * W + c.hi, r.t * c.t);
      }
}

inline Tensor interpolate_bilinear(const Tensor& x, int64_t P, int64_t Q, bool align_corners) {
  const std::vector<double> v = x.values();
  const Shape out{x.shape()[0], x.shape()[1], P, Q};
  std::vector<double> y(out.numel(), 0.0);
  for_each_bilinear_tap(x.shape(), P, Q, align_corners, [&](int64_t o, int64_t i, double w) { y[o] += w * v[i]; });
  return from_vector(y, out, {.dtype = kFloat64});
}

inline Tensor interpolate_bilinear_backward(const Tensor& g, int64_t H, int64_t W, bool align_corners) {
  const std::vector<double> v = g.values();
  const Shape x{g.shape()[0], g.shape()[1], H, W};
  std::vector<double> gx(x.numel(), 0.0);
  for_each_bilinear_tap(x, g.shape()[2], g.shape()[3], align_corners,
                        [&](int64_t o, int64_t i, double w) { gx[i] += w * v[o]; });
  return from_vector(gx, x, {.dtype = kFloat64});
}

}  // namespace scorch::reference
