// unet.cpp: unet-small (layout in unet.h).
#include "nn/unet.h"

#include <cmath>

#include "autograd/ops.h"

namespace scorch::nn {

Tensor noise_embedding(const Tensor& sigma, int64_t half) {
  if (!sigma.defined() || sigma.dim() != 1)
    throw std::invalid_argument("noise_embedding: sigma " + describe(sigma) + " must be [N]");
  if (half < 1) throw std::invalid_argument("noise_embedding: half must be >= 1, got " + std::to_string(half));
  std::vector<double> w(half);
  for (int64_t k = 0; k < half; ++k) w[k] = std::pow(1000.0, -static_cast<double>(k) / half);
  const Tensor freqs = from_vector(w, {1, half}, sigma.options());
  const Tensor angles = mul(reshape(log(sigma), {-1, 1}) * 250.0, freqs);  // [N, half]
  return concat({sin(angles), cos(angles)}, 1);
}

ResBlock::ResBlock(int64_t in_channels, int64_t out_channels, int64_t emb_dim, int64_t groups, Generator& gen) {
  norm1_ = register_module("norm1", std::make_shared<GroupNorm>(groups, in_channels));
  conv1_ = register_module("conv1",
                           std::make_shared<Conv2d>(in_channels, out_channels, 3, gen, Conv2dOptions{.padding = 1}));
  emb_ = register_module("emb", std::make_shared<Linear>(emb_dim, out_channels, gen));
  norm2_ = register_module("norm2", std::make_shared<GroupNorm>(groups, out_channels));
  conv2_ = register_module("conv2",
                           std::make_shared<Conv2d>(out_channels, out_channels, 3, gen, Conv2dOptions{.padding = 1}));
  if (in_channels != out_channels)
    skip_ = register_module("skip", std::make_shared<Conv2d>(in_channels, out_channels, 1, gen));
}

Tensor ResBlock::forward(const Tensor& x, const Tensor& emb_act) {
  Tensor h = conv1_->forward(norm1_->forward_silu(x));
  const Tensor e = emb_->forward(emb_act);  // [N, cout]
  h = add(h, reshape(e, {e.shape()[0], e.shape()[1], 1, 1}));
  h = conv2_->forward(norm2_->forward_silu(h));
  return add(h, skip_ ? skip_->forward(x) : x);
}

UNetSmall::UNetSmall(Generator& gen, Options options) : options_(options) {
  const int64_t c = options.width, g = options.groups, emb = 128;
  if (c <= 0 || g <= 0 || c % g != 0 || options.channels <= 0)
    throw std::invalid_argument("unet-small: width " + std::to_string(c) + " must be a positive multiple of groups " +
                                std::to_string(g) + ", channels positive (got " + std::to_string(options.channels) +
                                ")");
  const Conv2dOptions same{.padding = 1}, down{.stride = 2, .padding = 1};
  embed_ = register_module(
      "embed", std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<UnaryModule>>{
                   std::make_shared<Linear>(64, emb, gen), SiLU(), std::make_shared<Linear>(emb, emb, gen)}));
  auto conv = [&](const char* name, int64_t cin, int64_t cout, Conv2dOptions o) {
    return register_module(name, std::make_shared<Conv2d>(cin, cout, 3, gen, o));
  };
  auto block = [&](const char* name, int64_t cin, int64_t cout) {
    return register_module(name, std::make_shared<ResBlock>(cin, cout, emb, g, gen));
  };
  // Registration order is the order of bench/torch/models.py, so parameters list the same way.
  conv_in_ = conv("conv_in", options.channels, c, same);
  down0_ = block("down0", c, c);
  downsample0_ = conv("downsample0", c, c, down);
  down1_ = block("down1", c, 2 * c);
  downsample1_ = conv("downsample1", 2 * c, 2 * c, down);
  down2_ = block("down2", 2 * c, 4 * c);
  mid_ = block("mid", 4 * c, 4 * c);
  up2_ = block("up2", 8 * c, 4 * c);
  upconv2_ = conv("upconv2", 4 * c, 2 * c, same);
  up1_ = block("up1", 4 * c, 2 * c);
  upconv1_ = conv("upconv1", 2 * c, c, same);
  up0_ = block("up0", 2 * c, c);
  norm_out_ = register_module("norm_out", std::make_shared<GroupNorm>(g, c));
  conv_out_ = conv("conv_out", c, options.channels, same);
}

Tensor UNetSmall::forward(const Tensor& x, const Tensor& sigma) {
  if (!x.defined() || x.dim() != 4 || x.shape()[1] != options_.channels || x.shape()[2] % 4 != 0 ||
      x.shape()[3] % 4 != 0)
    throw std::invalid_argument("unet-small: x " + describe(x) + " must be [N, " + std::to_string(options_.channels) +
                                ", H, W] with H and W multiples of 4");
  const int64_t n = x.shape()[0];
  if (!sigma.defined() || (sigma.numel() != 1 && (sigma.dim() != 1 || sigma.shape()[0] != n)))
    throw std::invalid_argument("unet-small: sigma " + describe(sigma) + " must be [" + std::to_string(n) +
                                "] or a scalar for x " + describe(x));
  const Tensor s = expand(reshape(sigma, {-1}), {n});
  const Tensor emb_act = silu(embed_->forward(noise_embedding(s)));

  Tensor h = conv_in_->forward(x);
  const Tensor s0 = down0_->forward(h, emb_act);
  const Tensor s1 = down1_->forward(downsample0_->forward(s0), emb_act);
  const Tensor s2 = down2_->forward(downsample1_->forward(s1), emb_act);
  h = mid_->forward(s2, emb_act);
  h = up2_->forward(concat({h, s2}, 1), emb_act);
  h = up1_->forward(concat({upconv2_->forward(upsample_nearest2d(h, 2)), s1}, 1), emb_act);
  h = up0_->forward(concat({upconv1_->forward(upsample_nearest2d(h, 2)), s0}, 1), emb_act);
  const Tensor out = conv_out_->forward(norm_out_->forward_silu(h));
  return div(out, reshape(s, {n, 1, 1, 1}));
}

}  // namespace scorch::nn
