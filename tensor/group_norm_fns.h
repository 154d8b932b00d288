// group_norm_fns.h: the per-element formulas of group_norm and group_norm_silu (group_norm.h), callable
// on host and device: the CPU rows (group_norm.cpp) and the CUDA kernels (cuda/norm.cu) run this code.
// With m the group mean and r = 1/sqrt(var + eps), channel c's scale = r w_c and shift = b_c:
//   a = (x - m) scale + shift              y = a, or silu(a)
//   gy = g, or g silu'(a)                  (the gradient of a)
//   gx = alpha gy + beta (x - m) + gamma,  alpha = r w_c, beta = -r^3 dot_w / D, gamma = -r sum_w / D
// where dot_w and sum_w are the group's sums of w_c gy (x - m) and of w_c gy (D elements).
#pragma once
#include <cstdint>

#include "tensor/elementwise_fns.h"
#include "tensor/host_device.h"

namespace scorch::fns {

template <bool kSilu, typename T>
SCORCH_HOST_DEVICE inline T group_norm_value(T x, T m, T scale, T shift) {
  const T a = (x - m) * scale + shift;
  if constexpr (kSilu)
    return SiluFn{}(a);
  else
    return a;
}

template <bool kSilu, typename T>
SCORCH_HOST_DEVICE inline T group_norm_grad_of_affine(T g, T x, T m, T scale, T shift) {
  if constexpr (kSilu)
    return SiluBackwardFn{}(g, (x - m) * scale + shift);
  else
    return g;
}

template <typename T>
SCORCH_HOST_DEVICE inline T group_norm_grad_input(T gy, T x, T m, T alpha, T beta, T gamma) {
  return alpha * gy + beta * (x - m) + gamma;
}

struct GroupNormInputCoefficients {
  double beta, gamma;
};
SCORCH_HOST_DEVICE inline GroupNormInputCoefficients group_norm_input_coefficients(double r, double dot_w, double sum_w,
                                                                                   int64_t D) {
  return {-r * r * r * dot_w / static_cast<double>(D), -r * sum_w / static_cast<double>(D)};
}

}  // namespace scorch::fns
