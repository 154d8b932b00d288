#!/usr/bin/python3
"""Scores MNIST samples (from build/bin/mnist or mnist_train.py) with a small held-out digit classifier:
the Frechet distance of its features to the t10k digits, the classes it sees, and its confidence.

Classifier: conv3x3 1->32, ReLU, maxpool 2 -> conv3x3 32->64, ReLU, maxpool 2 -> fc 3136->128, ReLU
(the 128-d features) -> fc 128->10. Trained with Adam (--lr 1e-3, --batch 128, --epochs 5, seeded by
--seed) on the train file of --data (the first --limit digits when given), each image dequantized anew per
epoch as the score model sees it, x = (byte + U[0, 1)) / 256. The t10k digits are never trained on: they
give the test accuracy and the reference features. The weights are cached in --classifier (default
DATA/classifier.pt when DATA lies inside the current folder, as data/mnist from the repository root; else
runs/classifiers/<name of DATA>.pt) together with a key: the SHA-256 of the train image and label files
and the training settings. A cache whose key differs is retrained and overwritten (--retrain forces it).

Frechet distance of two feature sets with means mu1, mu2 and covariances S1, S2 (np.cov, n - 1):
    FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2)
with both square roots from numpy's eigh of symmetric matrices (negative round-off eigenvalues set to 0;
no scipy). tr((S1^1/2 S2 S1^1/2)^1/2) = tr((S1 S2)^1/2), FID's term (Heusel et al., NeurIPS 2017), here on
this classifier's features rather than Inception's, so the numbers compare only with each other.
Reference set: all t10k digits, dequantized with a generator seeded by --seed + 1. The floor: a random
subset of the train digits (generator --seed + 2) of the same size as the samples, against the same t10k
features: FD is biased upwards at small n, so a score is read against the floor of its own n.

Per samples file ([n, 1, 28, 28], [n, 28, 28] or [n, 784], float): samples with a non-finite value are
counted and left out; the others are clipped to [0, 1] and scored: fd, fd_floor, class_histogram
(predicted classes), classes_present, mean_max_softmax, pixel_mean; and, from before clipping,
frac_values_outside_01 and frac_samples_outside_01 (0 for files saved clipped, as mnist_train.py's
samples.npy: its metrics.json has the figures from before clipping).

  mnist_fd.py runs/torch-mnist/samples.npy runs/mnist/samples.npy       C++ and PyTorch, one classifier
  mnist_fd.py S.npy --data /usr/share/datasets/fashion-mnist --json fd.json
  mnist_fd.py --data DIR                  only trains (or loads) the classifier and prints its accuracy
  mnist_fd.py --self-test                 checks frechet_distance against closed forms
JSON goes to stdout (or --json FILE); progress to stderr.
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_data import dequantize, load_split, split_paths  # noqa: E402

ARCH = "conv32-pool-conv64-pool-fc128-fc10 v1"
FASHION_CLASSES = ["t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot"]


class DigitClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def features(self, x):  # [N, 1, 28, 28] -> [N, 128]
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x):
        return self.fc2(self.features(x))


def log(message):
    print(message, file=sys.stderr, flush=True)


def file_sha256(paths):
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


@torch.no_grad()
def run_batched(fn, x, batch=500):
    return torch.cat([fn(x[i:i + batch]) for i in range(0, len(x), batch)])


def train_classifier(images, labels, args):
    torch.manual_seed(args.seed)
    model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    y_all = torch.from_numpy(labels.astype(np.int64))
    for epoch in range(1, args.epochs + 1):
        t0, perm, total, correct = time.perf_counter(), torch.randperm(len(images)), 0.0, 0
        x_all = dequantize(images)
        for i in range(0, len(images), args.batch):
            idx = perm[i:i + args.batch]
            logits = model(x_all[idx])
            loss = F.cross_entropy(logits, y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            correct += (logits.argmax(1) == y_all[idx]).sum().item()
        log(f"classifier epoch {epoch}/{args.epochs}: loss {total / len(images):.4f}, train accuracy "
            f"{correct / len(images):.4f}, {time.perf_counter() - t0:.1f} s")
    return model.eval()


def get_classifier(args, train_images, train_labels):
    """(model, info): loaded from args.classifier when its key matches, else trained and saved there."""
    key = {"arch": ARCH, "train_sha256": file_sha256(split_paths(args.data, "train")), "epochs": args.epochs,
           "limit": args.limit, "seed": args.seed, "batch": args.batch, "lr": args.lr}
    if os.path.isfile(args.classifier) and not args.retrain:
        cached = torch.load(args.classifier)
        if cached.get("key") == key:
            model = DigitClassifier()
            model.load_state_dict(cached["state_dict"])
            log(f"classifier: loaded {args.classifier}")
            return model.eval(), {"path": args.classifier, "trained_now": False, **key}
        log(f"classifier: {args.classifier} was trained on other data or settings; retraining")
    log(f"classifier: training on {len(train_images)} digits of {args.data}")
    t0 = time.perf_counter()
    model = train_classifier(train_images, train_labels, args)
    os.makedirs(os.path.dirname(os.path.abspath(args.classifier)), exist_ok=True)
    torch.save({"key": key, "state_dict": model.state_dict()}, args.classifier)
    log(f"classifier: saved {args.classifier}")
    return model, {"path": args.classifier, "trained_now": True, "train_s": time.perf_counter() - t0, **key}


def sqrtm_psd(a):
    """Square root of a symmetric positive semi-definite matrix by eigh; round-off negatives set to 0."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(f1, f2):
    """FD between the Gaussians fitted to feature sets f1 [n1, d] and f2 [n2, d] (float64)."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    s1h = sqrtm_psd(s1)
    m = s1h @ s2 @ s1h
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


def load_samples(path):
    x = np.load(path)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{path}: dtype {x.dtype}, expected float samples in [0, 1]")
    if x.ndim == 4 and x.shape[1:] == (1, 28, 28) or x.ndim == 3 and x.shape[1:] == (28, 28) or \
            x.ndim == 2 and x.shape[1] == 784:
        return x.reshape(len(x), 1, 28, 28).astype(np.float32)
    raise ValueError(f"{path}: shape {list(x.shape)}, expected [n, 1, 28, 28], [n, 28, 28] or [n, 784]")


@torch.no_grad()
def classify(model, x):
    """(features float64 [n, 128], softmax probabilities [n, 10]) of x [n, 1, 28, 28] float32."""
    features = run_batched(model.features, x)
    probs = F.softmax(model.fc2(features), dim=1)
    return features.double().numpy(), probs.numpy()


def class_stats(probs):
    hist = np.bincount(probs.argmax(1), minlength=10)
    return {"class_histogram": hist.tolist(), "classes_present": int((hist > 0).sum()),
            "mean_max_softmax": float(probs.max(1).mean())}


def score_file(path, model, real_features, floor):
    raw = load_samples(path)
    finite = np.isfinite(raw).reshape(len(raw), -1).all(1)
    outside = (raw < 0) | (raw > 1) | ~np.isfinite(raw)
    x = torch.from_numpy(np.clip(raw[finite], 0, 1))
    out = {"file": path, "n": len(raw), "n_nonfinite": int((~finite).sum()), "n_scored": len(x),
           "frac_values_outside_01": float(outside.mean()),
           "frac_samples_outside_01": float(outside.reshape(len(raw), -1).any(1).mean()),
           "min": float(np.nanmin(raw)), "max": float(np.nanmax(raw)), "pixel_mean": float(x.mean())}
    if len(x) < 2:
        raise ValueError(f"{path}: {len(x)} finite samples, need at least 2 for a covariance")
    features, probs = classify(model, x)
    out["fd"] = frechet_distance(features, real_features)
    out["fd_floor"] = floor(len(x))
    out.update(class_stats(probs))
    return out


def self_test():
    rng = np.random.default_rng(0)
    # Diagonal covariances: FD = |mu1 - mu2|^2 + sum (sqrt a - sqrt b)^2. Large n, so the sample
    # statistics are close to the true ones; compare with the closed form of the sample statistics.
    f1, f2 = rng.normal(size=(4000, 5)) * [1, 2, 3, 0.5, 1], rng.normal(size=(3000, 5)) + 1
    a, b = np.var(f1, axis=0, ddof=1), np.var(f2, axis=0, ddof=1)
    v1, v2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    # Independent check for full covariances: tr((S1 S2)^1/2) = sum sqrt(eigenvalues of S1 S2).
    expected = float(((f1.mean(0) - f2.mean(0)) ** 2).sum() + np.trace(v1) + np.trace(v2)
                     - 2 * np.sqrt(np.linalg.eigvals(v1 @ v2).real.clip(0)).sum())
    got = frechet_distance(f1, f2)
    assert abs(got - expected) < 1e-9 * max(1, expected), (got, expected)
    diag = float(((f1.mean(0) - f2.mean(0)) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    print(f"FD {got:.6f}, via eig(S1 S2) {expected:.6f}, diagonal approximation {diag:.4f}: ok")
    assert abs(frechet_distance(f1, f1)) < 1e-8
    rank_deficient = np.concatenate([f1[:, :3], f1[:, :3] @ rng.normal(size=(3, 4))], axis=1)  # 7-d, rank 3
    assert abs(frechet_distance(rank_deficient, rank_deficient)) < 1e-6
    print("FD(f, f) = 0, also for a rank-deficient covariance: ok")


def default_classifier_path(data):
    inside = os.path.abspath(data).startswith(os.path.abspath(os.getcwd()) + os.sep)
    name = os.path.basename(os.path.normpath(os.path.abspath(data)))
    return os.path.join(data, "classifier.pt") if inside else os.path.join("runs", "classifiers", f"{name}.pt")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = parser.add_argument
    a("samples", nargs="*", help="samples .npy files to score")
    a("--data", default="data/mnist", help="folder of the IDX files (default data/mnist)")
    a("--classifier", help="cache of the classifier weights (default: see above)")
    a("--retrain", action="store_true", help="train the classifier even when the cache matches")
    a("--epochs", type=int, default=5, help="classifier epochs (default 5)")
    a("--limit", type=int, help="train the classifier on the first N train digits only")
    a("--batch", type=int, default=128, help="classifier batch (default 128)")
    a("--lr", type=float, default=1e-3, help="classifier Adam learning rate (default 1e-3)")
    a("--seed", type=int, default=0, help="classifier init and order; real-set noise and subsets (default 0)")
    a("--json", help="write the JSON here instead of stdout")
    a("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    a("--self-test", action="store_true", help="check frechet_distance and exit")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return
    torch.set_num_threads(args.threads)
    args.classifier = args.classifier or default_classifier_path(args.data)
    try:
        for path in args.samples:  # fail before training the classifier
            load_samples(path)
        train_images, train_labels = load_split(args.data, "train", limit=args.limit)
        test_images, test_labels = load_split(args.data, "t10k")
        model, info = get_classifier(args, train_images, train_labels)
        real_x = dequantize(test_images, torch.Generator().manual_seed(args.seed + 1))
        real_features, real_probs = classify(model, real_x)
        info["test_accuracy"] = float((real_probs.argmax(1) == test_labels).mean())
        log(f"classifier: accuracy {info['test_accuracy']:.4f} on the {len(test_images)} t10k digits")

        floors = {}

        def floor(n):  # FD of n random train digits vs t10k
            if n not in floors:
                g = torch.Generator().manual_seed(args.seed + 2)
                idx = torch.randperm(len(train_images), generator=g)[:n].numpy()
                floors[n] = frechet_distance(classify(model, dequantize(train_images[idx], g))[0], real_features)
            return floors[n]

        result = {"data": args.data, "classifier": info,
                  "t10k": {"n": len(test_images), "pixel_mean": float(real_x.mean()), **class_stats(real_probs)},
                  "samples": []}
        if "fashion" in args.data.lower():
            result["class_names"] = FASHION_CLASSES
        for path in args.samples:
            r = score_file(path, model, real_features, floor)
            log(f"{path}: FD {r['fd']:.3f} (floor {r['fd_floor']:.3f} at n = {r['n_scored']}), "
                f"{r['classes_present']} classes, mean max softmax {r['mean_max_softmax']:.3f}")
            result["samples"].append(r)
        result["fd_floor_by_n"] = {str(n): v for n, v in sorted(floors.items())}
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"mnist_fd.py: {e}")
    text = json.dumps(result, indent=1)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
        log(f"wrote {args.json}")
    else:
        print(text)


if __name__ == "__main__":
    main()
