#include "samplers/gmm.h"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include "autograd/ops.h"
#include "tensor/parallel.h"

namespace scorch {
namespace {

using Matrix = std::vector<double>;  // D x D, row-major

// Lower-triangular L with L L^T = a; throws if a is not positive definite.
Matrix cholesky(const Matrix& a, int d, int component) {
  Matrix l(d * d, 0.0);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j <= i; ++j) {
      double s = a[i * d + j];
      for (int k = 0; k < j; ++k) s -= l[i * d + k] * l[j * d + k];
      if (i == j) {
        if (!(s > 0))
          throw std::invalid_argument("GaussianMixture: covariance of component " + std::to_string(component) +
                                      " is not positive definite");
        l[i * d + i] = std::sqrt(s);
      } else {
        l[i * d + j] = s / l[j * d + j];
      }
    }
  return l;
}

// (L L^T)^-1 from L, by solving L L^T X = I column by column.
Matrix inverse_from_cholesky(const Matrix& l, int d) {
  Matrix inv(d * d, 0.0);
  std::vector<double> y(d);
  for (int c = 0; c < d; ++c) {
    for (int i = 0; i < d; ++i) {  // L y = e_c
      double s = i == c ? 1.0 : 0.0;
      for (int k = 0; k < i; ++k) s -= l[i * d + k] * y[k];
      y[i] = s / l[i * d + i];
    }
    for (int i = d - 1; i >= 0; --i) {  // L^T x = y
      double s = y[i];
      for (int k = i + 1; k < d; ++k) s -= l[k * d + i] * inv[k * d + c];
      inv[i * d + c] = s / l[i * d + i];
    }
  }
  return inv;
}

}  // namespace

GaussianMixture::GaussianMixture(std::vector<double> weights, std::vector<std::vector<double>> means,
                                 std::vector<std::vector<std::vector<double>>> covariances)
    : weights_(std::move(weights)), means_(std::move(means)) {
  const size_t k = weights_.size();
  if (k == 0 || means_.size() != k || covariances.size() != k)
    throw std::invalid_argument("GaussianMixture: need as many means and covariances as weights (" + std::to_string(k) +
                                ")");
  const int d = static_cast<int>(means_[0].size());
  double total = 0;
  for (double w : weights_) {
    if (!(w > 0)) throw std::invalid_argument("GaussianMixture: weights must be positive, got " + format_number(w));
    total += w;
  }
  for (double& w : weights_) w /= total;
  for (size_t c = 0; c < k; ++c) {
    if (static_cast<int>(means_[c].size()) != d || static_cast<int>(covariances[c].size()) != d)
      throw std::invalid_argument("GaussianMixture: component " + std::to_string(c) + " is not " + std::to_string(d) +
                                  "-d");
    Matrix cov;
    for (const auto& row : covariances[c]) {
      if (static_cast<int>(row.size()) != d)
        throw std::invalid_argument("GaussianMixture: covariance " + std::to_string(c) + " is not " +
                                    std::to_string(d) + "x" + std::to_string(d));
      cov.insert(cov.end(), row.begin(), row.end());
    }
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < i; ++j)
        if (std::abs(cov[i * d + j] - cov[j * d + i]) > 1e-12 * (1 + std::abs(cov[i * d + j])))
          throw std::invalid_argument("GaussianMixture: covariance " + std::to_string(c) + " is not symmetric");
    cholesky_.push_back(cholesky(cov, d, static_cast<int>(c)));
    covariances_.push_back(std::move(cov));
  }
}

GaussianMixture GaussianMixture::diagonal(std::vector<double> weights, std::vector<std::vector<double>> means,
                                          std::vector<std::vector<double>> variances) {
  std::vector<std::vector<std::vector<double>>> covs;
  for (const auto& v : variances) {
    std::vector<std::vector<double>> cov(v.size(), std::vector<double>(v.size(), 0.0));
    for (size_t i = 0; i < v.size(); ++i) cov[i][i] = v[i];
    covs.push_back(std::move(cov));
  }
  return GaussianMixture(std::move(weights), std::move(means), std::move(covs));
}

std::vector<GaussianMixture::Component> GaussianMixture::components_at(double sigma) const {
  const int d = dim();
  std::vector<Component> comps;
  for (int c = 0; c < components(); ++c) {
    Matrix cov = covariances_[c];
    for (int i = 0; i < d; ++i) cov[i * d + i] += sigma * sigma;
    const Matrix l = cholesky(cov, d, c);
    double log_det = 0;
    for (int i = 0; i < d; ++i) log_det += 2 * std::log(l[i * d + i]);
    comps.push_back(
        {inverse_from_cholesky(l, d), std::log(weights_[c]) - 0.5 * (d * std::log(2 * std::numbers::pi) + log_det)});
  }
  return comps;
}

// out = -sum_k r_k P_k (x - mu_k), with r = softmax over k of log N_k(x) (log-sum-exp).
// `logits` [K] and `pull` [K, D] are scratch space (pull[c] = P_c (x - mu_c)).
void GaussianMixture::score_row(const double* x, const std::vector<Component>& comps, double* out,
                                std::vector<double>& logits, std::vector<double>& pull) const {
  const int d = dim(), k = components();
  double top = -INFINITY;
  for (int c = 0; c < k; ++c) {
    double maha = 0;
    for (int i = 0; i < d; ++i) {
      double s = 0;
      for (int j = 0; j < d; ++j) s += comps[c].precision[i * d + j] * (x[j] - means_[c][j]);
      pull[c * d + i] = s;
      maha += (x[i] - means_[c][i]) * s;
    }
    logits[c] = comps[c].log_norm - 0.5 * maha;
    top = std::max(top, logits[c]);
  }
  double total = 0;
  for (double& l : logits) total += (l = std::exp(l - top));
  for (int i = 0; i < d; ++i) {
    double s = 0;
    for (int c = 0; c < k; ++c) s -= logits[c] / total * pull[c * d + i];
    out[i] = s;
  }
}

Tensor GaussianMixture::score(const Tensor& x) const { return score(x, scalar_tensor(0.0, {.dtype = kFloat64})); }

Tensor GaussianMixture::score(const Tensor& x, const Tensor& sigma) const {
  const int d = dim();
  if (x.dim() != 2 || x.shape()[1] != d)
    throw std::invalid_argument("GaussianMixture::score: x must be [N, " + std::to_string(d) + "], got " + describe(x));
  const int64_t n = x.shape()[0];
  if (sigma.numel() != 1 && sigma.numel() != n)
    throw std::invalid_argument("GaussianMixture::score: sigma " + describe(sigma) + " needs 1 or " +
                                std::to_string(n) + " values");
  const std::vector<double> xs = x.values(), ss = sigma.values();
  for (double s : ss)  // checked here: the loop below runs on OpenMP threads, which must not throw
    if (!(s >= 0) || !std::isfinite(s))
      throw std::invalid_argument("GaussianMixture::score: sigma must be finite and >= 0, got " + format_number(s));
  std::vector<double> out(xs.size());
  parallel_for(n, 2048, [&](int64_t begin, int64_t end) {
    double cached_sigma = NAN;
    std::vector<Component> comps;
    std::vector<double> logits(components()), pull(components() * d);
    for (int64_t r = begin; r < end; ++r) {
      const double s = ss[ss.size() == 1 ? 0 : r];
      if (!(s == cached_sigma)) comps = components_at(s), cached_sigma = s;  // rows usually share sigma
      score_row(&xs[r * d], comps, &out[r * d], logits, pull);
    }
  });
  return from_vector(out, x.shape(), x.options());
}

Tensor GaussianMixture::log_prob(const Tensor& x) const {
  if (x.dim() != 2 || x.shape()[1] != dim())
    throw std::invalid_argument("GaussianMixture::log_prob: x must be [N, " + std::to_string(dim()) + "], got " +
                                describe(x));
  const std::vector<Component> comps = components_at(0.0);
  const int64_t d = dim();
  TensorList terms;
  for (int c = 0; c < components(); ++c) {
    const Tensor diff = x - from_vector(means_[c], x.options());
    const Tensor precision = from_vector(comps[c].precision, {d, d}, x.options());
    const Tensor maha = sum(matmul(diff, precision) * diff, {1});
    terms.push_back(maha * -0.5 + comps[c].log_norm);
  }
  const Tensor logits = stack(terms, 1);               // [N, K]
  const Tensor top = max(logits, {1}, true).detach();  // log-sum-exp shift
  return log(sum(exp(logits - top), {1})) + top.squeeze(1);
}

std::vector<double> GaussianMixture::density(const Tensor& x) const {
  NoGradGuard no_grad;
  std::vector<double> p = log_prob(x.to(kFloat64)).values();
  for (double& v : p) v = std::exp(v);
  return p;
}

Tensor GaussianMixture::sample(int64_t n, Generator& gen, DType dtype) const {
  const int d = dim();
  const std::vector<double> u = rand({n}, gen, {.dtype = kFloat64}).values();
  const std::vector<double> z = randn({n, d}, gen, {.dtype = kFloat64}).values();
  std::vector<double> out(n * d);
  for (int64_t r = 0; r < n; ++r) {
    int c = 0;
    for (double cum = weights_[0]; c + 1 < components() && u[r] >= cum; cum += weights_[++c]) {}
    for (int i = 0; i < d; ++i) {
      double s = means_[c][i];
      for (int j = 0; j <= i; ++j) s += cholesky_[c][i * d + j] * z[r * d + j];
      out[r * d + i] = s;
    }
  }
  return from_vector(out, {n, d}, {.dtype = dtype});
}

}  // namespace scorch
