// conv2d.h: 2-d convolution (cross-correlation, as torch.nn.functional.conv2d), NCHW, groups = 1.
//
//   x [N, C, H, W], w [K, C, R, S], b [K] (optional) -> y [N, K, P, Q]
//   P = (H + 2 pad - dil (R - 1) - 1) / stride + 1, Q likewise with W and S
//   y[n, k, p, q] = b[k] + sum_{c, r, s} w[k, c, r, s] x[n, c, p stride - pad + r dil, q stride - pad + s dil]
// (x outside [0, H) x [0, W) reads as 0). The map is bilinear in (x, w), so with g the gradient of y:
//   gx = conv2d_backward_input(g, w, x.shape)    the transposed convolution of g with w
//   gw = conv2d_backward_weight(x, g, w.shape)   sum over n, p, q of g[n, k, p, q] x[n, c, ...]
//   gb = sum of g over n, p, q
// Both backward maps are ops of their own and bilinear too, so their gradients are these same three
// ops again (gradients of gradients work):
//   backward_input(g, w):   d/dg = conv2d(u, w)              d/dw = backward_weight(u, g)
//   backward_weight(x, g):  d/dx = backward_input(g, v)       d/dg = conv2d(x, v)
// CPU kernels (conv2d.cpp): float32 convs on AVX-512 machines run direct register-tiled kernels over
// the zero-padded image (conv2d_direct.h) wherever they fit (stride 1, or 2 for the forward and weight
// gradient); everything else lowers to OpenBLAS gemm over column matrices (im2col), small images in
// groups side by side, threads splitting the batch.
// Reference: PyTorch torch.nn.Conv2d docs; Chellapilla et al. 2006 (convolution as matrix products).
#pragma once
#include "tensor/tensor.h"

namespace scorch {

// Square windows: the same stride, padding and dilation along H and W.
struct Conv2dOptions {
  int64_t stride = 1;
  int64_t padding = 0;
  int64_t dilation = 1;
};

// b may be undefined (no bias). Throws std::invalid_argument naming the shapes when they do not fit,
// e.g. "conv2d: input [64, 3, 28, 28] has 3 channels, weight [32, 1, 3, 3] expects 1".
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = {}, Conv2dOptions options = {});
Tensor conv2d_backward_input(const Tensor& g, const Tensor& w, const Shape& x_shape, Conv2dOptions options);
Tensor conv2d_backward_weight(const Tensor& x, const Tensor& g, const Shape& w_shape, Conv2dOptions options);

// The output shape [N, K, P, Q] of conv2d on these shapes (throws as conv2d does).
Shape conv2d_output_shape(const Shape& x, const Shape& w, Conv2dOptions options);
// Floating-point operations of the forward: 2 N K P Q C R S (each backward map costs the same).
double conv2d_flops(const Shape& x, const Shape& w, Conv2dOptions options);

}  // namespace scorch
