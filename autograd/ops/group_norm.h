// group_norm.h: group normalisation, instance normalisation and group_norm followed by SiLU (fused).
//
// x [N, C, *spatial] (at least [N, C]; S = the product of the spatial dims, 1 when there are none) is
// split into G groups of C/G consecutive channels; each (n, group) is normalised over its D = C/G * S
// elements, then scaled and shifted per channel by weight w [C] and bias b [C] (each optional):
//   mu = mean(x over the group)      var = mean((x - mu)^2)  (biased, as torch)      r = 1 / sqrt(var + eps)
//   xhat = (x - mu) r                y = xhat w_c + b_c
// group_norm_silu gives silu(y) in the same pass (the GN -> SiLU of every unet-small block).
//
// Backward, with g the gradient of y (for group_norm_silu, g is first replaced by g silu'(y)) and
// means over the group:
//   gh = g w_c                                          (the gradient of xhat)
//   gx = r (gh - mean(gh) - xhat mean(gh xhat))
//   gw_c = sum over n and S of g xhat                   gb_c = sum over n and S of g
// Two paths compute it. Without create_graph (GradMode off inside backward: a plain training step), a
// fused kernel reads x and g once per (n, group) and reuses the mean and r saved by the forward. With
// create_graph, the same formulas are written with differentiable ops (mean, mul, rsqrt, silu_backward,
// ...), recomputing xhat from x, so that the gradient can be differentiated again (gradgradcheck).
// float32 statistics accumulate in double. Non-contiguous inputs are copied to contiguous first.
//
// instance_norm(x) = group_norm(x, C groups, no affine): torch.nn.functional.instance_norm without
// running statistics.
//
// Reference: Wu & He, "Group Normalization" (ECCV 2018), eq. 1-4; torch.nn.functional.group_norm.
// Errors (std::invalid_argument) name the op and shapes, e.g.
//   "group_norm: 30 channels of input [4, 30, 8, 8] are not divisible by 8 groups".
#pragma once
#include "tensor/tensor.h"

namespace scorch {

// weight and bias may be undefined Tensors (no scale, no shift); eps must be >= 0.
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);
Tensor group_norm_silu(const Tensor& x, int64_t groups, const Tensor& weight = {}, const Tensor& bias = {},
                       double eps = 1e-5);
Tensor instance_norm(const Tensor& x, double eps = 1e-5);

}  // namespace scorch
