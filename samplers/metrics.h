// metrics.h: how close samples and score fields are to the truth.
//
//   mmd2             unbiased squared maximum mean discrepancy (Gretton et al. 2012, eq. 3) with the
//                    kernel k(a, b) = sum_h exp(-|a - b|^2 / (2 h^2)) over several bandwidths h, so that
//                    both the mode weights (large h) and the shape within a mode (small h) count
//   mode_fractions   share of particles nearest to each mean (non-finite particles counted apart)
//   field_error      relative L2 error |s - s*| / |s*| over the points where mask is true
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace scorch {

inline const std::vector<double> kMmdBandwidths = {0.5, 1, 2, 4, 8};

// x [N, D], y [M, D] (N, M >= 2; rows with non-finite values are skipped). Bandwidths double from
// one to the next (the kernel sum is computed with one exp per pair).
double mmd2(const Tensor& x, const Tensor& y, const std::vector<double>& bandwidths = kMmdBandwidths);

struct ModeFractions {
  std::vector<double> fraction;  // per mean, over all particles
  double nonfinite = 0;          // share of particles with a NaN or infinite coordinate
};
ModeFractions mode_fractions(const Tensor& x, const std::vector<std::vector<double>>& means);

double field_error(const Tensor& score, const Tensor& exact, const std::vector<bool>& mask);

}  // namespace scorch
