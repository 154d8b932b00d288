// refinenet.h: `refinenet`, NCSN's noise-conditional score network CondRefineNetDilated, for 28x28.
//
// A port of ermongroup/ncsn models/cond_refinenet_dilated.py (commit 7f27f4a) through its PyTorch twin
// bench/torch/models.py; bench/torch/refinenet_structure.md writes every module out. Parameter names,
// shapes and registration order are NCSN's state_dict, so checkpoints load either way and
// bench/torch/parity.py compares the two. F = ngf; ELU everywhere; CIN++ = ConditionalInstanceNorm2dPlus
// (nn/norm.h), conditioned on the noise level index y:
//
//   x' = 2x - 1 -> begin_conv (3x3, C -> F)                                              F  x 28 x 28
//   res1: 2 residual blocks F -> F                                           -> layer1   F  x 28 x 28
//   res2: residual block F -> 2F with ConvMeanPool (halves H, W), 2F -> 2F   -> layer2   2F x 14 x 14
//   res3: 2 residual blocks 2F -> 2F, dilation 2                             -> layer3   2F x 14 x 14
//   res4: 2 residual blocks 2F -> 2F, dilation 4                             -> layer4   2F x 14 x 14
//   refine1([layer4]) -> refine2([layer3, ref1]) -> refine3([layer2, ref2]) -> refine4([layer1, ref3])
//   -> normalizer (CIN++) -> ELU -> end_conv (3x3, F -> C)                               C  x 28 x 28
// Each refine block: adapt every input (CondRCUBlock), fuse them (CondMSFBlock: CIN++, conv, bilinear
// resize with align_corners to the first input's size, sum), chained residual pooling (CondCRPBlock,
// 5x5 average pools), output CondRCUBlock.
//
// NOTE: the output is the score itself, not divided by sigma (unlike unet-small and mlp): as in NCSN, the
// network learns the 1/sigma scale from y. The loss is NCSN's annealed DSM, 1/2 sigma^2 |s + z/sigma|^2.
// Parameters: 518,817 for ngf 16, 7,638,657 for ngf 64 (NCSN's MNIST width). No buffers; train and eval
// compute the same thing. Any even H and W work (ConvMeanPool halves them once), 28 x 28 for MNIST.
// Reference: Song & Ermon, "Generative Modeling by Estimating Gradients of the Data Distribution"
// (NeurIPS 2019), appendix B.1; Lin et al., "RefineNet" (CVPR 2017) for the refine blocks.
#pragma once
#include <optional>
#include <vector>

#include "nn/norm.h"
#include "nn/score_models.h"

namespace scorch::nn {

// Modules named "0", "1", ... (torch.nn.ModuleList); holds any Module type, unlike Sequential.
template <typename M>
class ModuleList : public Module {
 public:
  void push_back(std::shared_ptr<M> module) {
    items_.push_back(register_module(std::to_string(items_.size()), std::move(module)));
  }
  M& operator[](size_t i) const { return *items_.at(i); }
  size_t size() const { return items_.size(); }

 private:
  std::vector<std::shared_ptr<M>> items_;
};

// conv (k x k, padding k / 2, bias) then 2x2 mean pooling (H, W even):
// out[i, j] = (((h[2i, 2j] + h[2i+1, 2j]) + h[2i, 2j+1]) + h[2i+1, 2j+1]) / 4, NCSN's summation order.
class ConvMeanPool : public UnaryModule {
 public:
  ConvMeanPool(int64_t in_channels, int64_t out_channels, int64_t kernel, Generator& gen);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<Conv2d> conv;
};

// out = shortcut(x) + conv2(ELU(normalize2(conv1(ELU(normalize1(x, y))), y))), every conv with a bias.
//   plain (!down):          conv1 in -> out, conv2 out -> out, 3x3 dilated d; shortcut: identity when
//                           in == out, else a conv like conv1 (1x1 without dilation)
//   down, no dilation:      conv1 in -> in 3x3; conv2 ConvMeanPool(in, out, 3); shortcut ConvMeanPool(in, out, 1)
//   down, dilation d:       conv1 in -> in, conv2 and shortcut in -> out, 3x3 dilated d. NOTE: despite the
//                           name this keeps H x W (NCSN's dilated "down" blocks do not downsample).
// Registered as NCSN: conv1, normalize2, conv2, shortcut, normalize1.
class ConditionalResidualBlock : public Module {
 public:
  ConditionalResidualBlock(int64_t in_channels, int64_t out_channels, int64_t num_classes, Generator& gen,
                           bool down = false, std::optional<int64_t> dilation = std::nullopt);
  Tensor forward(const Tensor& x, const Tensor& labels);

 private:
  std::shared_ptr<ConditionalInstanceNorm2dPlus> normalize1_, normalize2_;
  std::shared_ptr<Conv2d> conv1_;
  std::shared_ptr<UnaryModule> conv2_, shortcut_;  // shortcut_ null: identity
};

// Residual conv units, 2 stages each: n_blocks times { r = x; twice { x = conv(ELU(norm(x, y))) }; x += r }.
// Modules "{i}_{j}_norm" (CIN++) and "{i}_{j}_conv" (3x3, no bias), i = 1..n_blocks, j = 1..2.
class CondRCUBlock : public Module {
 public:
  CondRCUBlock(int64_t channels, int64_t n_blocks, int64_t num_classes, Generator& gen);
  Tensor forward(const Tensor& x, const Tensor& labels);

 private:
  std::vector<std::shared_ptr<ConditionalInstanceNorm2dPlus>> norms_;  // [i][j] flattened, j fastest
  std::vector<std::shared_ptr<Conv2d>> convs_;
};

// Multi-resolution fusion: sum over inputs i of resize(convs[i](norms[i](xs[i], y))) to out_h x out_w,
// convs[i] 3x3 with bias in_planes[i] -> channels, resize bilinear with align_corners.
class CondMSFBlock : public Module {
 public:
  CondMSFBlock(const std::vector<int64_t>& in_planes, int64_t channels, int64_t num_classes, Generator& gen);
  Tensor forward(const TensorList& xs, const Tensor& labels, int64_t out_h, int64_t out_w);

 private:
  std::shared_ptr<ModuleList<Conv2d>> convs_;
  std::shared_ptr<ModuleList<ConditionalInstanceNorm2dPlus>> norms_;
};

// Chained residual pooling, 2 stages: x = ELU(x); p = x; twice { p = conv(avgpool5(norm(p, y))); x += p },
// avgpool5 = 5x5 average, stride 1, padding 2, always / 25; convs 3x3 without bias.
class CondCRPBlock : public Module {
 public:
  CondCRPBlock(int64_t channels, int64_t num_classes, Generator& gen);
  Tensor forward(const Tensor& x, const Tensor& labels);

 private:
  std::shared_ptr<ModuleList<Conv2d>> convs_;
  std::shared_ptr<ModuleList<ConditionalInstanceNorm2dPlus>> norms_;
};

// adapt_convs (a 2-block CondRCUBlock per input, at its width), msf (two inputs only; the output has the
// first input's H x W), crp, output_convs (3 blocks if `end`, else 1).
class CondRefineBlock : public Module {
 public:
  CondRefineBlock(const std::vector<int64_t>& in_planes, int64_t channels, int64_t num_classes, Generator& gen,
                  bool end = false);
  Tensor forward(const TensorList& xs, const Tensor& labels);

 private:
  std::shared_ptr<ModuleList<CondRCUBlock>> adapt_convs_;
  std::shared_ptr<CondRCUBlock> output_convs_;
  std::shared_ptr<CondMSFBlock> msf_;  // null with a single input (NCSN's start block)
  std::shared_ptr<CondCRPBlock> crp_;
};

class RefineNet : public ScoreModel {
 public:
  struct Options {
    int64_t channels = 1;
    int64_t ngf = 16;  // at least 2: CIN++ takes an unbiased variance over channels
    int64_t num_classes = 10;
    std::vector<double> sigmas;  // sigma of each label (num_classes of them); empty: forward_labels only
  };
  RefineNet(Generator& gen, Options options);

  // x [N, channels, H, W] (H, W even; 28 x 28 for MNIST) in [0, 1], labels int64 [N] in [0, num_classes)
  // -> the score [N, channels, H, W]. Throws std::invalid_argument naming the shapes otherwise.
  Tensor forward_labels(const Tensor& x, const Tensor& labels);
  // sigma [N] (or one value for every row): each mapped to its level by labels_for, then forward_labels.
  Tensor forward(const Tensor& x, const Tensor& sigma) override;
  // The index of the nearest level (in log sigma) for each of the n rows; throws when a sigma is more
  // than 1e-3 (relative) from every level, naming it and the schedule.
  Tensor labels_for(const Tensor& sigma, int64_t n) const;
  const Options& options() const { return options_; }

 private:
  void check_input(const Tensor& x, const Tensor& labels) const;

  Options options_;
  std::shared_ptr<Conv2d> begin_conv_, end_conv_;
  std::shared_ptr<ConditionalInstanceNorm2dPlus> normalizer_;
  std::shared_ptr<ModuleList<ConditionalResidualBlock>> res1_, res2_, res3_, res4_;
  std::shared_ptr<CondRefineBlock> refine1_, refine2_, refine3_, refine4_;
};

}  // namespace scorch::nn
