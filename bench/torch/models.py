#!/usr/bin/python3
"""The two MNIST score models of shared/spec/reference-models.md in PyTorch, the twins of scorch's.

UNetSmall()                     `unet-small`: forward(x [N, 1, 28, 28], sigma [N]) -> score [N, 1, 28, 28],
                                net(x, sigma) / sigma. 1,466,049 parameters.
CondRefineNetDilated(ngf, n_classes=10, channels=1)
                                `refinenet`: NCSN's noise-conditional RefineNet for 28x28 inputs,
                                forward(x [N, 1, 28, 28] in [0, 1], y [N] int64 = noise level index 0..9)
                                -> score [N, 1, 28, 28]. As in NCSN the output is the score itself (the
                                net is not divided by sigma; it learns the 1/sigma scale from y), and the
                                input is first rescaled, x = 2x - 1 (NCSN's logit_transform is off for MNIST).
                                Parameters: 518,817 for ngf = 16; 7,638,657 for ngf = 64.

The state_dict names are the interface: scorch's twins use the same ones, and CondRefineNetDilated's are
NCSN's, so NCSN checkpoints load (strict). Its structure, written out for a port, is in
refinenet_structure.md next to this file (regenerate the key list with `models.py --keys refinenet`).

CondRefineNetDilated is an independent port of ermongroup/ncsn, models/cond_refinenet_dilated.py at
commit 7f27f4a16471d20a0af3be8b8b4c2ec57c8a0bc1 (2021-06-12; the file is unchanged since the first commit,
80899cd of 2019-07-16), with the MNIST config configs/anneal.yml (ngf 64, 10 classes, logit_transform
false). Reference: Song & Ermon, "Generative Modeling by Estimating Gradients of the Data Distribution",
NeurIPS 2019. Two deliberate differences, neither changing the result in float32: the MSF block's
accumulator takes its inputs' dtype (NCSN's is always float32), and NCSN's in-place `x += residual` is an
out-of-place add. Checked against NCSN's file (not part of this repository): identical state_dict keys,
shapes and order for ngf 16 and 64, bitwise-equal output and gradients for equal weights, and the same
initial weights for the same torch.manual_seed.

  models.py --self-test            builds both models, checks parameter counts and output shapes
  models.py --keys refinenet --ngf 16   prints every state_dict key with its shape (Markdown table)
"""
import argparse
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

UNET_SMALL_PARAMETERS = 1_466_049
REFINENET_PARAMETERS = {16: 518_817, 64: 7_638_657}


# ---------------------------------------------------------------------------------------------------------
# unet-small
# ---------------------------------------------------------------------------------------------------------

def noise_features(sigma):
    """[N] -> [N, 64]: t = 250 ln(sigma), w_k = 1000^(-k/32), features [sin(t w_k) (32), cos(t w_k) (32)]."""
    k = torch.arange(32, dtype=sigma.dtype, device=sigma.device)
    w = torch.pow(torch.tensor(1000.0, dtype=sigma.dtype, device=sigma.device), -k / 32)
    angle = (250.0 * torch.log(sigma))[:, None] * w[None, :]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


class ResBlock(nn.Module):
    """h = conv1(silu(norm1(x))) + emb(silu(e))[:, :, None, None]; h = conv2(silu(norm2(h))); h + skip(x)."""

    def __init__(self, cin, cout, emb_dim=128):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class UNetSmall(nn.Module):
    """`unet-small`: channels 32 / 64 / 128 at 28x28 / 14x14 / 7x7, GroupNorm(8), SiLU, skips s0, s1, s2."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(64, 128), nn.SiLU(), nn.Linear(128, 128))
        self.conv_in = nn.Conv2d(1, 32, 3, padding=1)
        self.down0 = ResBlock(32, 32)
        self.downsample0 = nn.Conv2d(32, 32, 3, stride=2, padding=1)
        self.down1 = ResBlock(32, 64)
        self.downsample1 = nn.Conv2d(64, 64, 3, stride=2, padding=1)
        self.down2 = ResBlock(64, 128)
        self.mid = ResBlock(128, 128)
        self.up2 = ResBlock(256, 128)
        self.upconv2 = nn.Conv2d(128, 64, 3, padding=1)
        self.up1 = ResBlock(128, 64)
        self.upconv1 = nn.Conv2d(64, 32, 3, padding=1)
        self.up0 = ResBlock(64, 32)
        self.norm_out = nn.GroupNorm(8, 32)
        self.conv_out = nn.Conv2d(32, 1, 3, padding=1)

    def forward(self, x, sigma):  # x [N, 1, 28, 28], sigma [N]
        emb = self.embed(noise_features(sigma))
        h = self.conv_in(x)
        s0 = self.down0(h, emb)                                    # 32 x 28 x 28
        s1 = self.down1(self.downsample0(s0), emb)                 # 64 x 14 x 14
        s2 = self.down2(self.downsample1(s1), emb)                 # 128 x 7 x 7
        h = self.mid(s2, emb)
        h = self.up2(torch.cat([h, s2], dim=1), emb)               # 256 -> 128 x 7 x 7
        h = self.upconv2(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.up1(torch.cat([h, s1], dim=1), emb)               # 128 -> 64 x 14 x 14
        h = self.upconv1(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.up0(torch.cat([h, s0], dim=1), emb)               # 64 -> 32 x 28 x 28
        out = self.conv_out(F.silu(self.norm_out(h)))
        return out / sigma[:, None, None, None]


# ---------------------------------------------------------------------------------------------------------
# refinenet (NCSN's CondRefineNetDilated)
# ---------------------------------------------------------------------------------------------------------

def conv3x3(cin, cout, bias, dilation=1):
    """3x3, stride 1, 'same' padding (= dilation)."""
    return nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=bias)


class ConditionalInstanceNorm2dPlus(nn.Module):
    """Conditional instance norm++ (NCSN, eq. in appendix A). x [N, C, H, W], y [N] -> [N, C, H, W]:
        mu = mean_hw(x) [N, C];  m, v = mean_c(mu), var_c(mu) (unbiased, / (C - 1))
        h = instance_norm(x) (biased variance over H x W, eps 1e-5) + alpha[y] * (mu - m) / sqrt(v + 1e-5)
        out = gamma[y] * h + beta[y],   with [gamma | alpha | beta] = embed.weight[y] ([N, 3C] in that order)
    embed.weight [n_classes, 3C] starts at N(1, 0.02) for gamma and alpha, 0 for beta."""

    def __init__(self, num_features, num_classes):
        super().__init__()
        self.num_features = num_features
        self.instance_norm = nn.InstanceNorm2d(num_features, affine=False, track_running_stats=False)
        self.embed = nn.Embedding(num_classes, 3 * num_features)
        with torch.no_grad():
            self.embed.weight[:, :2 * num_features].normal_(1.0, 0.02)
            self.embed.weight[:, 2 * num_features:].zero_()

    def forward(self, x, y):
        mu = x.mean(dim=(2, 3))
        mu = (mu - mu.mean(dim=-1, keepdim=True)) / torch.sqrt(mu.var(dim=-1, keepdim=True) + 1e-5)
        gamma, alpha, beta = (t[:, :, None, None] for t in self.embed(y).chunk(3, dim=-1))
        h = self.instance_norm(x) + mu[:, :, None, None] * alpha
        return gamma * h + beta


class ConvMeanPool(nn.Module):
    """conv (k x k, padding k // 2, bias) then 2x2 mean pooling: the four phases summed in the order
    (even row, even col), (odd, even), (even, odd), (odd, odd), then / 4."""

    def __init__(self, input_dim, output_dim, kernel_size=3):
        super().__init__()
        self.conv = nn.Conv2d(input_dim, output_dim, kernel_size, padding=kernel_size // 2, bias=True)

    def forward(self, x):
        h = self.conv(x)
        return (h[:, :, ::2, ::2] + h[:, :, 1::2, ::2] + h[:, :, ::2, 1::2] + h[:, :, 1::2, 1::2]) / 4.0


class ConditionalResidualBlock(nn.Module):
    """out = conv2(act(normalize2(conv1(act(normalize1(x))), y))) + shortcut(x).

    resample=None: conv1 cin->cout, conv2 cout->cout (3x3, bias, dilated if dilation); shortcut is the
        identity when cin == cout, else a conv of the same kind as conv1 (1x1 if not dilated).
    resample='down', no dilation: conv1 cin->cin 3x3; conv2 = ConvMeanPool(cin, cout, 3);
        shortcut = ConvMeanPool(cin, cout, 1). Halves H and W.
    resample='down', dilation d: conv1 cin->cin, conv2 cin->cout, shortcut cin->cout, all 3x3 dilated d
        with bias. NOTE: despite its name this does not downsample (stride 1, padding d)."""

    def __init__(self, input_dim, output_dim, num_classes, resample=None, act=None, dilation=None):
        super().__init__()
        self.non_linearity = act if act is not None else nn.ELU()
        self.input_dim, self.output_dim, self.resample = input_dim, output_dim, resample
        d = dilation or 1
        if resample == "down":
            self.conv1 = conv3x3(input_dim, input_dim, bias=True, dilation=d)
            self.normalize2 = ConditionalInstanceNorm2dPlus(input_dim, num_classes)
            if dilation is None:
                self.conv2 = ConvMeanPool(input_dim, output_dim, 3)
                self.shortcut = ConvMeanPool(input_dim, output_dim, 1)
            else:
                self.conv2 = conv3x3(input_dim, output_dim, bias=True, dilation=d)
                self.shortcut = conv3x3(input_dim, output_dim, bias=True, dilation=d)
        elif resample is None:
            self.conv1 = conv3x3(input_dim, output_dim, bias=True, dilation=d)
            self.normalize2 = ConditionalInstanceNorm2dPlus(output_dim, num_classes)
            self.conv2 = conv3x3(output_dim, output_dim, bias=True, dilation=d)
            if input_dim != output_dim:
                self.shortcut = (conv3x3(input_dim, output_dim, bias=True, dilation=d) if dilation
                                 else nn.Conv2d(input_dim, output_dim, 1))
        else:
            raise ValueError(f"ConditionalResidualBlock: resample must be None or 'down', got {resample!r}")
        self.normalize1 = ConditionalInstanceNorm2dPlus(input_dim, num_classes)  # registered last, as NCSN

    def forward(self, x, y):
        h = self.conv1(self.non_linearity(self.normalize1(x, y)))
        h = self.conv2(self.non_linearity(self.normalize2(h, y)))
        shortcut = self.shortcut(x) if hasattr(self, "shortcut") else x
        return shortcut + h


class CondRCUBlock(nn.Module):
    """Residual conv units: n_blocks times { r = x; n_stages times { x = conv(act(norm(x, y))) }; x = x + r }.
    Modules '{i}_{j}_norm' and '{i}_{j}_conv' (3x3, no bias), i = 1..n_blocks, j = 1..n_stages."""

    def __init__(self, features, n_blocks, n_stages, num_classes, act):
        super().__init__()
        self.n_blocks, self.n_stages, self.act = n_blocks, n_stages, act
        for i in range(1, n_blocks + 1):
            for j in range(1, n_stages + 1):
                setattr(self, f"{i}_{j}_norm", ConditionalInstanceNorm2dPlus(features, num_classes))
                setattr(self, f"{i}_{j}_conv", conv3x3(features, features, bias=False))

    def forward(self, x, y):
        for i in range(1, self.n_blocks + 1):
            residual = x
            for j in range(1, self.n_stages + 1):
                x = getattr(self, f"{i}_{j}_norm")(x, y)
                x = getattr(self, f"{i}_{j}_conv")(self.act(x))
            x = x + residual
        return x


class CondMSFBlock(nn.Module):
    """Multi-resolution fusion: sum over inputs i of resize(convs[i](norms[i](x_i, y))) to `shape`,
    convs[i] 3x3 with bias in_planes[i] -> features, resize = bilinear with align_corners=True."""

    def __init__(self, in_planes, features, num_classes):
        super().__init__()
        self.features = features
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for c in in_planes:  # interleaved, so a seed draws the same initial weights as NCSN
            self.convs.append(conv3x3(c, features, bias=True))
            self.norms.append(ConditionalInstanceNorm2dPlus(c, num_classes))

    def forward(self, xs, y, shape):
        total = torch.zeros(xs[0].shape[0], self.features, *shape, dtype=xs[0].dtype, device=xs[0].device)
        for x, norm, conv in zip(xs, self.norms, self.convs):
            h = F.interpolate(conv(norm(x, y)), size=tuple(shape), mode="bilinear", align_corners=True)
            total = total + h
        return total


class CondCRPBlock(nn.Module):
    """Chained residual pooling: x = act(x); p = x; n_stages times { p = conv(avgpool(norm(p, y))); x = x + p }.
    avgpool is 5x5, stride 1, padding 2, zero padding counted (always / 25); convs 3x3 without bias."""

    def __init__(self, features, n_stages, num_classes, act):
        super().__init__()
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(n_stages):
            self.norms.append(ConditionalInstanceNorm2dPlus(features, num_classes))
            self.convs.append(conv3x3(features, features, bias=False))
        self.n_stages = n_stages
        self.maxpool = nn.AvgPool2d(kernel_size=5, stride=1, padding=2)  # NOTE: NCSN's name; it averages
        self.act = act

    def forward(self, x, y):
        x = self.act(x)
        path = x
        for norm, conv in zip(self.norms, self.convs):
            path = conv(self.maxpool(norm(path, y)))
            x = path + x
        return x


class CondRefineBlock(nn.Module):
    """adapt each input (CondRCUBlock, 2 blocks x 2 stages, at its own width), fuse them (CondMSFBlock) when
    there are several, then CondCRPBlock (2 stages), then output_convs (CondRCUBlock, 3 blocks if `end`
    else 1, 2 stages each)."""

    def __init__(self, in_planes, features, num_classes, act, start=False, end=False):
        super().__init__()
        self.n_blocks = len(in_planes)
        self.adapt_convs = nn.ModuleList([CondRCUBlock(c, 2, 2, num_classes, act) for c in in_planes])
        self.output_convs = CondRCUBlock(features, 3 if end else 1, 2, num_classes, act)
        if not start:
            self.msf = CondMSFBlock(in_planes, features, num_classes)
        self.crp = CondCRPBlock(features, 2, num_classes, act)

    def forward(self, xs, y, output_shape):
        hs = [adapt(x, y) for adapt, x in zip(self.adapt_convs, xs)]
        h = self.msf(hs, y, output_shape) if self.n_blocks > 1 else hs[0]
        return self.output_convs(self.crp(h, y), y)


class CondRefineNetDilated(nn.Module):
    """NCSN's score network for 28x28 (see the module docstring). Feature maps, for ngf = F:
    res1 F x 28 x 28, res2 2F x 14 x 14, res3 2F x 14 x 14 (dilation 2), res4 2F x 14 x 14 (dilation 4);
    refine1..4 back up to F x 28 x 28; then normalizer, ELU, end_conv."""

    def __init__(self, ngf, n_classes=10, channels=1):
        super().__init__()
        self.ngf, self.num_classes = ngf, n_classes
        self.act = act = nn.ELU()
        self.begin_conv = nn.Conv2d(channels, ngf, 3, padding=1)
        self.normalizer = ConditionalInstanceNorm2dPlus(ngf, n_classes)
        self.end_conv = nn.Conv2d(ngf, channels, 3, padding=1)

        def block(cin, cout, resample=None, dilation=None):
            return ConditionalResidualBlock(cin, cout, n_classes, resample, act, dilation)

        self.res1 = nn.ModuleList([block(ngf, ngf), block(ngf, ngf)])
        self.res2 = nn.ModuleList([block(ngf, 2 * ngf, "down"), block(2 * ngf, 2 * ngf)])
        self.res3 = nn.ModuleList([block(2 * ngf, 2 * ngf, "down", 2), block(2 * ngf, 2 * ngf, None, 2)])
        # NCSN passes adjust_padding=True here for 28x28; it only matters without dilation, so it is moot.
        self.res4 = nn.ModuleList([block(2 * ngf, 2 * ngf, "down", 4), block(2 * ngf, 2 * ngf, None, 4)])
        self.refine1 = CondRefineBlock([2 * ngf], 2 * ngf, n_classes, act, start=True)
        self.refine2 = CondRefineBlock([2 * ngf, 2 * ngf], 2 * ngf, n_classes, act)
        self.refine3 = CondRefineBlock([2 * ngf, 2 * ngf], ngf, n_classes, act)
        self.refine4 = CondRefineBlock([ngf, ngf], ngf, n_classes, act, end=True)

    @staticmethod
    def _chain(blocks, x, y):
        for b in blocks:
            x = b(x, y)
        return x

    def forward(self, x, y):  # x [N, C, 28, 28] in [0, 1], y [N] int64 noise level index
        h = self.begin_conv(2 * x - 1.0)
        layer1 = self._chain(self.res1, h, y)
        layer2 = self._chain(self.res2, layer1, y)
        layer3 = self._chain(self.res3, layer2, y)
        layer4 = self._chain(self.res4, layer3, y)
        ref1 = self.refine1([layer4], y, layer4.shape[2:])
        ref2 = self.refine2([layer3, ref1], y, layer3.shape[2:])
        ref3 = self.refine3([layer2, ref2], y, layer2.shape[2:])
        h = self.refine4([layer1, ref3], y, layer1.shape[2:])
        return self.end_conv(self.act(self.normalizer(h, y)))


# ---------------------------------------------------------------------------------------------------------

def make_model(name, ngf=16):
    """'unet-small' or 'refinenet' (ngf as given)."""
    if name == "unet-small":
        return UNetSmall()
    if name == "refinenet":
        return CondRefineNetDilated(ngf)
    raise ValueError(f"make_model: unknown model {name!r} (expected 'unet-small' or 'refinenet')")


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def conditioning(name, batch, levels=10, generator=None):
    """A valid second forward argument for `batch` samples: sigma [N] (unet-small) or labels [N] (refinenet)."""
    if name == "unet-small":
        return torch.exp(torch.empty(batch).uniform_(math.log(0.01), 0.0, generator=generator))
    return torch.randint(0, levels, (batch,), generator=generator)


def self_test():
    torch.manual_seed(0)
    for name, ngf, expected in [("unet-small", None, UNET_SMALL_PARAMETERS),
                                ("refinenet", 16, REFINENET_PARAMETERS[16]),
                                ("refinenet", 64, REFINENET_PARAMETERS[64])]:
        model = make_model(name, ngf)
        n = count_parameters(model)
        assert n == expected, f"{name} ngf={ngf}: {n:,} parameters, expected {expected:,}"
        assert not list(model.buffers()), f"{name}: unexpected buffers"
        x = torch.rand(2, 1, 28, 28)
        out = model(x, conditioning(name, 2))
        assert out.shape == x.shape and torch.isfinite(out).all(), f"{name}: output {tuple(out.shape)}"
        print(f"{name}{'' if ngf is None else f' ngf={ngf}'}: {n:,} parameters, output {list(out.shape)}: ok")


def print_keys(name, ngf):
    model = make_model(name, ngf)
    print("| key | shape |\n|---|---|")
    for key, t in model.state_dict().items():
        print(f"| `{key}` | {list(t.shape)} |")
    print(f"\n{len(model.state_dict())} tensors, {count_parameters(model):,} parameters.")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--self-test", action="store_true", help="check parameter counts and shapes")
    parser.add_argument("--keys", choices=["unet-small", "refinenet"], help="print the state_dict keys and shapes")
    parser.add_argument("--ngf", type=int, default=16, help="refinenet width (default 16)")
    args = parser.parse_args()
    if args.keys:
        print_keys(args.keys, args.ngf)
    if args.self_test or not args.keys:
        self_test()


if __name__ == "__main__":
    main()
