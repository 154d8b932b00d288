#!/usr/bin/env python3
"""Prints, for every benchmark that reports FLOP/s and/or bytes/s, the share it reaches of the roof that
bounds it, and marks the worst shares. Standard library only; bench/roofline calls it.

  roofline.py [--markdown] [--worst N] [--fma-gflops X] [--stream-gbs Y] R-bench_peak.json R-bench_*.json

The model (a plain roofline, https://doi.org/10.1145/1498765.1498785), and its assumptions:
  * Two roofs, both measured on this machine by bench_peak (tensor/peak.h), on all of scorch's threads:
    the compute roof P = peak/fma's FLOP/s (independent FMA chains in registers), and the memory roof
    B = peak/stream_triad's bytes_per_second (STREAM triad over 3 x 64 MiB). --fma-gflops and
    --stream-gbs override them. One memory roof: the caches are ignored, so a benchmark whose data fits
    in cache can beat the memory roof (a share over 100%), and so can a read-mostly one (a sum), since
    the triad's mix of 2 reads to 1 write is slower than reads alone. The triad counts 12 bytes per
    element, without the write-allocate read of c, as the benchmarks count theirs.
  * FLOP and bytes are what each benchmark counts per call (see the comment at the top of its .cpp):
    bytes = compulsory traffic, every input read and every output written once; FLOP = the op's
    arithmetic by the convention stated there (exp as 1 FLOP, for one).
  * Arithmetic intensity I = FLOP/s / bytes/s (= FLOP per byte). The roof is min(P, I B): compute-bound
    when P <= I B, memory-bound otherwise. With no FLOP counter the roof is B (memory), with no byte
    counter it is P (compute).
  * share = achieved / roof: FLOP/s / P when compute-bound, bytes/s / B when memory-bound (the same as
    FLOP/s / (I B)).
A run's figure is the median aggregate when repetitions were run, else the median of its iterations.
Rows keep the order of the files and of the benchmarks in them; the N lowest shares (default 10) get a `*`.
"""
import argparse
import json
import math
import sys

from benchmark_json import pick

FLOP_KEY = "FLOP/s"
BYTES_KEY = "bytes_per_second"
PEAK_FMA = "peak/fma"
PEAK_STREAM = "peak/stream_triad"


def roof(flops, bytes_per_s, peak_flops, peak_bytes):
    """(intensity, bound, roof value, share) for one benchmark.

    flops, bytes_per_s: the achieved rates, None where the benchmark has no such counter (not both).
    peak_flops, peak_bytes: the compute roof (FLOP/s) and the memory roof (bytes/s).
    intensity is FLOP per byte (None unless both rates are known); bound is "compute" or "memory";
    the roof value is in FLOP/s when compute-bound or when both rates are known, else in bytes/s;
    share is achieved / roof (1.0 = on the roof).
    """
    if flops is None and bytes_per_s is None:
        raise ValueError("roof: a benchmark needs FLOP/s or bytes/s")
    if bytes_per_s is None:
        return None, "compute", peak_flops, flops / peak_flops
    if flops is None:
        return None, "memory", peak_bytes, bytes_per_s / peak_bytes
    intensity = flops / bytes_per_s if bytes_per_s > 0 else math.inf
    memory_roof = intensity * peak_bytes
    if peak_flops <= memory_roof:
        return intensity, "compute", peak_flops, flops / peak_flops
    return intensity, "memory", memory_roof, flops / memory_roof


def load_runs(paths):
    """[(run name, entry)] over every file, in order; errored runs are skipped."""
    order, runs = [], {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for b in data.get("benchmarks", []):
            if b.get("error_occurred"):
                continue
            name = b.get("run_name", b["name"])
            if name not in runs:
                order.append(name)
            runs.setdefault(name, []).append(b)
    picked = [(name, pick(runs[name])) for name in order]
    return [(name, e) for name, e in picked if e is not None]


def rate(entry, key):
    value = entry.get(key)
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def find_peak(runs, name, key):
    """The rate `key` of the run called `name` (or name/..., as peak/fma/iterations:3), else None."""
    for run, entry in runs:
        if run == name or run.startswith(name + "/"):
            return rate(entry, key)
    return None


def display_name(name):
    """The run's name without the suffixes of its timing mode."""
    for suffix in ("/real_time", "/manual_time"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def build_rows(runs, peak_flops, peak_bytes):
    """One dict per benchmark with a FLOP or byte rate (the peak/* runs themselves are left out)."""
    rows = []
    for name, entry in runs:
        if name.startswith("peak/"):
            continue
        flops, bytes_per_s = rate(entry, FLOP_KEY), rate(entry, BYTES_KEY)
        if flops is None and bytes_per_s is None:
            continue
        intensity, bound, _, share = roof(flops, bytes_per_s, peak_flops, peak_bytes)
        rows.append({"name": display_name(name), "flops": flops, "bytes": bytes_per_s, "intensity": intensity,
                     "bound": bound, "share": share, "worst": False})
    return rows


def mark_worst(rows, n):
    for row in sorted(rows, key=lambda r: r["share"])[:n]:
        row["worst"] = True
    return rows


def fmt(value, digits):
    return "-" if value is None else f"{value:.{digits}f}"


def render(rows, markdown):
    header = ["benchmark", "GFLOP/s", "GB/s", "FLOP/B", "bound", "% of roof", "worst"]
    body = [[r["name"], fmt(r["flops"] and r["flops"] / 1e9, 1), fmt(r["bytes"] and r["bytes"] / 1e9, 1),
             fmt(r["intensity"], 2), r["bound"], fmt(100 * r["share"], 1), "*" if r["worst"] else ""]
            for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * 3 + ["---", "---:", ":---:"]) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
    def line(cells):
        return "  ".join(c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(cells) for cells in body]).rstrip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("json", nargs="+", help="Google Benchmark JSON files (bench_peak's among them)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--worst", type=int, default=10, help="how many of the lowest shares to mark (10)")
    parser.add_argument("--fma-gflops", type=float, help="the compute roof, instead of peak/fma's")
    parser.add_argument("--stream-gbs", type=float, help="the memory roof, instead of peak/stream_triad's")
    args = parser.parse_args(argv)

    runs = load_runs(args.json)
    peak_flops = args.fma_gflops * 1e9 if args.fma_gflops else find_peak(runs, PEAK_FMA, FLOP_KEY)
    peak_bytes = args.stream_gbs * 1e9 if args.stream_gbs else find_peak(runs, PEAK_STREAM, BYTES_KEY)
    if peak_flops is None or peak_bytes is None:
        missing = [k for k, v in ((PEAK_FMA, peak_flops), (PEAK_STREAM, peak_bytes)) if v is None]
        print(f"roofline.py: no {' or '.join(missing)} in the files (run bench_peak, or pass --fma-gflops / "
              "--stream-gbs)", file=sys.stderr)
        return 1

    rows = mark_worst(build_rows(runs, peak_flops, peak_bytes), args.worst)
    ridge = peak_flops / peak_bytes
    print(f"Roofs: compute {peak_flops / 1e9:.1f} GFLOP/s (peak/fma), memory {peak_bytes / 1e9:.1f} GB/s "
          f"(peak/stream_triad); ridge at {ridge:.2f} FLOP/B. `*`: the {min(args.worst, len(rows))} lowest shares.")
    print()
    print(render(rows, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
