// upsample.h: nearest (integer scale) and bilinear resizing of NCHW tensors (float32 and float64).
//
//   upsample_nearest2d   x [N, C, H, W] -> y [N, C, H s, W s],  y[n, c, i, j] = x[n, c, i / s, j / s]
//                        gx = upsample_nearest2d_backward(g, s): gx[n, c, h, w] = sum_{a, b < s} g[n, c, h s + a, w s +
//                        b] (the block sum; its own backward is upsample_nearest2d again)
//   interpolate_bilinear x [N, C, H, W] -> y [N, C, P, Q]; along each dim, output o reads the source
//                        coordinate  src(o) = o (H - 1) / (P - 1)                  (align_corners; 0 when P = 1)
//                                    src(o) = max(0, (o + 1/2) H / P - 1/2)        (otherwise)
//                        i0 = floor(src), i1 = min(i0 + 1, H - 1), l1 = src - i0, l0 = 1 - l1; then
//                        y[p, q] = l0(p) (m0(q) x[i0, j0] + m1(q) x[i0, j1]) + l1(p) (m0(q) x[i1, j0] + m1(q) x[i1,
//                        j1]) gx = interpolate_bilinear_backward(g, H, W, align_corners): each g[p, q] added to the
//                        same four inputs with the same weights (the transpose; a linear map, so its backward is
//                        interpolate_bilinear again).
// Weights are computed in double and rounded to the tensor's dtype.
// Reference: torch.nn.functional.interpolate (mode='nearest' with an integer scale_factor, and
// mode='bilinear' with size=), https://pytorch.org/docs/stable/generated/torch.nn.functional.interpolate.html
#pragma once
#include "tensor/tensor.h"

namespace scorch {

// Throws std::invalid_argument on a non-4-d input or scale < 1.
Tensor upsample_nearest2d(const Tensor& x, int64_t scale = 2);
// g [N, C, H s, W s] -> [N, C, H, W]; throws unless g's H and W are multiples of scale.
Tensor upsample_nearest2d_backward(const Tensor& g, int64_t scale = 2);
// Throws on a non-4-d input, an empty H or W, or out_h, out_w < 1.
Tensor interpolate_bilinear(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners);
// g [N, C, P, Q] -> [N, C, in_h, in_w].
Tensor interpolate_bilinear_backward(const Tensor& g, int64_t in_h, int64_t in_w, bool align_corners);

}  // namespace scorch
