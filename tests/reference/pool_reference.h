// Naive references for pooling: every window visited element by element over row-major values, in
// double. Padding is left out of the window (it counts as 0 for the sum, -inf for the max) but the
// average always divides by kernel^2 (count_include_pad=True, as torch's default).
#pragma once
#include <limits>
#include <vector>

#include "tensor/tensor.h"

namespace scorch::reference {

struct Pool2d {
  int64_t kernel, stride, padding;
  int64_t out(int64_t in) const { return (in + 2 * padding - kernel) / stride + 1; }
  Shape out_shape(const Shape& x) const { return {x[0], x[1], out(x[2]), out(x[3])}; }
};

// Calls f(o, i) for every output o (row-major index into [N, C, P, Q]) and every input i inside o's
// window (row-major index into [N, C, H, W]), windows in row-major order of their elements.
template <typename F>
void for_each_window(const Shape& x, const Pool2d& p, F f) {
  const int64_t H = x[2], W = x[3], P = p.out(H), Q = p.out(W);
  for (int64_t n = 0; n < x[0] * x[1]; ++n)
    for (int64_t i = 0; i < P; ++i)
      for (int64_t j = 0; j < Q; ++j)
        for (int64_t r = 0; r < p.kernel; ++r)
          for (int64_t c = 0; c < p.kernel; ++c) {
            const int64_t h = i * p.stride - p.padding + r, w = j * p.stride - p.padding + c;
            if (h >= 0 && h < H && w >= 0 && w < W) f((n * P + i) * Q + j, (n * H + h) * W + w);
          }
}

inline Tensor avg_pool2d(const Tensor& x, const Pool2d& p) {
  const std::vector<double> v = x.values();
  const Shape out = p.out_shape(x.shape());
  std::vector<double> y(out.numel(), 0.0);
  for_each_window(x.shape(), p, [&](int64_t o, int64_t i) { y[o] += v[i]; });
  for (double& e : y) e /= static_cast<double>(p.kernel * p.kernel);
  return from_vector(y, out, {.dtype = kFloat64});
}

// gx[i] = sum of g[o] / kernel^2 over the windows o that hold i.
inline Tensor avg_pool2d_backward(const Tensor& g, const Shape& x, const Pool2d& p) {
  const std::vector<double> vg = g.values();
  std::vector<double> gx(x.numel(), 0.0);
  for_each_window(x, p, [&](int64_t o, int64_t i) { gx[i] += vg[o] / static_cast<double>(p.kernel * p.kernel); });
  return from_vector(gx, x, {.dtype = kFloat64});
}

// Index of the first maximum of each window (strict >: ties keep the earlier element).
inline std::vector<int64_t> argmax_pool2d(const Tensor& x, const Pool2d& p) {
  const std::vector<double> v = x.values();
  const Shape out = p.out_shape(x.shape());
  std::vector<double> best(out.numel(), -std::numeric_limits<double>::infinity());
  std::vector<int64_t> arg(out.numel(), -1);
  for_each_window(x.shape(), p, [&](int64_t o, int64_t i) {
    if (arg[o] < 0 || v[i] > best[o]) best[o] = v[i], arg[o] = i;
  });
  return arg;
}

inline Tensor max_pool2d(const Tensor& x, const Pool2d& p) {
  const std::vector<double> v = x.values();
  std::vector<double> y;
  for (int64_t i : argmax_pool2d(x, p)) y.push_back(v[i]);
  return from_vector(y, p.out_shape(x.shape()), {.dtype = kFloat64});
}

// g scattered to the argmax of each window of x.
inline Tensor max_pool2d_backward(const Tensor& g, const Tensor& x, const Pool2d& p) {
  const std::vector<double> vg = g.values();
  const std::vector<int64_t> arg = argmax_pool2d(x, p);
  std::vector<double> gx(x.numel(), 0.0);
  for (size_t o = 0; o < arg.size(); ++o) gx[arg[o]] += vg[o];
  return from_vector(gx, x.shape(), {.dtype = kFloat64});
}

}  // namespace scorch::reference
