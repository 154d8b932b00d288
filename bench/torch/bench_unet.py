#!/usr/bin/python3
"""B2 and B3 of shared/spec/reference-models.md in PyTorch eager, for bench/compare.

B2: one `unet-small` training step: batch 64 MNIST-shaped inputs x ~ U[0, 1] [64, 1, 28, 28], annealed DSM
    (geometric sigmas 1 -> 0.01, L = 10, one level per sample, uniform; x~ = x + sigma z;
    loss = mean over the batch of 1/2 sigma^2 |s(x~, sigma) + z / sigma|^2), zero_grad(set_to_none=True),
    backward, Adam(lr 2e-4) step. Drawing x, the levels and z is part of the step, as in bench_gmm.py.
B3: `unet-small` forward only under torch.no_grad(), batch 64 (one sampler step, fixed sigma = 0.1).

Timing: --warmup untimed calls, then calls timed one at a time until there are at least --reps of them
and at least --min-time seconds have passed; the median is reported.
Memory of B2: a child process (this script with a hidden flag) builds the model and optimizer, runs
--warmup + --rss-steps B2 steps and nothing else, and reports getrusage's ru_maxrss (peak resident set,
which includes the interpreter and libtorch: B2_rss_baseline_mib is that peak just before the model is
built) and the minor page faults per step over the last --rss-steps steps.

Prints one JSON object: {"B2_ms", "B3_ms", "threads", "B2_peak_rss_mib", "B2_rss_baseline_mib",
"B2_minor_faults_per_step", "forward_gflop_per_sample", "torch_version"}.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import UNetSmall  # noqa: E402

BATCH = 64


def sigmas(device="cpu", sigma_max=1.0, sigma_min=0.01, levels=10):
    return torch.tensor([sigma_max * (sigma_min / sigma_max) ** (i / (levels - 1)) for i in range(levels)], device=device)


def b2(model, opt, sig):
    x = torch.rand(BATCH, 1, 28, 28, device=sig.device)
    s = sig[torch.randint(0, len(sig), (BATCH,), device=sig.device)]
    z = torch.randn_like(x)
    score = model(x + s[:, None, None, None] * z, s)
    # 1/2 sigma^2 |score + z / sigma|^2 = 1/2 |sigma score + z|^2
    loss = 0.5 * ((s[:, None, None, None] * score + z) ** 2).sum(dim=(1, 2, 3)).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def b3(model, x, s):
    with torch.no_grad():
        return model(x, s)


def median_ms(fn, warmup, reps, min_time, device="cpu"):
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times, start = [], time.perf_counter()
    while len(times) < reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def forward_gflop_per_sample(model):
    """2 x the multiply-adds of the convolutions and linear layers in one batch-1 forward (norms, activations,
    bias adds and the upsampling are left out: they are a few percent)."""
    macs = 0

    def hook(module, inputs, output):
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            macs += output.numel() * module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        else:
            macs += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.rand(1, 1, 28, 28), torch.tensor([0.1]))
    for h in handles:
        h.remove()
    return 2 * macs / 1e9


def rss_child(args):
    """Runs in a fresh process: B2 steps only, then prints its memory figures as JSON."""
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    torch.manual_seed(0)
    model = UNetSmall()
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    sig = sigmas()
    for _ in range(args.warmup):
        b2(model, opt, sig)
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(args.rss_steps):
        b2(model, opt, sig)
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"B2_peak_rss_mib": after.ru_maxrss / 1024, "B2_rss_baseline_mib": baseline,
                      "B2_minor_faults_per_step": (after.ru_minflt - before.ru_minflt) / args.rss_steps}))


def measure_memory(args):
    cmd = [sys.executable, os.path.abspath(__file__), "--_rss-child", "--threads", str(args.threads),
           "--warmup", str(args.warmup), "--rss-steps", str(args.rss_steps)]
    child = subprocess.run(cmd, capture_output=True, text=True)
    if child.returncode != 0:
        print(f"bench_unet.py: the memory child failed:\n{child.stderr}", file=sys.stderr)
        return {}
    return json.loads(child.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    parser.add_argument("--reps", type=int, default=10, help="at least this many timed calls (default 10)")
    parser.add_argument("--min-time", type=float, default=2.0, help="and at least this many seconds (default 2)")
    parser.add_argument("--rss-steps", type=int, default=5, help="B2 steps over which faults are counted (5)")
    parser.add_argument("--skip-memory", action="store_true", help="no memory child")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cuda: B2 and B3 on the GPU (torch 2.x with CUDA); no memory child")
    parser.add_argument("--_rss-child", action="store_true", dest="rss_child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.rss_child:
        rss_child(args)
        return

    out = {"threads": torch.get_num_threads(), "torch_version": torch.__version__, "device": args.device}
    if not args.skip_memory and args.device == "cpu":
        out.update(measure_memory(args))
    torch.manual_seed(0)
    model = UNetSmall()
    out["forward_gflop_per_sample"] = forward_gflop_per_sample(model)
    model = model.to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    sig = sigmas(args.device)
    out["B2_ms"] = median_ms(lambda: b2(model, opt, sig), args.warmup, args.reps, args.min_time, args.device)
    x = torch.rand(BATCH, 1, 28, 28, device=args.device)
    s = torch.full((BATCH,), 0.1, device=args.device)
    out["B3_ms"] = median_ms(lambda: b3(model, x, s), args.warmup, args.reps, args.min_time, args.device)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
