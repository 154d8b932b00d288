#!/usr/bin/python3
"""The PyTorch twin of build/bin/mnist: trains `unet-small` (models.py) with annealed denoising score
matching on MNIST, keeps an EMA of its weights, stops early on a validation loss, and samples with NCSN's
annealed Langevin dynamics. Same model, objective, optimizer and budget as the C++ program.

Data (mnist_data.py): the train file of --data, split 90/10 (--val-fraction, seeded by --seed) into
training and validation digits; every image is dequantized, x = (byte + U[0, 1)) / 256, [N, 1, 28, 28].
Training batches of --batch walk through a fresh seeded permutation of the training digits each epoch (the
last incomplete batch of an epoch is dropped), dequantized anew each time.

Step (reference-models.md, "annealed denoising score matching"): sigmas geometric from --sigma-max 1 to
--sigma-min 0.01, L = --levels 10; one level per sample, uniform; x~ = x + sigma z; loss = mean over the
batch of 1/2 sigma^2 |s(x~, sigma) + z / sigma|^2 with s = net / sigma (UNetSmall divides). Then
zero_grad(set_to_none), backward, clip_grad_norm_ to --clip 1.0 (global L2 norm; 0 turns it off),
Adam(--lr 1e-3, PyTorch defaults otherwise), and the EMA update
    shadow = decay shadow + (1 - decay) param        (--ema 0.999, after every step)
as scorch's nn::EMA and score_sde_pytorch's models/ema.py, with ema.py's default warm-up: the n-th update
uses decay = min(decay, (1 + n) / (10 + n)) (on by default, as in build/bin/mnist; --no-ema-warmup turns it
off, and then the initial weights keep a share decay^steps of the shadow: 5% after 3000 steps at 0.999).

Validation every --val-interval 250 steps (and at the last step) with the EMA weights, on the validation
digits with FIXED noise: a generator seeded with --seed + 1 draws, once, the dequantization u
[Nv, 1, 28, 28], the level index [Nv], then z [Nv, 1, 28, 28]; the loss is the same DSM loss averaged over
all Nv digits. Early stopping: an evaluation improves when val < best - --min-delta (absolute, in loss
units; default 0: any decrease); training stops after --patience 5 evaluations in a row without
improvement (0: never). Sampling then uses the EMA weights of the best evaluation (the last ones when
there is no validation split).

Sampler (NCSN, reference-models.md): x0 ~ U[0, 1]; for each sigma_i, T = --n-steps-each 100 times
x += alpha_i s(x, sigma_i) + sqrt(2 alpha_i) z, alpha_i = --step-lr 2e-5 * sigma_i^2 / sigma_L^2; then one
denoising step x += sigma_L^2 s(x, sigma_L). No clipping inside the sampler. --n-samples 1000 in batches of
--sample-batch 250 under torch.no_grad, the global generator reseeded with --seed + 2 first.

Writes into --out (default runs/torch-mnist):
  samples.npy       [n, 1, 28, 28] float32, CLIPPED to [0, 1] for the file, NaN written as 0 (metrics.json
                    says how many values were outside [0, 1] or not finite before that)
  ema.safetensors   the EMA weights used for sampling, named as UNetSmall's state_dict (= scorch's)
  log.csv           step,train_loss,val_loss: one row per step, val_loss empty between evaluations
  metrics.json      train_wall_s, median_step_s, steps_run, stopped_early, best_val_loss, best_step,
                    val_losses [[step, loss]], train_losses, sampler {wall_s, samples_per_s, ...}, args

  mnist_train.py                                       the full run (3000 steps, 1000 samples: hours on 2 cores)
  mnist_train.py --data /usr/share/datasets/fashion-mnist --limit 640 --steps 20 --val-interval 10 \\
                 --n-samples 8 --n-steps-each 2 --out /tmp/t      a smoke test of a minute or two
  mnist_train.py --init ema.safetensors --steps 0      samples from given weights (e.g. scorch's)
"""
import argparse
import copy
import csv
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_data import dequantize, load_split, split_train_val  # noqa: E402
from models import UNetSmall  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402


def make_sigmas(sigma_max, sigma_min, levels):
    """Geometric: sigma_i = sigma_max (sigma_min / sigma_max)^(i / (L - 1)), i = 0..L-1, float32."""
    return torch.tensor([sigma_max * (sigma_min / sigma_max) ** (i / (levels - 1)) for i in range(levels)])


def dsm_loss(model, x, s, z, reduce=True):
    """1/2 sigma^2 |s(x + sigma z, sigma) + z / sigma|^2 = 1/2 |sigma s + z|^2 per sample; mean if reduce."""
    s4 = s[:, None, None, None]
    per_sample = 0.5 * ((s4 * model(x + s4 * z, s) + z) ** 2).sum(dim=(1, 2, 3))
    return per_sample.mean() if reduce else per_sample


class FixedValidation:
    """The validation digits with their noise drawn once: u (dequantization), level index, z."""

    def __init__(self, images_u8, sig, seed, batch):
        g = torch.Generator().manual_seed(seed)
        self.x = dequantize(images_u8, g)
        self.s = sig[torch.randint(0, len(sig), (len(self.x),), generator=g)]
        self.z = torch.randn(self.x.shape, generator=g)
        self.batch = batch

    @torch.no_grad()
    def loss(self, model):
        total = 0.0
        for i in range(0, len(self.x), self.batch):
            sl = slice(i, i + self.batch)
            total += dsm_loss(model, self.x[sl], self.s[sl], self.z[sl], reduce=False).double().sum().item()
        return total / len(self.x)


class EMA:
    """A copy of the model whose parameters are the shadow: shadow = d shadow + (1 - d) param after each
    update(); buffers copied (unet-small has none). warmup: d = min(decay, (1 + n) / (10 + n)) at update n."""

    def __init__(self, model, decay, warmup=False):
        self.model = copy.deepcopy(model).requires_grad_(False)
        self.decay, self.warmup, self.updates = decay, warmup, 0

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates)) if self.warmup else self.decay
        for shadow, p in zip(self.model.parameters(), model.parameters()):
            shadow.mul_(d).add_(p.detach(), alpha=1 - d)
        for shadow, b in zip(self.model.buffers(), model.buffers()):
            shadow.copy_(b)


class Batches:
    """Batches of indices into the training digits: a fresh permutation each epoch, the remainder dropped."""

    def __init__(self, n, batch):
        if n < batch:
            raise ValueError(f"--batch {batch}: larger than the {n} training digits")
        self.n, self.batch, self.perm, self.pos, self.epoch = n, batch, None, n, 0

    def next(self):
        if self.pos + self.batch > self.n:
            self.perm, self.pos, self.epoch = torch.randperm(self.n), 0, self.epoch + 1
        idx = self.perm[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return idx


@torch.no_grad()
def annealed_langevin(model, sig, n, batch, steps_each, step_lr, log=print):
    """NCSN's sampler; returns the unclipped samples [n, 1, 28, 28]."""
    out = []
    for b0 in range(0, n, batch):
        nb = min(batch, n - b0)
        x = torch.rand(nb, 1, 28, 28)
        for i, sigma in enumerate(sig.tolist()):
            alpha = step_lr * (sigma / sig[-1].item()) ** 2
            sv = torch.full((nb,), sigma)
            for _ in range(steps_each):
                x = x + alpha * model(x, sv) + math.sqrt(2 * alpha) * torch.randn_like(x)
            log(f"sample {b0 + nb}/{n}: level {i + 1}/{len(sig)} (sigma {sigma:.4f}) done")
        sv = torch.full((nb,), sig[-1].item())
        out.append(x + sig[-1].item() ** 2 * model(x, sv))
    return torch.cat(out)


def train(args, model, out_dir):
    images, _ = load_split(args.data, "train", limit=args.limit)
    train_idx, val_idx = split_train_val(len(images), args.val_fraction, args.seed)
    train_images = torch.from_numpy(images[train_idx.numpy()])
    sig = make_sigmas(args.sigma_max, args.sigma_min, args.levels)
    val = FixedValidation(images[val_idx.numpy()], sig, args.seed + 1, args.val_batch) if len(val_idx) else None
    print(f"data {args.data}: {len(train_idx)} training digits, {len(val_idx)} validation digits; "
          f"sigmas {', '.join(f'{s:.4g}' for s in sig.tolist())}")

    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    ema = EMA(model, args.ema, args.ema_warmup)
    batches = Batches(len(train_images), args.batch) if args.steps else None
    m = {"n_train": len(train_idx), "n_val": len(val_idx), "train_losses": [], "val_losses": [],
         "best_val_loss": None, "best_step": None, "stopped_early": False, "steps_run": 0}
    best_state, bad, step_times = None, 0, []
    log = open(os.path.join(out_dir, "log.csv"), "w", newline="")
    writer = csv.writer(log)
    writer.writerow(["step", "train_loss", "val_loss"])
    t_start = time.perf_counter()
    for step in range(1, args.steps + 1):
        t0 = time.perf_counter()
        x = dequantize(train_images[batches.next()])
        s = sig[torch.randint(0, len(sig), (args.batch,))]
        z = torch.randn_like(x)
        loss = dsm_loss(model, x, s, z)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        ema.update(model)
        step_times.append(time.perf_counter() - t0)
        loss = loss.item()
        if not math.isfinite(loss):
            raise RuntimeError(f"step {step}: training loss is {loss}")
        m["train_losses"].append(loss)
        m["steps_run"] = step

        val_loss = None
        if val is not None and (step % args.val_interval == 0 or step == args.steps):
            val_loss = val.loss(ema.model)
            m["val_losses"].append([step, val_loss])
            if m["best_val_loss"] is None or val_loss < m["best_val_loss"] - args.min_delta:
                m["best_val_loss"], m["best_step"], bad = val_loss, step, 0
                best_state = {k: v.clone() for k, v in ema.model.state_dict().items()}
            else:
                bad += 1
            print(f"step {step}: val loss (EMA) {val_loss:.4f}, best {m['best_val_loss']:.4f} at step "
                  f"{m['best_step']}, {bad}/{args.patience or 'inf'} without improvement", flush=True)
        writer.writerow([step, f"{loss:.6g}", "" if val_loss is None else f"{val_loss:.6g}"])
        if step % args.log_every == 0 or step == 1:
            recent = m["train_losses"][-args.log_every:]
            print(f"step {step}/{args.steps}: train loss {statistics.fmean(recent):.4f} (mean of last "
                  f"{len(recent)}), {statistics.median(step_times[-args.log_every:]):.3f} s/step, "
                  f"epoch {batches.epoch}", flush=True)
        if args.patience and bad >= args.patience:
            m["stopped_early"] = True
            print(f"step {step}: early stop, {bad} evaluations without improvement", flush=True)
            break
    m["train_wall_s"] = time.perf_counter() - t_start
    m["median_step_s"] = statistics.median(step_times) if step_times else None
    log.close()
    if best_state is not None:
        ema.model.load_state_dict(best_state)
    return ema.model, sig, m


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = parser.add_argument
    a("--data", default="data/mnist", help="folder of the IDX files (default data/mnist)")
    a("--out", default="runs/torch-mnist", help="output folder (default runs/torch-mnist)")
    a("--limit", type=int, help="use only the first N digits of the train file (smoke tests)")
    a("--val-fraction", type=float, default=0.1, help="validation share of the train file (default 0.1)")
    a("--seed", type=int, default=0, help="initial weights, split, noise (default 0)")
    a("--steps", type=int, default=3000, help="training steps (default 3000)")
    a("--batch", type=int, default=64, help="batch size (default 64)")
    a("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    a("--clip", type=float, default=1.0, help="gradient clipping, global L2 norm; 0: off (default 1)")
    a("--ema", type=float, default=0.999, help="EMA decay (default 0.999)")
    a("--ema-warmup", action=argparse.BooleanOptionalAction, default=True,
      help="score_sde's decay = min(decay, (1+n)/(10+n)) at update n (default on, as build/bin/mnist)")
    a("--val-interval", type=int, default=250, help="steps between validations (default 250)")
    a("--val-batch", type=int, default=250, help="batch of the validation forwards (default 250)")
    a("--patience", type=int, default=5, help="evaluations without improvement before stopping; 0: never (5)")
    a("--min-delta", type=float, default=0.0, help="absolute improvement that counts (default 0)")
    a("--sigma-max", type=float, default=1.0, help="largest noise level (default 1)")
    a("--sigma-min", type=float, default=0.01, help="smallest noise level (default 0.01)")
    a("--levels", type=int, default=10, help="number of noise levels L (default 10)")
    a("--n-samples", type=int, default=1000, help="samples to draw; 0: none (default 1000)")
    a("--sample-batch", type=int, default=250, help="sampler batch (default 250)")
    a("--n-steps-each", type=int, default=100, help="Langevin steps per level T (default 100)")
    a("--step-lr", type=float, default=2e-5, help="Langevin step size at sigma_L (default 2e-5)")
    a("--init", help="safetensors weights to start from (strict state_dict), e.g. with --steps 0")
    a("--log-every", type=int, default=50, help="steps between progress lines (default 50)")
    a("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    args = parser.parse_args()
    for flag in ("batch", "val_interval", "levels", "sample_batch", "n_steps_each", "log_every", "threads"):
        least, value = (2 if flag == "levels" else 1), getattr(args, flag)
        if value < least:
            parser.error(f"--{flag.replace('_', '-')}: must be >= {least}, got {value}")
    if not 0 < args.sigma_min < args.sigma_max:
        parser.error(f"--sigma-min, --sigma-max: need 0 < min < max, got {args.sigma_min}, {args.sigma_max}")
    if not 0 < args.ema <= 1:
        parser.error(f"--ema: must be in (0, 1], got {args.ema}")
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    torch.manual_seed(args.seed)
    model = UNetSmall()
    if args.init:
        state, _ = load_file(args.init)
        model.load_state_dict(state)
        print(f"weights from {args.init}")
    try:
        ema_model, sig, metrics = train(args, model, args.out)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"mnist_train.py: {e}")
    meta = {"steps_run": str(metrics["steps_run"]), "best_step": str(metrics["best_step"]),
            "best_val_loss": str(metrics["best_val_loss"])}
    save_file(os.path.join(args.out, "ema.safetensors"), ema_model.state_dict(), meta)
    print(f"training: {metrics['steps_run']} steps in {metrics['train_wall_s']:.1f} s, best val loss "
          f"{metrics['best_val_loss']} at step {metrics['best_step']}")

    if args.n_samples > 0:
        torch.manual_seed(args.seed + 2)
        t0 = time.perf_counter()
        x = annealed_langevin(ema_model, sig, args.n_samples, args.sample_batch, args.n_steps_each, args.step_lr,
                              log=lambda line: print(line, flush=True))
        wall = time.perf_counter() - t0
        xn = x.numpy()
        finite = np.isfinite(xn)
        metrics["sampler"] = {
            "n_samples": args.n_samples, "wall_s": wall, "samples_per_s": args.n_samples / wall,
            "score_evals_per_sample": args.levels * args.n_steps_each + 1,
            "nonfinite_values": int((~finite).sum()),
            "frac_values_outside_01": float(((xn < 0) | (xn > 1) | ~finite).mean()),
            "frac_samples_outside_01": float(((xn < 0) | (xn > 1) | ~finite).reshape(len(xn), -1).any(1).mean()),
            "min": float(np.nanmin(xn)), "max": float(np.nanmax(xn)), "clipped_in_file": True}
        np.save(os.path.join(args.out, "samples.npy"), np.clip(np.nan_to_num(xn, nan=0.0), 0, 1).astype(np.float32))
        print(f"sampling: {args.n_samples} in {wall:.1f} s ({args.n_samples / wall:.3f} samples/s), "
              f"{metrics['sampler']['frac_values_outside_01']:.4f} of the values outside [0, 1] before clipping")
    metrics.update({"parameters": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads(),
                    "torch_version": torch.__version__, "args": vars(args)})
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    print(f"wrote {args.out}/{'samples.npy, ' if args.n_samples > 0 else ''}ema.safetensors, log.csv, metrics.json")


if __name__ == "__main__":
    main()
