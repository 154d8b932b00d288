// schedule.h: noise levels sigma_0 > sigma_1 > ... > sigma_{L-1}.
//   geometric  sigma_i = sigma_max (sigma_min / sigma_max)^(i / (L - 1))              (NCSN)
//   edm        sigma_i = (sigma_max^(1/rho) + i/(L-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho
//              (Karras et al. 2022, eq. 5; rho = 7)
#pragma once
#include <vector>

namespace scorch {

std::vector<double> geometric_sigmas(double sigma_max, double sigma_min, int levels);
std::vector<double> edm_sigmas(double sigma_max, double sigma_min, int levels, double rho = 7.0);

}  // namespace scorch
