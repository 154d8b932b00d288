// refinenet.cpp: NCSN's CondRefineNetDilated and its blocks (architecture in refinenet.h; every module
// written out in bench/torch/refinenet_structure.md).
#include "nn/refinenet.h"

#include <cmath>

#include "autograd/ops.h"
#include "autograd/ops/pool.h"
#include "autograd/ops/upsample.h"

namespace scorch::nn {
namespace {

std::shared_ptr<ConditionalInstanceNorm2dPlus> cin(int64_t channels, int64_t num_classes, Generator& gen) {
  return std::make_shared<ConditionalInstanceNorm2dPlus>(channels, num_classes, gen);
}

// 3x3, stride 1, padding = dilation (H x W kept), as NCSN's conv3x3 and its dilated convs.
std::shared_ptr<Conv2d> conv3x3(int64_t in, int64_t out, Generator& gen, bool bias, int64_t dilation = 1) {
  return std::make_shared<Conv2d>(in, out, 3, gen, Conv2dOptions{.padding = dilation, .dilation = dilation}, bias);
}

}  // namespace

ConvMeanPool::ConvMeanPool(int64_t in_channels, int64_t out_channels, int64_t kernel, Generator& gen) {
  conv = register_module(
      "conv", std::make_shared<Conv2d>(in_channels, out_channels, kernel, gen, Conv2dOptions{.padding = kernel / 2}));
}

Tensor ConvMeanPool::forward(const Tensor& x) {
  const Tensor h = conv->forward(x);
  const int64_t H = h.shape()[2], W = h.shape()[3];
  auto phase = [&](int64_t row, int64_t col) { return slice(slice(h, 2, row, H, 2), 3, col, W, 2); };
  return (((phase(0, 0) + phase(1, 0)) + phase(0, 1)) + phase(1, 1)) / 4.0;
}

ConditionalResidualBlock::ConditionalResidualBlock(int64_t in, int64_t out, int64_t num_classes, Generator& gen,
                                                   bool down, std::optional<int64_t> dilation) {
  const int64_t d = dilation.value_or(1);
  if (down) {
    conv1_ = register_module("conv1", conv3x3(in, in, gen, true, d));
    normalize2_ = register_module("normalize2", cin(in, num_classes, gen));
    if (dilation) {
      conv2_ = register_module("conv2", conv3x3(in, out, gen, true, d));
      shortcut_ = register_module("shortcut", conv3x3(in, out, gen, true, d));
    } else {
      conv2_ = register_module("conv2", std::make_shared<ConvMeanPool>(in, out, 3, gen));
      shortcut_ = register_module("shortcut", std::make_shared<ConvMeanPool>(in, out, 1, gen));
    }
  } else {
    conv1_ = register_module("conv1", conv3x3(in, out, gen, true, d));
    normalize2_ = register_module("normalize2", cin(out, num_classes, gen));
    conv2_ = register_module("conv2", conv3x3(out, out, gen, true, d));
    if (in != out)  // never in NCSN's 28x28 net; kept so the block is NCSN's whole block
      shortcut_ = register_module(
          "shortcut", dilation ? conv3x3(in, out, gen, true, d) : std::make_shared<Conv2d>(in, out, 1, gen));
  }
  normalize1_ = register_module("normalize1", cin(in, num_classes, gen));  // registered last, as NCSN
}

Tensor ConditionalResidualBlock::forward(const Tensor& x, const Tensor& labels) {
  Tensor h = conv1_->forward(elu(normalize1_->forward(x, labels)));
  h = conv2_->forward(elu(normalize2_->forward(h, labels)));
  return (shortcut_ ? shortcut_->forward(x) : x) + h;
}

CondRCUBlock::CondRCUBlock(int64_t channels, int64_t n_blocks, int64_t num_classes, Generator& gen) {
  for (int64_t i = 1; i <= n_blocks; ++i)
    for (int64_t j = 1; j <= 2; ++j) {
      const std::string stem = std::to_string(i) + "_" + std::to_string(j);
      norms_.push_back(register_module(stem + "_norm", cin(channels, num_classes, gen)));
      convs_.push_back(register_module(stem + "_conv", conv3x3(channels, channels, gen, /*bias=*/false)));
    }
}

Tensor CondRCUBlock::forward(const Tensor& x, const Tensor& labels) {
  Tensor h = x;
  for (size_t k = 0; k < convs_.size(); k += 2) {
    const Tensor residual = h;
    for (size_t s = k; s < k + 2; ++s) h = convs_[s]->forward(elu(norms_[s]->forward(h, labels)));
    h = h + residual;
  }
  return h;
}

CondMSFBlock::CondMSFBlock(const std::vector<int64_t>& in_planes, int64_t channels, int64_t num_classes,
                           Generator& gen) {
  convs_ = register_module("convs", std::make_shared<ModuleList<Conv2d>>());
  norms_ = register_module("norms", std::make_shared<ModuleList<ConditionalInstanceNorm2dPlus>>());
  for (int64_t c : in_planes) {  // interleaved, as NCSN builds them
    convs_->push_back(conv3x3(c, channels, gen, /*bias=*/true));
    norms_->push_back(cin(c, num_classes, gen));
  }
}

Tensor CondMSFBlock::forward(const TensorList& xs, const Tensor& labels, int64_t out_h, int64_t out_w) {
  Tensor total;
  for (size_t i = 0; i < xs.size(); ++i) {
    Tensor h = (*convs_)[i].forward((*norms_)[i].forward(xs[i], labels));
    // NCSN resizes every input; at the same size, bilinear with align_corners is exactly the identity.
    if (h.shape()[2] != out_h || h.shape()[3] != out_w)
      h = interpolate_bilinear(h, out_h, out_w, /*align_corners=*/true);
    total = total.defined() ? total + h : h;  // NCSN adds to zeros: 0 + h is h
  }
  return total;
}

CondCRPBlock::CondCRPBlock(int64_t channels, int64_t num_classes, Generator& gen) {
  convs_ = register_module("convs", std::make_shared<ModuleList<Conv2d>>());
  norms_ = register_module("norms", std::make_shared<ModuleList<ConditionalInstanceNorm2dPlus>>());
  for (int stage = 0; stage < 2; ++stage) {
    norms_->push_back(cin(channels, num_classes, gen));
    convs_->push_back(conv3x3(channels, channels, gen, /*bias=*/false));
  }
}

Tensor CondCRPBlock::forward(const Tensor& x, const Tensor& labels) {
  Tensor out = elu(x), path = out;
  for (size_t i = 0; i < convs_->size(); ++i) {
    // NOTE: NCSN names this pool `maxpool`; it is a 5x5 average (zero padding counted, always / 25).
    path = (*convs_)[i].forward(avg_pool2d((*norms_)[i].forward(path, labels), 5, 1, 2));
    out = path + out;
  }
  return out;
}

CondRefineBlock::CondRefineBlock(const std::vector<int64_t>& in_planes, int64_t channels, int64_t num_classes,
                                 Generator& gen, bool end) {
  adapt_convs_ = register_module("adapt_convs", std::make_shared<ModuleList<CondRCUBlock>>());
  for (int64_t c : in_planes) adapt_convs_->push_back(std::make_shared<CondRCUBlock>(c, 2, num_classes, gen));
  output_convs_ =
      register_module("output_convs", std::make_shared<CondRCUBlock>(channels, end ? 3 : 1, num_classes, gen));
  if (in_planes.size() > 1)
    msf_ = register_module("msf", std::make_shared<CondMSFBlock>(in_planes, channels, num_classes, gen));
  crp_ = register_module("crp", std::make_shared<CondCRPBlock>(channels, num_classes, gen));
}

Tensor CondRefineBlock::forward(const TensorList& xs, const Tensor& labels) {
  TensorList hs;
  for (size_t i = 0; i < xs.size(); ++i) hs.push_back((*adapt_convs_)[i].forward(xs[i], labels));
  const Tensor h = msf_ ? msf_->forward(hs, labels, xs[0].shape()[2], xs[0].shape()[3]) : hs[0];
  return output_convs_->forward(crp_->forward(h, labels), labels);
}

// ---------------------------------------------------------------------------------------------------------
// RefineNet
// ---------------------------------------------------------------------------------------------------------

namespace {

void check_options(const RefineNet::Options& o) {
  if (o.channels < 1 || o.ngf < 2 || o.num_classes < 1)
    throw std::invalid_argument(
        "refinenet: need channels >= 1, ngf >= 2 (CIN++ takes an unbiased variance over "
        "channels) and num_classes >= 1, got " +
        std::to_string(o.channels) + ", " + std::to_string(o.ngf) + ", " + std::to_string(o.num_classes));
  if (!o.sigmas.empty() && static_cast<int64_t>(o.sigmas.size()) != o.num_classes)
    throw std::invalid_argument("refinenet: " + std::to_string(o.sigmas.size()) + " sigmas for " +
                                std::to_string(o.num_classes) + " classes (one sigma per noise level index)");
  for (double s : o.sigmas)
    if (!(s > 0) || !std::isfinite(s))
      throw std::invalid_argument("refinenet: sigmas must be finite and > 0, got " + format_number(s));
}

std::shared_ptr<ModuleList<ConditionalResidualBlock>> residual_pair(std::shared_ptr<ConditionalResidualBlock> first,
                                                                    std::shared_ptr<ConditionalResidualBlock> second) {
  auto list = std::make_shared<ModuleList<ConditionalResidualBlock>>();
  list->push_back(std::move(first));
  list->push_back(std::move(second));
  return list;
}

std::string described(const Tensor& t) { return t.defined() ? describe(t) : "undefined"; }

std::string schedule_string(const std::vector<double>& sigmas) {
  std::string s;
  for (double v : sigmas) s += (s.empty() ? "" : ", ") + format_number(v);
  return "[" + s + "]";
}

}  // namespace

RefineNet::RefineNet(Generator& gen, Options options) : options_(std::move(options)) {
  check_options(options_);
  const int64_t F = options_.ngf, L = options_.num_classes;
  auto block = [&](int64_t in, int64_t out, bool down = false, std::optional<int64_t> dilation = std::nullopt) {
    return std::make_shared<ConditionalResidualBlock>(in, out, L, gen, down, dilation);
  };
  // The order of NCSN's __init__, which is the state_dict order.
  begin_conv_ = register_module("begin_conv", conv3x3(options_.channels, F, gen, /*bias=*/true));
  normalizer_ = register_module("normalizer", cin(F, L, gen));
  end_conv_ = register_module("end_conv", conv3x3(F, options_.channels, gen, /*bias=*/true));
  res1_ = register_module("res1", residual_pair(block(F, F), block(F, F)));
  res2_ = register_module("res2", residual_pair(block(F, 2 * F, true), block(2 * F, 2 * F)));
  res3_ = register_module("res3", residual_pair(block(2 * F, 2 * F, true, 2), block(2 * F, 2 * F, false, 2)));
  res4_ = register_module("res4", residual_pair(block(2 * F, 2 * F, true, 4), block(2 * F, 2 * F, false, 4)));
  auto refine = [&](std::vector<int64_t> in_planes, int64_t out, bool end = false) {
    return std::make_shared<CondRefineBlock>(in_planes, out, L, gen, end);
  };
  refine1_ = register_module("refine1", refine({2 * F}, 2 * F));
  refine2_ = register_module("refine2", refine({2 * F, 2 * F}, 2 * F));
  refine3_ = register_module("refine3", refine({2 * F, 2 * F}, F));
  refine4_ = register_module("refine4", refine({F, F}, F, /*end=*/true));
}

void RefineNet::check_input(const Tensor& x, const Tensor& labels) const {
  const std::string expected = "[N, " + std::to_string(options_.channels) +
                               ", H, W] with H and W even and >= 2 (28 x 28 for MNIST; res2 halves H and W once)";
  if (!x.defined()) throw std::invalid_argument("refinenet: x is undefined; expected " + expected);
  if (x.dim() != 4 || x.shape()[1] != options_.channels || x.shape()[2] < 2 || x.shape()[3] < 2 ||
      x.shape()[2] % 2 != 0 || x.shape()[3] % 2 != 0)
    throw std::invalid_argument("refinenet: x " + describe(x) + " must be " + expected);
  if (!labels.defined() || labels.dtype() != kInt64 || labels.shape() != Shape{x.shape()[0]})
    throw std::invalid_argument("refinenet: labels " + described(labels) + " must be int64 [" +
                                std::to_string(x.shape()[0]) + "] (one noise level index per sample of x " +
                                to_string(x.shape()) + ")");
  const std::vector<double> values = labels.values();
  for (size_t i = 0; i < values.size(); ++i)
    if (!(values[i] >= 0 && values[i] < static_cast<double>(options_.num_classes)))
      throw std::invalid_argument("refinenet: label " + format_number(values[i]) + " at index " + std::to_string(i) +
                                  " is out of range [0, " + std::to_string(options_.num_classes) + ")");
}

Tensor RefineNet::forward_labels(const Tensor& x, const Tensor& labels) {
  check_input(x, labels);
  auto chain = [&](ModuleList<ConditionalResidualBlock>& blocks, Tensor h) {
    for (size_t i = 0; i < blocks.size(); ++i) h = blocks[i].forward(h, labels);
    return h;
  };
  const Tensor h = begin_conv_->forward(x * 2.0 - 1.0);  // NCSN's rescale of [0, 1] images to [-1, 1]
  const Tensor layer1 = chain(*res1_, h);                // F  x H x W
  const Tensor layer2 = chain(*res2_, layer1);           // 2F x H/2 x W/2
  const Tensor layer3 = chain(*res3_, layer2);           // 2F x H/2 x W/2 (dilation 2)
  const Tensor layer4 = chain(*res4_, layer3);           // 2F x H/2 x W/2 (dilation 4)
  const Tensor ref1 = refine1_->forward({layer4}, labels);
  const Tensor ref2 = refine2_->forward({layer3, ref1}, labels);
  const Tensor ref3 = refine3_->forward({layer2, ref2}, labels);  // F x H/2 x W/2
  const Tensor out = refine4_->forward({layer1, ref3}, labels);   // F x H x W (ref3 resized up)
  return end_conv_->forward(elu(normalizer_->forward(out, labels)));
}

Tensor RefineNet::labels_for(const Tensor& sigma, int64_t n) const {
  const auto& levels = options_.sigmas;
  if (levels.empty())
    throw std::invalid_argument(
        "refinenet: no sigma schedule (Options::sigmas is empty); call forward_labels with "
        "noise level indices instead");
  if (!sigma.defined() || (sigma.numel() != 1 && (sigma.dim() != 1 || sigma.shape()[0] != n)))
    throw std::invalid_argument("refinenet: sigma " + described(sigma) + " must be [" + std::to_string(n) +
                                "] or a single value");
  const std::vector<double> values = sigma.values();
  std::vector<double> labels(n);
  for (int64_t row = 0; row < n; ++row) {
    const double s = values[values.size() == 1 ? 0 : row];
    size_t best = 0;
    for (size_t k = 1; k < levels.size(); ++k)
      if (std::abs(std::log(s / levels[k])) < std::abs(std::log(s / levels[best]))) best = k;
    if (!(std::abs(s / levels[best] - 1) <= 1e-3))
      throw std::invalid_argument("refinenet: sigma " + format_number(s) + " (row " + std::to_string(row) +
                                  ") is not within 1e-3 (relative) of a level of the schedule " +
                                  schedule_string(levels) + "; the network is conditioned on these levels only");
    labels[row] = static_cast<double>(best);
  }
  return from_vector(labels, {n}, {.dtype = kInt64});
}

Tensor RefineNet::forward(const Tensor& x, const Tensor& sigma) {
  if (!x.defined() || x.dim() == 0)
    throw std::invalid_argument("refinenet: x " + described(x) + " must be [N, " + std::to_string(options_.channels) +
                                ", H, W]");
  return forward_labels(x, labels_for(sigma, x.shape()[0]));
}

}  // namespace scorch::nn
