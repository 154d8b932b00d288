// pool.h: 2-d average and max pooling over NCHW tensors (float32 and float64), square windows.
//
// x [N, C, H, W] -> y [N, C, P, Q], with kernel k, stride s (default k), padding d (at most k / 2):
//   P = (H + 2d - k) / s + 1,  Q = (W + 2d - k) / s + 1      (floor: ceil_mode=False)
//   window(p, q) = rows p s - d + [0, k), columns q s - d + [0, k)
//   avg_pool2d  y[p, q] = (1 / k^2) sum_{window(p, q)} x       (padding counts as 0 and in the
//               divisor: count_include_pad=True)
//               gx = avg_pool2d_backward(g): gx[h, w] = (1 / k^2) sum_{(p, q): window(p, q) holds (h, w)} g[p, q]
//               avg_pool2d_backward is linear in g; its own backward is avg_pool2d(gg).
//   max_pool2d  y[p, q] = x[a(p, q)], a(p, q) = argmax over window(p, q) of x (padding counts as -inf;
//               ties go to the first element in row-major window order; NaN wins, as torch)
//               gx = max_pool2d_backward(g, x): gx[a(p, q)] += g[p, q]   (a scatter; 0 elsewhere)
//               max_pool2d_backward is linear in g and piecewise constant in x (no gradient for x);
//               its backward w.r.t. g gathers: gg_out[p, q] = gg[a(p, q)], whose backward is the
//               scatter again, so derivatives of any order work.
// The argmax a is recomputed from x by each backward op (no index tensor is kept): one more pass over
// x per backward, in exchange for ops whose inputs are plain tensors of one dtype.
// Reference: torch.nn.functional.avg_pool2d (count_include_pad=True, ceil_mode=False) and max_pool2d,
// https://pytorch.org/docs/stable/generated/torch.nn.functional.avg_pool2d.html
#pragma once
#include <optional>

#include "tensor/tensor.h"

namespace scorch {

// stride defaults to kernel; throws std::invalid_argument on a non-4-d input, kernel or stride < 1,
// padding < 0 or > kernel / 2, or a window larger than the padded input.
Tensor avg_pool2d(const Tensor& x, int64_t kernel, std::optional<int64_t> stride = std::nullopt, int64_t padding = 0);
// g [N, C, P, Q] -> gx of input_shape [N, C, H, W].
Tensor avg_pool2d_backward(const Tensor& g, const Shape& input_shape, int64_t kernel, int64_t stride, int64_t padding);
Tensor max_pool2d(const Tensor& x, int64_t kernel, std::optional<int64_t> stride = std::nullopt, int64_t padding = 0);
// g [N, C, P, Q] scattered to the argmax positions of x [N, C, H, W].
Tensor max_pool2d_backward(const Tensor& g, const Tensor& x, int64_t kernel, int64_t stride, int64_t padding);

}  // namespace scorch
