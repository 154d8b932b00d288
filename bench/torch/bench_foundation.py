#!/usr/bin/python3
"""PyTorch eager on the foundation workloads of scorch's bench/ (same shapes, same byte and FLOP counts).

  add_16M          out = a + b, 16M float32                     GB/s, 12 bytes per element
  add_out_16M      the same into a preallocated out (torch.add(a, b, out=c))
  silu_16M         out = silu(x), 16M float32                   GB/s,  8 bytes per element
  add_broadcast    [4096, 4096] + [4096]                        GB/s,  8 bytes per element
  sum_16M          sum of 16M float32                           GB/s,  4 bytes per element
  matmul_512/1024  [n, n] @ [n, n] float32                      GFLOP/s, 2 n^3
  chain100_*       100 tiny ops on a [4] tensor (x * c + c, tanh, exp, repeated), as bench_autograd.cpp:
                   forward + backward, and forward only under no_grad          ns per op

Each workload: warm-up, then --reps timed runs of as many calls as fill --min-time seconds; the median
per-call time is reported. Prints a table; --json writes the figures for bench/compare.
"""
import argparse
import json
import platform
import statistics
import time

import torch

N = 1 << 24
CHAIN_OPS = 100


def time_per_call(fn, min_time, reps):
    """Median seconds per call of fn over reps runs of at least min_time seconds each."""
    fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_time / 2:  # warm-up, and a first estimate of the call time
        fn()
        calls += 1
    per_call = (time.perf_counter() - start) / max(calls, 1)
    calls = max(1, int(min_time / max(per_call, 1e-9)))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def chain(x, scale, shift):
    for _ in range(CHAIN_OPS // 4):
        x = torch.exp(torch.tanh(x * scale + shift))
    return x


def workloads():
    """(key, description, unit, fn, work per call in the unit's base: bytes, FLOP or ops)."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(N, generator=gen), torch.randn(N, generator=gen)
    m, v = torch.randn(4096, 4096, generator=gen), torch.randn(4096, generator=gen)
    c = torch.empty(N)
    out = [
        ("add_16M", "add 16M f32", "GB/s", lambda: a + b, 12 * N),
        ("add_out_16M", "add 16M f32, out=", "GB/s", lambda: torch.add(a, b, out=c), 12 * N),
        ("silu_16M", "silu 16M f32", "GB/s", lambda: torch.nn.functional.silu(a), 8 * N),
        ("add_broadcast", "add [4096,4096]+[4096]", "GB/s", lambda: m + v, 4 * (2 * 4096 * 4096 + 4096)),
        ("sum_16M", "sum 16M f32", "GB/s", lambda: a.sum(), 4 * N),
    ]
    for n in (512, 1024):
        x, y = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
        out.append((f"matmul_{n}", f"matmul {n}^3 f32", "GFLOP/s", lambda x=x, y=y: x @ y, 2 * n**3))

    x = torch.tensor([0.1, -0.2, 0.3, 0.4], requires_grad=True)
    scale, shift, grad_y = torch.full((4,), 0.5), torch.full((4,), 0.1), torch.ones(4)

    def forward_backward():
        x.grad = None
        chain(x, scale, shift).backward(grad_y)

    def forward_no_grad():
        with torch.no_grad():
            chain(x, scale, shift)

    out.append(("chain100_fwd_bwd", "autograd chain100 fwd+bwd", "ns/op", forward_backward, CHAIN_OPS))
    out.append(("chain100_no_grad", "chain100 forward no_grad", "ns/op", forward_no_grad, CHAIN_OPS))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per timed run (default 0.5)")
    parser.add_argument("--reps", type=int, default=5, help="timed runs per workload (default 5)")
    parser.add_argument("--filter", default="", help="only workloads whose key contains this")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    context = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    print(f"PyTorch {context['torch']}, {context['threads']} threads")
    print(f"{'workload':<28} {'value':>10}  unit     time/call")
    results = {}
    for key, label, unit, fn, work in workloads():
        if args.filter not in key:
            continue
        seconds = time_per_call(fn, args.min_time, args.reps)
        value = {"GB/s": work / seconds / 1e9, "GFLOP/s": work / seconds / 1e9, "ns/op": seconds * 1e9 / work}[unit]
        results[key] = {"label": label, "value": value, "unit": unit, "seconds_per_call": seconds}
        print(f"{label:<28} {value:>10.2f}  {unit:<8} {seconds * 1e6:10.1f} us")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"context": context, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
