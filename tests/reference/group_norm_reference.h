// group_norm_reference.h: naive group_norm (optionally followed by SiLU) and NCSN's conditional
// instance norm++ for the tests: index loops over values() in double, never calling the code under test.
#pragma once
#include <cmath>
#include <vector>

#include "tensor/tensor.h"

namespace scorch::reference {

// x [N, C, *spatial]: per (n, group of C/groups channels), mean and biased variance in double, then
// y = (x - mean) / sqrt(var + eps) w_c + b_c (w, b optional), and silu(y) when silu is set.
inline Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& w, const Tensor& b, double eps,
                         bool silu = false) {
  const int64_t N = x.shape()[0], C = x.shape()[1], Cg = C / groups;
  int64_t S = 1;
  for (int d = 2; d < x.dim(); ++d) S *= x.shape()[d];
  const std::vector<double> v = x.values();
  const std::vector<double> wv = w.defined() ? w.values() : std::vector<double>(C, 1.0);
  const std::vector<double> bv = b.defined() ? b.values() : std::vector<double>(C, 0.0);
  std::vector<double> y(v.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < groups; ++g) {
      auto at = [&](int64_t j, int64_t s) { return (n * C + g * Cg + j) * S + s; };  // channel j of the group
      double sum = 0, sq = 0;
      for (int64_t j = 0; j < Cg; ++j)
        for (int64_t s = 0; s < S; ++s) sum += v[at(j, s)];
      const double mean = sum / static_cast<double>(Cg * S);
      for (int64_t j = 0; j < Cg; ++j)
        for (int64_t s = 0; s < S; ++s) sq += (v[at(j, s)] - mean) * (v[at(j, s)] - mean);
      const double scale = 1.0 / std::sqrt(sq / static_cast<double>(Cg * S) + eps);
      for (int64_t j = 0; j < Cg; ++j)
        for (int64_t s = 0; s < S; ++s) {
          const double a = (v[at(j, s)] - mean) * scale * wv[g * Cg + j] + bv[g * Cg + j];
          y[at(j, s)] = silu ? a / (1.0 + std::exp(-a)) : a;
        }
    }
  return from_vector(y, x.shape(), {.dtype = x.dtype()});
}

// NCSN's ConditionalInstanceNorm2dPlus (models/cond_refinenet_dilated.py) on x [N, C, H, W] with
// labels y and embedding rows e = embed[y] = [gamma (C), alpha (C), beta (C, only with bias)]:
//   mu_nc = mean over H, W;  m_n, v_n = mean and unbiased variance of mu_n. over c
//   out = gamma (instance_norm(x) + alpha (mu_nc - m_n) / sqrt(v_n + 1e-5)) + beta
inline Tensor cond_instance_norm_plus(const Tensor& x, const std::vector<int64_t>& labels, const Tensor& embed,
                                      bool bias) {
  const int64_t N = x.shape()[0], C = x.shape()[1], S = x.shape()[2] * x.shape()[3], width = embed.shape()[1];
  const std::vector<double> v = x.values(), e = embed.values();
  std::vector<double> out(v.size());
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> mu(C, 0.0), var(C, 0.0);
    double m = 0, vn = 0;
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t s = 0; s < S; ++s) mu[c] += v[(n * C + c) * S + s] / static_cast<double>(S);
      for (int64_t s = 0; s < S; ++s) var[c] += std::pow(v[(n * C + c) * S + s] - mu[c], 2) / static_cast<double>(S);
      m += mu[c] / static_cast<double>(C);
    }
    for (int64_t c = 0; c < C; ++c) vn += (mu[c] - m) * (mu[c] - m) / static_cast<double>(C - 1);
    const double* row = &e[labels[n] * width];
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * C + c) * S + s;
        const double h = (v[i] - mu[c]) / std::sqrt(var[c] + 1e-5) + row[C + c] * (mu[c] - m) / std::sqrt(vn + 1e-5);
        out[i] = row[c] * h + (bias ? row[2 * C + c] : 0.0);
      }
  }
  return from_vector(out, x.shape(), {.dtype = x.dtype()});
}

}  // namespace scorch::reference
