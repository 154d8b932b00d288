#include "samplers/metrics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "tensor/parallel.h"

namespace scorch {
namespace {

bool finite_row(const double* row, int64_t d) {
  for (int64_t j = 0; j < d; ++j)
    if (!std::isfinite(row[j])) return false;
  return true;
}

// Finite rows of x as a flat row-major vector.
std::vector<double> finite_rows(const Tensor& x, int64_t d) {
  const std::vector<double> v = x.values();
  std::vector<double> out;
  for (size_t r = 0; r + d <= v.size(); r += d)
    if (finite_row(&v[r], d)) out.insert(out.end(), v.begin() + r, v.begin() + r + d);
  return out;
}

// Sum of k(a_i, b_j) over all pairs (skipping i == j when `same`); rows summed per thread chunk and
// then in order, so the result does not depend on the thread count. The bandwidths must grow by a
// factor 2 each (as kMmdBandwidths): then exp(-d^2 / 2h^2) for the next smaller h is the fourth
// power of the current one, and one exp per pair serves them all.
double kernel_sum(const std::vector<double>& a, const std::vector<double>& b, int64_t d, bool same,
                  const std::vector<double>& bandwidths) {
  const int64_t na = static_cast<int64_t>(a.size()) / d, nb = static_cast<int64_t>(b.size()) / d;
  const double widest = -0.5 / (bandwidths.back() * bandwidths.back());
  std::vector<double> row_sums(na, 0.0);
  parallel_for(na, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double s = 0;
      for (int64_t j = 0; j < nb; ++j) {
        if (same && i == j) continue;
        double dist2 = 0;
        for (int64_t k = 0; k < d; ++k) dist2 += (a[i * d + k] - b[j * d + k]) * (a[i * d + k] - b[j * d + k]);
        double e = std::exp(widest * dist2);
        for (size_t h = 0; h < bandwidths.size(); ++h, e = (e * e) * (e * e)) s += e;
      }
      row_sums[i] = s;
    }
  });
  double total = 0;
  for (double s : row_sums) total += s;
  return total;
}

}  // namespace

double mmd2(const Tensor& x, const Tensor& y, const std::vector<double>& bandwidths) {
  if (x.dim() != 2 || y.dim() != 2 || x.shape()[1] != y.shape()[1])
    throw std::invalid_argument("mmd2: x " + describe(x) + " and y " + describe(y) + " must be [N, D] and [M, D]");
  if (bandwidths.empty()) throw std::invalid_argument("mmd2: no kernel bandwidths given");
  if (x.shape()[1] == 0) throw std::invalid_argument("mmd2: points have no coordinates (" + describe(x) + ")");
  for (size_t h = 1; h < bandwidths.size(); ++h)
    if (std::abs(bandwidths[h] / bandwidths[h - 1] - 2) > 1e-12)
      throw std::invalid_argument("mmd2: bandwidths must double from one to the next (e.g. 0.5, 1, 2, 4, 8)");
  const int64_t d = x.shape()[1];
  const std::vector<double> a = finite_rows(x, d), b = finite_rows(y, d);
  const double n = static_cast<double>(a.size() / d), m = static_cast<double>(b.size() / d);
  if (n < 2 || m < 2) return NAN;
  return kernel_sum(a, a, d, true, bandwidths) / (n * (n - 1)) + kernel_sum(b, b, d, true, bandwidths) / (m * (m - 1)) -
         2 * kernel_sum(a, b, d, false, bandwidths) / (n * m);
}

ModeFractions mode_fractions(const Tensor& x, const std::vector<std::vector<double>>& means) {
  if (x.dim() != 2 || means.empty())
    throw std::invalid_argument("mode_fractions: need particles [N, D] and at least one mean, got " + describe(x));
  const int64_t d = x.shape()[1], n = x.shape()[0];
  for (const auto& m : means)
    if (static_cast<int64_t>(m.size()) != d)
      throw std::invalid_argument("mode_fractions: a mean has " + std::to_string(m.size()) +
                                  " coordinates, particles " + std::to_string(d));
  const std::vector<double> v = x.values();
  std::vector<int64_t> count(means.size(), 0);
  int64_t nonfinite = 0;
  for (int64_t r = 0; r < n; ++r) {
    if (!finite_row(&v[r * d], d)) {
      ++nonfinite;
      continue;
    }
    size_t best = 0;
    double best_dist = INFINITY;
    for (size_t k = 0; k < means.size(); ++k) {
      double dist = 0;
      for (int64_t j = 0; j < d; ++j) dist += (v[r * d + j] - means[k][j]) * (v[r * d + j] - means[k][j]);
      if (dist < best_dist) best_dist = dist, best = k;
    }
    ++count[best];
  }
  ModeFractions f{std::vector<double>(means.size()), static_cast<double>(nonfinite) / n};
  for (size_t k = 0; k < means.size(); ++k) f.fraction[k] = static_cast<double>(count[k]) / n;
  return f;
}

double field_error(const Tensor& score, const Tensor& exact, const std::vector<bool>& mask) {
  const std::vector<double> s = score.values(), e = exact.values();
  const size_t d = s.size() / mask.size();
  if (s.size() != e.size() || s.size() != mask.size() * d)
    throw std::invalid_argument("field_error: fields " + describe(score) + " and " + describe(exact) +
                                " and a mask of " + std::to_string(mask.size()) + " points do not match");
  if (std::find(mask.begin(), mask.end(), true) == mask.end())
    throw std::invalid_argument("field_error: the mask selects no point");
  double num = 0, den = 0;
  for (size_t i = 0; i < mask.size(); ++i)
    if (mask[i])
      for (size_t j = 0; j < d; ++j)
        num += (s[i * d + j] - e[i * d + j]) * (s[i * d + j] - e[i * d + j]), den += e[i * d + j] * e[i * d + j];
  return std::sqrt(num / den);
}

}  // namespace scorch
