#!/usr/bin/env python3
"""B1 and B4 of shared/spec/reference-models.md in PyTorch eager, for bench/compare.

B1: one `mlp` training step: batch 512 GMM samples, annealed DSM (geometric sigmas 10 -> 0.01, L = 10,
    loss = mean 1/2 sigma^2 |s(x~, sigma) + z / sigma|^2), Adam(lr 1e-3).
B4: annealed Langevin on the GMM with the `mlp`: 10,000 particles, L = 10, T = 100, step_lr 5e-5,
    x0 ~ N(0, sigma_max^2 I), final denoising step. Weights are untrained: only the time matters.
Prints one JSON object: {"B1_ms": median, "B4_s": median, "threads": n, "device": ...}. --device cuda runs
both on the GPU (torch 2.x with CUDA), synchronizing before each time is read.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 2))

    def forward(self, x, sigma):  # x [N, 2], sigma [N]
        h = torch.cat([x, sigma.log()[:, None]], dim=1)
        return self.net(h) / sigma[:, None]


def sigmas(device, sigma_max=10.0, sigma_min=0.01, levels=10):
    return torch.tensor([sigma_max * (sigma_min / sigma_max) ** (i / (levels - 1)) for i in range(levels)], device=device)


def gmm_batch(n, device):
    heavy = torch.rand(n, device=device) < 0.8
    means = torch.where(heavy[:, None], torch.tensor([5.0, 5.0], device=device), torch.tensor([-5.0, -5.0], device=device))
    return means + torch.randn(n, 2, device=device)


def b1(model, opt, sig, batch=512):
    x = gmm_batch(batch, sig.device)
    s = sig[torch.randint(0, len(sig), (batch,), device=sig.device)]
    z = torch.randn_like(x)
    score = model(x + s[:, None] * z, s)
    loss = 0.5 * ((s[:, None] * score + z) ** 2).sum(dim=1).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


@torch.no_grad()
def b4(model, sig, n=10_000, steps=100, step_lr=5e-5):
    x = torch.randn(n, 2, device=sig.device) * sig[0]
    for s in sig.tolist():
        alpha = step_lr * (s / float(sig[-1])) ** 2
        sv = torch.full((n,), s, device=sig.device)
        for _ in range(steps):
            x = x + alpha * model(x, sv) + math.sqrt(2 * alpha) * torch.randn_like(x)
    sv = torch.full((n,), float(sig[-1]), device=sig.device)
    return x + sig[-1] ** 2 * model(x, sv)


def median_time(fn, repeats, warmup, device="cpu"):
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--b1-repeats", type=int, default=200)
    p.add_argument("--b4-repeats", type=int, default=3)
    p.add_argument("--skip-b4", action="store_true")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Mlp().to(a.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sig = sigmas(a.device)
    out = {"threads": torch.get_num_threads(), "torch": torch.__version__, "device": a.device}
    out["B1_ms"] = 1e3 * median_time(lambda: b1(model, opt, sig), a.b1_repeats, 20, a.device)
    if not a.skip_b4:
        out["B4_s"] = median_time(lambda: b4(model, sig), a.b4_repeats, 1, a.device)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
