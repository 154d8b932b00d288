#!/usr/bin/python3
"""Forward/backward parity of scorch's score models against these PyTorch twins (bench/torch/models.py).

scorch writes a directory DIR; this script recomputes it in PyTorch and compares:
  DIR/weights.safetensors   the model's parameters, keys = state_dict names (models.py)
  DIR/inputs.safetensors    x [B, 1, 28, 28] F32; sigma [B] F32 (unet-small) or labels [B] I64 (refinenet);
                            r F32, shaped as the output; metadata {"model": "unet-small"|"refinenet",
                            "ngf": "16"} (strings; ngf only for refinenet)
  DIR/outputs.safetensors   out = model(x, sigma or labels); loss = sum(out * r) (0-d or [1]);
                            grad.<name> = d loss / d <name> for every parameter
For every tensor it prints shape, max |diff|, max |ref|, and relative = max |diff| / max |ref|, where ref
is PyTorch's value; the worst relative decides: exit code 1 above --rtol (default 1e-4). Tensors missing
from outputs.safetensors count as failures.

  parity.py DIR [--rtol 1e-4] [--float64] [--threads 2]
  parity.py --self-test     writes such directories from PyTorch itself (float32) for both models and
                            checks that this script passes on them and fails when one gradient is perturbed
--float64 runs PyTorch in double (weights and inputs widened): if scorch's error against that is much
smaller than against float32 PyTorch, the difference is float32 rounding on PyTorch's side.
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
import safetensors_io  # noqa: E402


def conditioning_key(model_name):
    return "sigma" if model_name == "unet-small" else "labels"


def build_model(metadata, where):
    name = metadata.get("model")
    if name not in ("unet-small", "refinenet"):
        raise SystemExit(f"parity.py: {where}: metadata \"model\" must be 'unet-small' or 'refinenet', got {name!r}")
    return name, models.make_model(name, int(metadata.get("ngf", "16")))


def reference(directory, dtype):
    """PyTorch's {name: tensor} for out, loss and grad.<param>, and the model's description."""
    weights, _ = safetensors_io.load_file(os.path.join(directory, "weights.safetensors"))
    inputs, metadata = safetensors_io.load_file(os.path.join(directory, "inputs.safetensors"))
    name, model = build_model(metadata, os.path.join(directory, "inputs.safetensors"))
    model.load_state_dict(weights, strict=True)
    model.to(dtype)
    cond = inputs[conditioning_key(name)]
    if name == "unet-small":
        cond = cond.to(dtype)
    out = model(inputs["x"].to(dtype), cond)
    loss = (out * inputs["r"].to(dtype)).sum()
    loss.backward()
    result = {"out": out.detach(), "loss": loss.detach()}
    result.update({f"grad.{k}": p.grad for k, p in model.named_parameters()})
    label = name + (f" ngf={metadata.get('ngf', '16')}" if name == "refinenet" else "")
    return result, f"{label}, batch {inputs['x'].shape[0]}, {dtype}"


def compare(directory, rtol, dtype, quiet=False):
    """Prints the table; returns the worst relative difference (inf when a tensor is missing or mis-shaped)."""
    ref, label = reference(directory, dtype)
    theirs, _ = safetensors_io.load_file(os.path.join(directory, "outputs.safetensors"))
    rows, worst, worst_name = [], 0.0, None
    for key, r in ref.items():
        t = theirs.get(key)
        if t is None or (key != "loss" and tuple(t.shape) != tuple(r.shape)) or (key == "loss" and t.numel() != 1):
            problem = "missing" if t is None else f"shape {list(t.shape)}"
            rows.append((key, str(list(r.shape)), problem, "", "", math.inf))
            worst, worst_name = math.inf, key
            continue
        r64, t64 = r.double().reshape(-1), t.double().reshape(-1)
        diff = (t64 - r64).abs().max().item() if r64.numel() else 0.0
        scale = r64.abs().max().item() if r64.numel() else 0.0
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)
        if math.isnan(diff):
            rel = math.inf
        rows.append((key, str(list(r.shape)), f"{diff:.3e}", f"{scale:.3e}", f"{rel:.3e}", rel))
        if rel > worst or worst_name is None:
            worst, worst_name = rel, key
    extra = sorted(set(theirs) - set(ref))
    if not quiet:
        print(f"parity: {directory}: {label}")
        widths = [max(len(row[i]) for row in rows + [("tensor", "shape", "max|diff|", "max|ref|", "relative")])
                  for i in range(5)]
        header = ("tensor", "shape", "max|diff|", "max|ref|", "relative")
        print("  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
        for row in rows:
            print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row[:5], widths))))
        if extra:
            print(f"not compared (no PyTorch counterpart): {', '.join(extra)}")
        verdict = "ok" if worst <= rtol else "FAIL"
        print(f"worst relative {worst:.3e} ({worst_name}), rtol {rtol:g}: {verdict}")
    return worst


# --- self-test --------------------------------------------------------------------------------------------

def write_case(directory, name, batch=3, ngf=16, seed=0):
    """A parity directory computed by PyTorch itself in float32, as scorch would write it."""
    os.makedirs(directory, exist_ok=True)
    torch.manual_seed(seed)
    model = models.make_model(name, ngf)
    x = torch.rand(batch, 1, 28, 28)
    cond = models.conditioning(name, batch)
    r = torch.randn(batch, 1, 28, 28)
    metadata = {"model": name} | ({"ngf": str(ngf)} if name == "refinenet" else {})
    safetensors_io.save_file(os.path.join(directory, "weights.safetensors"), model.state_dict())
    safetensors_io.save_file(os.path.join(directory, "inputs.safetensors"),
                             {"x": x, conditioning_key(name): cond, "r": r}, metadata)
    out = model(x, cond)
    loss = (out * r).sum()
    loss.backward()
    outputs = {"out": out, "loss": loss.reshape(1)}
    outputs.update({f"grad.{k}": p.grad for k, p in model.named_parameters()})
    safetensors_io.save_file(os.path.join(directory, "outputs.safetensors"), outputs)
    return outputs


def check_round_trip(directory):
    tensors = {"f32": torch.randn(2, 3), "f64": torch.randn(4, dtype=torch.float64), "scalar": torch.tensor(1.5),
               "i64": torch.tensor([0, -3, 2**40]), "u8": torch.tensor([1, 255], dtype=torch.uint8),
               "empty": torch.zeros(0, 5)}
    path = os.path.join(directory, "round_trip.safetensors")
    safetensors_io.save_file(path, tensors, {"model": "x"})
    back, metadata = safetensors_io.load_file(path)
    assert metadata == {"model": "x"} and set(back) == set(tensors), (metadata, sorted(back))
    for k, t in tensors.items():
        assert back[k].dtype == t.dtype and back[k].shape == t.shape and torch.equal(back[k], t), k
    with open(path, "rb") as f:
        assert int.from_bytes(f.read(8), "little") % 8 == 0, "the data section must start 8-aligned"
    print("safetensors round trip (F32, F64, I64, U8, 0-d, empty): ok")


def run_self(directory, *extra):
    cmd = [sys.executable, os.path.abspath(__file__), directory, *extra]
    return subprocess.run(cmd, capture_output=True, text=True)


def self_test(threads):
    with tempfile.TemporaryDirectory(prefix="parity-self-test-") as tmp:
        check_round_trip(tmp)
        for name in ("unet-small", "refinenet"):
            case = os.path.join(tmp, name)
            outputs = write_case(case, name)
            passed = run_self(case, "--threads", str(threads))
            print(passed.stdout.splitlines()[-1])
            assert passed.returncode == 0, f"{name}: unperturbed case failed:\n{passed.stdout}{passed.stderr}"
            wide = run_self(case, "--threads", str(threads), "--float64", "--rtol", "1e-3")
            print("  --float64: " + wide.stdout.splitlines()[-1])
            assert wide.returncode == 0, f"{name}: float32 outputs vs float64 PyTorch:\n{wide.stdout}{wide.stderr}"
            # Perturb one gradient by 1e-3 of its largest magnitude: must fail at rtol 1e-4.
            key = sorted(k for k in outputs if k.startswith("grad."))[len(outputs) // 2]
            g = outputs[key].clone()
            g.view(-1)[0] += 1e-3 * g.abs().max()
            safetensors_io.save_file(os.path.join(case, "outputs.safetensors"), outputs | {key: g})
            failed = run_self(case, "--threads", str(threads))
            print(f"  {key} perturbed: " + failed.stdout.splitlines()[-1])
            assert failed.returncode == 1, f"{name}: perturbed {key} passed:\n{failed.stdout}{failed.stderr}"
            # A missing gradient fails too.
            safetensors_io.save_file(os.path.join(case, "outputs.safetensors"),
                                     {k: v for k, v in outputs.items() if k != key})
            missing = run_self(case, "--threads", str(threads))
            assert missing.returncode == 1 and "missing" in missing.stdout, f"{name}: missing {key} passed"
            print(f"  {key} missing: FAIL as expected")
    print("parity.py self-test: ok")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", nargs="?", help="directory written by scorch (weights, inputs, outputs)")
    parser.add_argument("--rtol", type=float, default=1e-4, help="largest accepted relative difference (1e-4)")
    parser.add_argument("--float64", action="store_true", help="run PyTorch in double precision")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--self-test", action="store_true", help="check this script on PyTorch-written cases")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.self_test:
        self_test(args.threads)
        return 0
    if not args.dir:
        parser.error("DIR is required (or --self-test)")
    worst = compare(args.dir, args.rtol, torch.float64 if args.float64 else torch.float32)
    return 0 if worst <= args.rtol else 1


if __name__ == "__main__":
    sys.exit(main())
