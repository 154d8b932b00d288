// unet.h: `unet-small`, the MNIST score model of shared/spec/reference-models.md.
//
// Channels c, 2c, 4c (c = 32) at H x W, H/2, H/4 (28, 14, 7 for MNIST); GroupNorm(8) and SiLU.
//   noise embedding  t = 250 ln sigma, w_k = 1000^(-k/32), k < 32: e = [sin(t w_k), cos(t w_k)] (64)
//                    -> Linear(64,128) -> SiLU -> Linear(128,128)
//   ResBlock(cin -> cout): h = conv3x3(SiLU(GN(x))); h += Linear(SiLU(emb)) (broadcast over H, W);
//                          h = conv3x3(SiLU(GN(h))); return h + skip(x)   (skip: 1x1 conv if cin != cout)
//   conv_in -> down0 (s0) -> downsample0 (3x3 stride 2) -> down1 (s1) -> downsample1 -> down2 (s2)
//   -> mid -> up2([h, s2]) -> upsample x2, upconv2 -> up1([h, s1]) -> upsample x2, upconv1
//   -> up0([h, s0]) -> GN, SiLU, conv_out;  s(x, sigma) = out / sigma
// 1,466,049 parameters at c = 32, named as bench/torch/models.py names them (down0.conv1.weight, ...),
// so checkpoints and parity runs line up with the PyTorch twin.
#pragma once
#include "nn/layers.h"
#include "nn/norm.h"
#include "nn/score_models.h"

namespace scorch::nn {

// The 2 * half sinusoidal features of sigma [N]: [sin(t w_k)..., cos(t w_k)...], t = 250 ln sigma,
// w_k = 1000^(-k/half), k < half -> [N, 2 half]. Differentiable in sigma.
Tensor noise_embedding(const Tensor& sigma, int64_t half = 32);

class ResBlock : public Module {
 public:
  ResBlock(int64_t in_channels, int64_t out_channels, int64_t emb_dim, int64_t groups, Generator& gen);
  // x [N, cin, H, W], emb_act = SiLU(embedding) [N, emb_dim] -> [N, cout, H, W]
  Tensor forward(const Tensor& x, const Tensor& emb_act);

 private:
  std::shared_ptr<GroupNorm> norm1_, norm2_;
  std::shared_ptr<Conv2d> conv1_, conv2_, skip_;  // skip_ null when cin == cout
  std::shared_ptr<Linear> emb_;
};

class UNetSmall : public ScoreModel {
 public:
  struct Options {
    int64_t channels = 1;  // image channels
    int64_t width = 32;    // c: the widths are c, 2c, 4c (multiples of `groups`)
    int64_t groups = 8;
  };
  UNetSmall(Generator& gen, Options options);
  // x [N, channels, H, W] (H, W multiples of 4), sigma [N] or 0-d -> s(x, sigma) [N, channels, H, W]
  Tensor forward(const Tensor& x, const Tensor& sigma) override;

 private:
  Options options_;
  std::shared_ptr<Sequential> embed_;
  std::shared_ptr<Conv2d> conv_in_, downsample0_, downsample1_, upconv2_, upconv1_, conv_out_;
  std::shared_ptr<ResBlock> down0_, down1_, down2_, mid_, up2_, up1_, up0_;
  std::shared_ptr<GroupNorm> norm_out_;
};

}  // namespace scorch::nn
