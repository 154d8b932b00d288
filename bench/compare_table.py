#!/usr/bin/env python3
"""Prints one table, workload | scorch | pytorch | ratio, from Google Benchmark JSON files (ours) and the
JSON of the PyTorch scripts in bench/torch/. Standard library only; bench/compare calls it.

  compare_table.py --pytorch R-pytorch.json --pytorch R-pytorch_gmm.json --pytorch R-pytorch_unet.json \
                   R-bench_*.json

A PyTorch file is either {"results": {key: {"value": v, ...}}} (bench_foundation.py) or a flat object
{key: v} (bench_gmm.py, bench_unet.py).

Rows are data: add one to ROWS. A row finds its scorch benchmark by the first pattern (a regular
expression, searched in the benchmark's name) that matches any run not matched by an `exclude`
pattern, and its PyTorch figure by key. A row with a `counter` takes the scorch figure from that
Google Benchmark counter of the run (state.counters[...]) instead of its time. A missing side shows
n/a. ratio = how many times better scorch is: scorch / pytorch where higher is better (rates),
pytorch / scorch where lower is better (times, memory, faults); > 1 means scorch wins.
"""
import argparse
import json
import math
import re

from benchmark_json import pick

# unit: "GB/s" (bytes_per_second), "GFLOP/s" (a FLOP counter, else `flop` per call / time),
# "ns/op" (the time_per_op counter, else time per call / `ops`), "ms" or "s" (time per call);
# with `counter`, any unit: the named counter as it is. Only HIGHER_IS_BETTER units are rates.
ROWS = [
    {"workload": "add 16M f32", "unit": "GB/s", "scorch": [r"^add/16M", r"add.*(16M|16777216)"],
     "exclude": [r"out", r"broadcast"], "pytorch": "add_16M"},
    {"workload": "add 16M f32, preallocated out", "unit": "GB/s", "scorch": [r"add_out/16M"],
     "pytorch": "add_out_16M"},
    {"workload": "silu 16M f32", "unit": "GB/s", "scorch": [r"silu/16M", r"silu"], "pytorch": "silu_16M"},
    {"workload": "add [4096,4096]+[4096]", "unit": "GB/s", "scorch": [r"add_broadcast"],
     "pytorch": "add_broadcast"},
    {"workload": "sum 16M f32", "unit": "GB/s",
     "scorch": [r"^sum/16M", r"sum.*(16M|16777216)", r"sum_all", r"sum"],
     "exclude": [r"sum_to", r"dim", r"row", r"col", r"keep", r"f64|float64|double"], "pytorch": "sum_16M"},
    {"workload": "matmul 512^3 f32", "unit": "GFLOP/s", "scorch": [r"matmul/512\b", r"matmul.*\b512\b"],
     "exclude": [r"sgemm|blas|raw", r"f64|float64|double|dgemm", r"batch"], "flop": 2 * 512**3,
     "pytorch": "matmul_512"},
    {"workload": "matmul 1024^3 f32", "unit": "GFLOP/s", "scorch": [r"matmul/1024\b", r"matmul.*\b1024\b"],
     "exclude": [r"sgemm|blas|raw", r"f64|float64|double|dgemm", r"batch"], "flop": 2 * 1024**3,
     "pytorch": "matmul_1024"},
    {"workload": "raw OpenBLAS sgemm 512^3", "unit": "GFLOP/s", "scorch": [r"(sgemm|blas|raw).*\b512\b"],
     "flop": 2 * 512**3, "pytorch": None},
    {"workload": "raw OpenBLAS sgemm 1024^3", "unit": "GFLOP/s", "scorch": [r"(sgemm|blas|raw).*\b1024\b"],
     "flop": 2 * 1024**3, "pytorch": None},
    {"workload": "autograd chain100 fwd+bwd", "unit": "ns/op", "scorch": [r"chain100/forward_backward"],
     "ops": 100, "pytorch": "chain100_fwd_bwd"},
    {"workload": "chain100 forward, no grad", "unit": "ns/op", "scorch": [r"chain100/forward_no_grad"],
     "ops": 100, "pytorch": "chain100_no_grad"},
    # The workloads of shared/spec/reference-models.md (bench_workloads.cpp, bench/torch/bench_gmm.py).
    {"workload": "B1 mlp training step, batch 512", "unit": "ms", "scorch": [r"^B1_"], "pytorch": "B1_ms"},
    {"workload": "B2 unet-small training step, batch 64", "unit": "ms", "scorch": [r"^B2_"], "pytorch": "B2_ms"},
    {"workload": "B3 unet-small forward, batch 64", "unit": "ms", "scorch": [r"^B3_"], "pytorch": "B3_ms"},
    {"workload": "B4 annealed Langevin, 10k particles", "unit": "s", "scorch": [r"^B4_"], "pytorch": "B4_s"},
    # Memory of one B2 step: peak resident set of a process that only trains, and minor page faults per step.
    {"workload": "B2 peak RSS", "unit": "MiB", "scorch": [r"^B2_"], "counter": "peak_rss_mib",
     "pytorch": "B2_peak_rss_mib"},
    {"workload": "B2 minor page faults per step", "unit": "faults", "scorch": [r"^B2_"],
     "counter": "minor_faults_per_step", "pytorch": "B2_minor_faults_per_step"},
]

HIGHER_IS_BETTER = {"GB/s", "GFLOP/s"}

TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def load_runs(paths):
    """{run name: [entries]} over every file, plus the context of the first file."""
    runs, context = {}, {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        context = context or data.get("context", {})
        for b in data.get("benchmarks", []):
            if b.get("error_occurred"):
                continue
            runs.setdefault(b.get("run_name", b["name"]), []).append(b)
    return runs, context


def find_run(row, runs):
    exclude = [re.compile(p) for p in row.get("exclude", [])]
    counter = row.get("counter")
    for pattern in row["scorch"]:
        for name in runs:
            if counter and not any(counter in e for e in runs[name]):
                continue  # a counter row takes only runs that report the counter
            if re.search(pattern, name) and not any(x.search(name) for x in exclude):
                return name
    return None


def scorch_value(row, entry):
    if "counter" in row:
        value = entry.get(row["counter"])
        return value if isinstance(value, (int, float)) else None
    unit = row["unit"]
    seconds = entry["real_time"] * TIME_UNITS[entry.get("time_unit", "ns")]
    if unit == "GB/s":
        if "bytes_per_second" in entry:
            return entry["bytes_per_second"] / 1e9
        bytes_keys = [k for k in entry if re.fullmatch(r"bytes(/s|_per_second)?", k, re.I)]
        return entry[bytes_keys[0]] / 1e9 if bytes_keys else None
    if unit == "GFLOP/s":
        for key, value in entry.items():
            if isinstance(value, (int, float)) and re.search(r"flop", key, re.I):
                return value if key.lower().startswith("gflop") else value / 1e9
        return row["flop"] / seconds / 1e9 if "flop" in row else None
    if unit == "ns/op":
        if "time_per_op" in entry:
            return entry["time_per_op"] * 1e9
        return seconds * 1e9 / row.get("ops", 1)
    if unit == "ms":
        return seconds * 1e3
    if unit == "s":
        return seconds
    raise ValueError(f"compare_table.py: unknown unit {unit!r} in row {row['workload']!r}")


def load_pytorch(paths):
    """{key: value} and the context over every PyTorch file; unreadable files are reported and skipped."""
    values, context = {}, {}
    for path in paths:
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            print(f"compare_table.py: skipping {path} ({e})")
            continue
        if "results" in data:
            values.update({k: v.get("value") for k, v in data["results"].items()})
            context = context or data.get("context", {})
        else:
            values.update({k: v for k, v in data.items() if isinstance(v, (int, float))})
            context = context or {"torch": data.get("torch"), "threads": data.get("threads")}
    return values, context


def ratio(unit, ours, theirs):
    if ours is None or theirs is None or ours < 0 or theirs < 0:
        return None
    better, worse = (ours, theirs) if unit in HIGHER_IS_BETTER else (theirs, ours)
    if worse == 0:  # e.g. no page faults at all on one side
        return 1.0 if better == 0 else math.inf
    return better / worse


def fmt(value, digits=2):
    return "n/a" if value is None else f"{value:.{digits}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pytorch", action="append", default=[], help="JSON of a bench/torch script (repeatable)")
    parser.add_argument("scorch", nargs="*", help="Google Benchmark JSON files of scorch's bench programs")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (for the README)")
    args = parser.parse_args()

    runs, context = load_runs(args.scorch)
    pytorch, pytorch_context = load_pytorch(args.pytorch)

    table = [("workload", "scorch", "pytorch", "ratio")]
    for row in ROWS:
        name = find_run(row, runs)
        entry = pick(runs[name]) if name else None
        ours = scorch_value(row, entry) if entry else None
        theirs = pytorch.get(row["pytorch"]) if row.get("pytorch") else None
        speedup = ratio(row["unit"], ours, theirs)
        table.append((f"{row['workload']} ({row['unit']})", fmt(ours), fmt(theirs), fmt(speedup)))

    if context:
        print(f"scorch: {context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs, "
              f"OpenBLAS core {context.get('openblas_corename', '?')}, "
              f"{context.get('scorch_threads', '?')} threads, {context.get('date', '')}")
    if pytorch_context:
        print(f"pytorch: {pytorch_context.get('torch', '?')}, {pytorch_context.get('threads', '?')} threads")
    print("ratio: how many times better scorch is: faster, or less memory and faults (> 1: scorch wins)\n")
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    if args.markdown:
        print("| " + " | ".join(table[0]) + " |")
        print("|" + "|".join(["---"] + ["---:"] * 3) + "|")
        for r in table[1:]:
            print("| " + " | ".join(r) + " |")
    else:
        for i, r in enumerate(table):
            print("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]))
            if i == 0:
                print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
