// optim_fns.h: the per-element updates of SGD, Adam and EMA, callable on host and device: the CPU loops
// (nn/optim.cpp) and the fused CUDA kernels (cuda/optim.cu, one kernel per parameter per step) run this
// code, so both devices apply the same formula with the same fused multiply-adds.
//
// Each element goes through PyTorch's in-place ops in their order, with a fused multiply-add exactly where
// PyTorch's AVX2 kernels have one (add_(x, alpha) is vec::fmadd(x, alpha, self); GCC contracts
// addcmul_'s self + value * t1 * t2 the same way), so float32 and float64 results equal PyTorch 1.13's bit
// for bit on x86-64-v3. Every multiply-add is spelled out, leaving none for the compiler to contract
// differently. NOTE: std::fma is one instruction only with FMA hardware (-march=x86-64-v3 or native).
#pragma once
#include <cmath>
#include <cstdint>

#include "tensor/host_device.h"

namespace scorch::fns {

template <typename T>
struct SgdCoefficients {
  T weight_decay, momentum, one_minus_dampening, neg_lr;
  bool decay, first, nesterov;
};

// Element i; buf is null without momentum.
template <typename T>
SCORCH_HOST_DEVICE inline void sgd_element(T* p, const T* g, T* buf, int64_t i, const SgdCoefficients<T>& c) {
  T d = c.decay ? std::fma(p[i], c.weight_decay, g[i]) : g[i];  // d_p.add(p, alpha=wd)
  if (buf) {
    // buf = d_p.clone() at the first step, then buf.mul_(mu).add_(d_p, alpha=1-dampening)
    const T b = c.first ? d : std::fma(d, c.one_minus_dampening, buf[i] * c.momentum);
    buf[i] = b;
    d = c.nesterov ? std::fma(b, c.momentum, d) : b;  // d_p.add(buf, alpha=mu)
  }
  p[i] = std::fma(d, c.neg_lr, p[i]);  // p.add_(d_p, alpha=-lr)
}

template <typename T>
struct AdamCoefficients {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, weight_decay, bias_correction2_sqrt, eps, neg_step_size;
};

// Element i. kDecay false: no p term at all, as PyTorch with weight_decay 0 (0 * inf would be NaN).
template <typename T, bool kDecay>
SCORCH_HOST_DEVICE inline void adam_element(T* p, const T* g, T* m, T* v, int64_t i, const AdamCoefficients<T>& c) {
  const T gi = kDecay ? std::fma(p[i], c.weight_decay, g[i]) : g[i];  // grad.add(p, alpha=wd)
  const T mi = std::fma(gi, c.one_minus_beta1, m[i] * c.beta1);       // m.mul_(b1).add_(g, alpha=1-b1)
  const T vi = std::fma(c.one_minus_beta2 * gi, gi, v[i] * c.beta2);  // v.mul_(b2).addcmul_(g, g, 1-b2)
  m[i] = mi;
  v[i] = vi;
  const T denom = std::sqrt(vi) / c.bias_correction2_sqrt + c.eps;  // (v.sqrt() / bc2_sqrt).add_(eps)
  p[i] = p[i] + c.neg_step_size * mi / denom;                       // p.addcdiv_(m, denom, -step_size)
}

// The EMA's shadow after one update: decay shadow + (1 - decay) param.
template <typename T>
SCORCH_HOST_DEVICE inline T ema_value(T shadow, T param, T decay, T one_minus_decay) {
  return std::fma(decay, shadow, one_minus_decay * param);
}

}  // namespace scorch::fns
