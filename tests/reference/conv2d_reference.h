// conv2d_reference.h: naive conv2d and its two backward maps for the tests: index loops in double over
// every output and filter tap (formulas in autograd/ops/conv2d.h). Never calls the code under test.
#pragma once
#include <vector>

#include "autograd/ops/conv2d.h"
#include "tensor/tensor.h"

namespace scorch::reference {

struct ConvIndex {
  Shape x, w;
  Conv2dOptions o;
  int64_t P() const { return (x[2] + 2 * o.padding - o.dilation * (w[2] - 1) - 1) / o.stride + 1; }
  int64_t Q() const { return (x[3] + 2 * o.padding - o.dilation * (w[3] - 1) - 1) / o.stride + 1; }
  // Calls f(x index, w index, y index) for every product term of the convolution.
  template <typename F>
  void for_each_term(F&& f) const {
    const int64_t N = x[0], C = x[1], H = x[2], W = x[3], K = w[0], R = w[2], S = w[3];
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t p = 0; p < P(); ++p)
          for (int64_t q = 0; q < Q(); ++q)
            for (int64_t c = 0; c < C; ++c)
              for (int64_t r = 0; r < R; ++r)
                for (int64_t s = 0; s < S; ++s) {
                  const int64_t ih = p * o.stride - o.padding + r * o.dilation;
                  const int64_t iw = q * o.stride - o.padding + s * o.dilation;
                  if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                  f(((n * C + c) * H + ih) * W + iw, ((k * C + c) * R + r) * S + s, ((n * K + k) * P() + p) * Q() + q);
                }
  }
};

inline Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, Conv2dOptions o) {
  const ConvIndex ix{x.shape(), w.shape(), o};
  const Shape y_shape{x.shape()[0], w.shape()[0], ix.P(), ix.Q()};
  const std::vector<double> xv = x.values(), wv = w.values();
  std::vector<double> y(y_shape.numel(), 0.0);
  if (b.defined()) {
    const std::vector<double> bv = b.values();
    for (int64_t i = 0; i < y_shape.numel(); ++i) y[i] = bv[(i / (ix.P() * ix.Q())) % w.shape()[0]];
  }
  ix.for_each_term([&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += xv[xi] * wv[wi]; });
  return from_vector(y, y_shape, {.dtype = x.dtype()});
}

inline Tensor conv2d_backward_input(const Tensor& g, const Tensor& w, const Shape& x_shape, Conv2dOptions o) {
  const std::vector<double> gv = g.values(), wv = w.values();
  std::vector<double> gx(x_shape.numel(), 0.0);
  ConvIndex{x_shape, w.shape(), o}.for_each_term(
      [&](int64_t xi, int64_t wi, int64_t yi) { gx[xi] += gv[yi] * wv[wi]; });
  return from_vector(gx, x_shape, {.dtype = g.dtype()});
}

inline Tensor conv2d_backward_weight(const Tensor& x, const Tensor& g, const Shape& w_shape, Conv2dOptions o) {
  const std::vector<double> xv = x.values(), gv = g.values();
  std::vector<double> gw(w_shape.numel(), 0.0);
  ConvIndex{x.shape(), w_shape, o}.for_each_term(
      [&](int64_t xi, int64_t wi, int64_t yi) { gw[wi] += gv[yi] * xv[xi]; });
  return from_vector(gw, w_shape, {.dtype = x.dtype()});
}

}  // namespace scorch::reference
