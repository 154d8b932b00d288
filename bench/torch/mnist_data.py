#!/usr/bin/python3
"""MNIST-format data for the PyTorch twin of build/bin/mnist: IDX files, a seeded train/val split, and NCSN's
uniform dequantization.

Files (in DIR, e.g. data/mnist from scripts/fetch_mnist.sh, or /usr/share/datasets/fashion-mnist):
  {train,t10k}-images-idx3-ubyte[.gz]   magic 0x00000803, dims N, 28, 28 (big-endian uint32), N*784 bytes
  {train,t10k}-labels-idx1-ubyte[.gz]   magic 0x00000801, dim N, N bytes (0..9)
A file is gunzipped when it starts with the gzip magic 1f 8b, whatever its name; the plain name is tried
when the .gz one is absent. read_idx checks the magic, the dimensions and the length (header + product of
the dims, no trailing bytes) and raises ValueError naming the file and what it found.

split_train_val(n, val_fraction, seed): a permutation of 0..n-1 drawn with torch.Generator().manual_seed(seed);
the first round(n * val_fraction) indices are the validation split, the rest the training split.
dequantize(images_u8, generator): x = (byte + u) / 256, u ~ U[0, 1) per pixel, as NCSN's data pipeline
(uniform dequantization: a continuous density on [0, 1) whose bins are the 256 byte values), float32
[N, 1, 28, 28] in [0, 1).

  mnist_data.py DIR                     summary of DIR: counts, label histogram, pixel mean, split sizes
  mnist_data.py --self-test             writes IDX files to a temporary folder, reads them back, and checks
                                        that corrupt ones (magic, dims, length) are refused with clear errors
  mnist_data.py --make-subset SRC DST --n-train 8000 --n-t10k 2000
                                        writes the first N digits of SRC's files as gzipped IDX into DST
                                        (MNIST-format test files, e.g. from Fashion-MNIST)
"""
import argparse
import gzip
import json
import os
import struct
import sys
import tempfile

import numpy as np
import torch

IMAGES_MAGIC = 0x803  # uint8 (0x08), 3 dims
LABELS_MAGIC = 0x801  # uint8 (0x08), 1 dim
ROWS = COLS = 28


def _read_bytes(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: starts as gzip but does not decompress: {e}") from None
    return data


def read_idx(path, magic):
    """The uint8 array of an IDX file, shape = its dims. magic: IMAGES_MAGIC or LABELS_MAGIC."""
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: {len(data)} bytes, shorter than the 4-byte IDX magic")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        hint = "not an IDX file: its first two bytes must be 0" if found >> 16 else f"{found & 0xff} dims"
        raise ValueError(f"{path}: magic 0x{found:08x} ({hint}), expected 0x{magic:08x} "
                         f"(uint8, {magic & 0xff} dims)")
    ndim = magic & 0xff
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: {len(data)} bytes, shorter than the {4 + 4 * ndim}-byte header of {ndim} dims")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    expected = 4 + 4 * ndim + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise ValueError(f"{path}: {len(data)} bytes (after gunzip), expected {expected} for dims "
                         f"{list(dims)} ({'truncated' if len(data) < expected else 'trailing bytes'})")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()  # writable


def write_idx(path, array, compress=None):
    """Writes a uint8 array ([N, 28, 28] images or [N] labels) as IDX; gzipped when compress (default: when
    path ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    if compress if compress is not None else path.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as f:
        f.write(data)


def find_file(data_dir, name):
    """DIR/name.gz, else DIR/name; FileNotFoundError naming both when neither exists."""
    for candidate in (os.path.join(data_dir, name + ".gz"), os.path.join(data_dir, name)):
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"{os.path.join(data_dir, name)}[.gz]: no such file (run scripts/fetch_mnist.sh, "
                            f"or pass --data DIR holding {{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz])")


def split_paths(data_dir, split):
    """(images path, labels path) of split 'train' or 't10k'."""
    return (find_file(data_dir, f"{split}-images-idx3-ubyte"), find_file(data_dir, f"{split}-labels-idx1-ubyte"))


def load_split(data_dir, split, limit=None):
    """(images uint8 [N, 28, 28], labels uint8 [N]) of split 'train' or 't10k'; the first `limit` when given."""
    images_path, labels_path = split_paths(data_dir, split)
    images = read_idx(images_path, IMAGES_MAGIC)
    if images.shape[1:] != (ROWS, COLS):
        raise ValueError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected {ROWS}x{COLS}")
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(labels) != len(images):
        raise ValueError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}")
    if len(labels) and labels.max() > 9:
        raise ValueError(f"{labels_path}: label {labels.max()} out of 0..9")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def split_train_val(n, val_fraction, seed):
    """(train indices, val indices), int64 tensors: a seeded permutation, the first round(n f) for validation."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"--val-fraction: must be in [0, 1), got {val_fraction}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(round(n * val_fraction))
    return perm[n_val:], perm[:n_val]


def dequantize(images_u8, generator=None):
    """uint8 [N, 28, 28] (numpy or torch) -> float32 [N, 1, 28, 28], (byte + U[0, 1)) / 256."""
    b = torch.as_tensor(np.asarray(images_u8)).to(torch.float32)[:, None]
    return (b + torch.rand(b.shape, generator=generator)) / 256.0


def summary(data_dir, val_fraction=0.1, seed=0):
    out = {"data": data_dir}
    for split in ("train", "t10k"):
        images, labels = load_split(data_dir, split)
        out[split] = {"files": list(split_paths(data_dir, split)), "n": len(images),
                      "label_histogram": np.bincount(labels, minlength=10).tolist(),
                      "pixel_mean_bytes": float(images.mean()) if len(images) else None}
        if split == "train":
            train_idx, val_idx = split_train_val(len(images), val_fraction, seed)
            out["split"] = {"val_fraction": val_fraction, "seed": seed, "n_train": len(train_idx),
                            "n_val": len(val_idx)}
            x = dequantize(images[:1000], torch.Generator().manual_seed(seed))
            out["dequantized_first_1000"] = {"shape": list(x.shape), "dtype": str(x.dtype),
                                             "min": x.min().item(), "max": x.max().item(), "mean": x.mean().item()}
    return out


def self_test():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, ROWS, COLS), dtype=np.uint8)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    with tempfile.TemporaryDirectory() as d:
        write_idx(os.path.join(d, "train-images-idx3-ubyte.gz"), images)
        write_idx(os.path.join(d, "train-labels-idx1-ubyte"), labels)  # plain, found without .gz
        got_images, got_labels = load_split(d, "train")
        assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)
        x = dequantize(got_images, torch.Generator().manual_seed(1))
        assert x.shape == (5, 1, ROWS, COLS) and x.dtype == torch.float32
        assert torch.equal(torch.floor(x * 256).to(torch.uint8)[:, 0], torch.from_numpy(images))
        print("round trip (gzip images, plain labels), dequantize floor(256 x) = bytes: ok")

        bad = os.path.join(d, "bad")
        cases = [(struct.pack(">IIII", 0x803, 5, 28, 28) + images.tobytes()[:-1], IMAGES_MAGIC, "truncated"),
                 (struct.pack(">IIII", 0x803, 5, 28, 28) + images.tobytes() + b"x", IMAGES_MAGIC, "trailing"),
                 (struct.pack(">II", 0x801, 5) + labels.tobytes(), IMAGES_MAGIC, "magic 0x00000801"),
                 (struct.pack(">I", 0x803) + b"\0\0", IMAGES_MAGIC, "header of 3 dims"),
                 (b"\x1f\x8b\x08\0garbage", LABELS_MAGIC, "does not decompress")]
        for data, magic, expected in cases:
            with open(bad, "wb") as f:
                f.write(data)
            try:
                read_idx(bad, magic)
            except ValueError as e:
                assert bad in str(e) and expected in str(e), str(e)
                print(f"refused: {e}")
            else:
                raise AssertionError(f"accepted a bad file ({expected})")
        write_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"), images[:, :27])
        write_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"), labels)
        for call, expected in [(lambda: load_split(d, "t10k"), "expected 28x28"),
                               (lambda: load_split(os.path.join(d, "nowhere"), "train"), "no such file")]:
            try:
                call()
            except (ValueError, FileNotFoundError) as e:
                assert expected in str(e), str(e)
                print(f"refused: {e}")
            else:
                raise AssertionError(f"accepted ({expected})")
    train_idx, val_idx = split_train_val(1000, 0.1, seed=0)
    assert len(val_idx) == 100 and len(train_idx) == 900
    assert sorted(torch.cat([train_idx, val_idx]).tolist()) == list(range(1000))
    assert torch.equal(split_train_val(1000, 0.1, seed=0)[1], val_idx)
    assert not torch.equal(split_train_val(1000, 0.1, seed=1)[1], val_idx)
    print("split 1000 at 0.1: 900 / 100, a partition, same for the same seed: ok")


def make_subset(src, dst, n_train, n_t10k):
    os.makedirs(dst, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_t10k)):
        images, labels = load_split(src, split, limit=n)
        write_idx(os.path.join(dst, f"{split}-images-idx3-ubyte.gz"), images)
        write_idx(os.path.join(dst, f"{split}-labels-idx1-ubyte.gz"), labels)
        print(f"{dst}: {split} {len(images)} images from {src}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", default="data/mnist", help="folder of IDX files (default data/mnist)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="validation share of train (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    parser.add_argument("--self-test", action="store_true", help="round trip and corrupt-file checks")
    parser.add_argument("--make-subset", nargs=2, metavar=("SRC", "DST"), help="write the first digits of SRC to DST")
    parser.add_argument("--n-train", type=int, default=8000, help="--make-subset: train images (default 8000)")
    parser.add_argument("--n-t10k", type=int, default=2000, help="--make-subset: t10k images (default 2000)")
    args = parser.parse_args()
    if args.self_test:
        self_test()
    elif args.make_subset:
        make_subset(*args.make_subset, args.n_train, args.n_t10k)
    else:
        try:
            print(json.dumps(summary(args.data, args.val_fraction, args.seed), indent=1))
        except (ValueError, FileNotFoundError) as e:
            sys.exit(f"mnist_data.py: {e}")


if __name__ == "__main__":
    main()
