// shape.h: ops that change how data is indexed. reshape/view, permute/transpose, slice/narrow,
// expand, unsqueeze/squeeze are views (no copy) whenever the strides allow; contiguous, clone, to,
// concat and stack copy.
//   reshape   ga = reshape(g, a.shape)            permute  ga = permute(g, inverse(dims))
//   expand    ga = sum_to(g, a.shape)             slice    ga = slice_backward(g, a.shape, ...)
//   concat    ga_i = narrow(g, dim, offset_i, size_i)      stack = concat of unsqueezed inputs
//   to        ga = to(g, a.dtype)                 contiguous, clone: ga = g
//   to(device) ga = to(g, a.device): gradients flow back across devices
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace scorch {

// `shape` may hold one -1, inferred from the others. reshape copies when a view is impossible;
// view throws then.
Tensor reshape(const Tensor& a, const Shape& shape);
Tensor view(const Tensor& a, const Shape& shape);
Tensor flatten(const Tensor& a, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor permute(const Tensor& a, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& a, int64_t dim0, int64_t dim1);
// Elements start, start+step, ... < end along dim (start/end clamped as Python slices, negative ok).
Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length);
// The gradient of slice: zeros of `shape` with g written at the sliced positions.
Tensor slice_backward(const Tensor& g, const Shape& shape, int64_t dim, int64_t start, int64_t end, int64_t step);
// Broadcasts size-1 dims (and new leading dims) to `shape`; -1 keeps a size.
Tensor expand(const Tensor& a, const Shape& shape);
Tensor unsqueeze(const Tensor& a, int64_t dim);
Tensor squeeze(const Tensor& a, int64_t dim);
Tensor squeeze(const Tensor& a);  // every size-1 dim
Tensor contiguous(const Tensor& a);
Tensor clone(const Tensor& a);
Tensor to(const Tensor& a, DType dtype);
// A copy on `device` (a itself when it is there already). Throws "tensor.to(cuda:0): this build has no
// CUDA backend", "tensor.to(cuda:0): no CUDA device" (cuda/device.h's check_device).
Tensor to(const Tensor& a, Device device);
Tensor concat(const TensorList& tensors, int64_t dim);
Tensor stack(const TensorList& tensors, int64_t dim);

}  // namespace scorch
