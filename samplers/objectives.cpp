#include "samplers/objectives.h"

#include <cmath>

#include "autograd/ops.h"

namespace scorch {
namespace {

void check_batch(const char* name, const Tensor& x) {
  if (x.dim() != 2 || x.shape()[0] == 0)
    throw std::invalid_argument(std::string(name) + ": x must be a non-empty [N, D] batch, got " + describe(x));
}

// The denoising objectives also take image batches [N, C, H, W]: what they sum is every dim but the first.
void check_samples(const char* name, const Tensor& x) {
  if (x.dim() < 2 || x.shape()[0] == 0)
    throw std::invalid_argument(std::string(name) + ": x must be a non-empty [N, ...] batch, got " + describe(x));
}

std::vector<int64_t> sample_dims(const Tensor& x) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

// sigma [N] as [N, 1, ...] to broadcast over one sample of x.
Tensor per_sample(const Tensor& sigma, const Tensor& x) {
  Shape shape{x.shape()[0]};
  while (shape.size() < x.dim()) shape.push_back(1);
  return sigma.reshape(shape);
}

Tensor sigma_rows(const Tensor& x, double sigma) { return full({x.shape()[0]}, sigma, x.options()); }

// 1/2 |s sigma + z|^2 per sample, averaged (= 1/2 sigma^2 |s + z / sigma|^2, without dividing by sigma).
Tensor weighted_denoising_error(const Tensor& s, const Tensor& sigma_col, const Tensor& z) {
  return mean(sum(square(s * sigma_col + z), sample_dims(z))) * 0.5;
}

}  // namespace

Tensor dsm_loss(const ScoreFn& score, const Tensor& x, double sigma, Generator& gen) {
  check_samples("dsm_loss", x);
  if (!(sigma > 0)) throw std::invalid_argument("dsm_loss: sigma must be > 0, got " + format_number(sigma));
  const Tensor z = randn(x.shape(), gen, x.options());
  const Tensor s = score(x + z * sigma, sigma_rows(x, sigma));
  return mean(sum(square(s + z / sigma), sample_dims(z))) * 0.5;
}

Tensor annealed_dsm_loss(const ScoreFn& score, const Tensor& x, const std::vector<double>& sigmas, Generator& gen) {
  check_samples("annealed_dsm_loss", x);
  if (sigmas.empty()) throw std::invalid_argument("annealed_dsm_loss: empty noise schedule");
  const int64_t n = x.shape()[0];
  const std::vector<double> level = randint(0, static_cast<int64_t>(sigmas.size()), {n}, gen).values();
  std::vector<double> sigma(n);
  for (int64_t i = 0; i < n; ++i) sigma[i] = sigmas[static_cast<size_t>(level[i])];
  const Tensor z = randn(x.shape(), gen, x.options());
  return denoising_score_loss(score, x, from_vector(sigma, x.options()), z);
}

Tensor log_uniform_dsm_loss(const ScoreFn& score, const Tensor& x, double sigma_min, double sigma_max, Generator& gen) {
  check_samples("log_uniform_dsm_loss", x);
  if (!(sigma_min > 0) || !(sigma_max > sigma_min))
    throw std::invalid_argument("log_uniform_dsm_loss: need 0 < sigma_min < sigma_max, got " +
                                format_number(sigma_min) + " and " + format_number(sigma_max));
  const std::vector<double> u = rand({x.shape()[0]}, gen, {.dtype = kFloat64}).values();
  std::vector<double> sigma(u.size());
  for (size_t i = 0; i < u.size(); ++i) sigma[i] = sigma_min * std::pow(sigma_max / sigma_min, u[i]);
  const Tensor z = randn(x.shape(), gen, x.options());
  return denoising_score_loss(score, x, from_vector(sigma, x.options()), z);
}

Tensor denoising_score_loss(const ScoreFn& score, const Tensor& x, const Tensor& sigma, const Tensor& z) {
  check_samples("denoising_score_loss", x);
  if (sigma.dim() != 1 || sigma.shape()[0] != x.shape()[0] || z.shape() != x.shape())
    throw std::invalid_argument("denoising_score_loss: need sigma [N] and z shaped as x " + describe(x) +
                                ", got sigma " + describe(sigma) + " and z " + describe(z));
  const Tensor sigma_col = per_sample(sigma, x);
  return weighted_denoising_error(score(x + sigma_col * z, sigma), sigma_col, z);
}

Tensor sliced_score_matching_loss(const ScoreFn& score, const Tensor& x, double sigma, Generator& gen,
                                  int projections) {
  check_batch("sliced_score_matching_loss", x);
  if (projections < 1) throw std::invalid_argument("sliced_score_matching_loss: projections must be >= 1");
  // Each sample repeated once per projection, with its own direction v.
  const Tensor xr =
      reshape(expand(unsqueeze(x.detach(), 0), {projections, x.shape()[0], x.shape()[1]}), {-1, x.shape()[1]})
          .contiguous()
          .detach()
          .requires_grad_();
  const Tensor v = randn(xr.shape(), gen, x.options());
  const Tensor s = score(xr, sigma_rows(xr, sigma));
  const Tensor hv = grad({sum(s * v)}, {xr}, {}, {.create_graph = true})[0];  // grad_x (v . s) = J^T v
  return mean(sum(hv * v, {1}) + sum(square(s), {1}) * 0.5);
}

Tensor explicit_score_matching_loss(const ScoreFn& score, const Tensor& x, double sigma) {
  check_batch("explicit_score_matching_loss", x);
  const Tensor xr = x.detach().requires_grad_();
  const Tensor s = score(xr, sigma_rows(xr, sigma));
  Tensor trace = zeros({x.shape()[0]}, x.options());
  for (int64_t d = 0; d < x.shape()[1]; ++d) {
    const Tensor gd = grad({sum(narrow(s, 1, d, 1))}, {xr}, {}, {.create_graph = true})[0];
    trace = trace + narrow(gd, 1, d, 1).squeeze(1);
  }
  return mean(trace + sum(square(s), {1}) * 0.5);
}

}  // namespace scorch
