#include "samplers/schedule.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "tensor/shape.h"

namespace scorch {
namespace {

void check(const char* name, double sigma_max, double sigma_min, int levels) {
  if (!(sigma_min > 0) || !(sigma_max > sigma_min) || levels < 2)
    throw std::invalid_argument(std::string(name) + ": need sigma_max > sigma_min > 0 and at least 2 levels, got " +
                                format_number(sigma_max) + ", " + format_number(sigma_min) + ", " +
                                std::to_string(levels));
}

}  // namespace

std::vector<double> geometric_sigmas(double sigma_max, double sigma_min, int levels) {
  check("geometric_sigmas", sigma_max, sigma_min, levels);
  std::vector<double> s(levels);
  for (int i = 0; i < levels; ++i) s[i] = sigma_max * std::pow(sigma_min / sigma_max, double(i) / (levels - 1));
  return s;
}

std::vector<double> edm_sigmas(double sigma_max, double sigma_min, int levels, double rho) {
  check("edm_sigmas", sigma_max, sigma_min, levels);
  if (!(rho > 0)) throw std::invalid_argument("edm_sigmas: rho must be > 0, got " + format_number(rho));
  const double a = std::pow(sigma_max, 1 / rho), b = std::pow(sigma_min, 1 / rho);
  std::vector<double> s(levels);
  for (int i = 0; i < levels; ++i) s[i] = std::pow(a + double(i) / (levels - 1) * (b - a), rho);
  return s;
}

}  // namespace scorch
