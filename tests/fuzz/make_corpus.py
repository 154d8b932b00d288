#!/usr/bin/env python3
"""tests/fuzz/make_corpus.py: writes the seed corpus of each fuzz target, tests/fuzz/corpus/<target>/,
and its libFuzzer dictionary, tests/fuzz/<target>.dict. Deterministic (gzip with mtime 0, fixed values),
standard library only; the files are committed, so run it again only to change them:

    python3 tests/fuzz/make_corpus.py

Every seed is a valid input (tests/test_fuzz_corpus.cpp checks that each one parses). The flag names of
the CLI and TOML dictionaries are read from apps/{mnist,gmm}/config.cpp.
"""
import gzip
import json
import pathlib
import re
import shutil
import struct

ROOT = pathlib.Path(__file__).resolve().parent
REPO = ROOT.parents[1]


def write_corpus(target, files):
    folder = ROOT / "corpus" / target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)


def write_dict(target, entries):
    lines = [f"# libFuzzer dictionary of {target} (tests/fuzz/make_corpus.py)"]
    for entry in entries:
        escaped = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else f"\\x{ord(c):02x}" for c in entry)
        lines.append(f'"{escaped}"')
    (ROOT / f"{target}.dict").write_text("\n".join(lines) + "\n")


def gz(data):
    return gzip.compress(data, compresslevel=6, mtime=0)


# IDX (tensor/idx.h): 00 00 08 ndims, big-endian uint32 dims, the bytes.
def idx(dims, fill=lambda i: i % 256):
    n = 1
    for d in dims:
        n *= d
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(fill(i) for i in range(n))


def idx_corpus():
    labels = idx([10], lambda i: i % 10)
    images = idx([3, 4, 4], lambda i: (i * 37) % 256)
    whole = idx([1, 2, 2, 3])
    write_corpus("fuzz_idx", {
        "labels.idx": labels,
        "images.idx": images,
        "four_dims.idx": whole,
        "labels.idx.gz": gz(labels),
        "images.idx.gz": gz(images),
        "two_members.idx.gz": gz(whole[:9]) + gz(whole[9:]),  # `cat a.gz b.gz`, read as gunzip reads it
    })
    write_dict("fuzz_idx", ["\x00\x00\x08\x01", "\x00\x00\x08\x03", "\x00\x00\x08\x04", "\x1f\x8b\x08\x00",
                            "\x00\x00\x00\x1c", "\xff\xff\xff\xff"])


# .npy (tensor/npy.h), laid out as numpy.save (>= 1.23) and scorch's npy_bytes lay it out.
def npy_dict(descr, shape):
    shape_text = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}"
    return text + (" " * (21 - len(str(shape[0]))) if shape else "")  # room for shape[0] to grow


def npy(dict_text, data, major=1):
    length_bytes = 2 if major == 1 else 4
    pad = 64 - (6 + 2 + length_bytes + len(dict_text) + 1) % 64
    header = dict_text + " " * pad + "\n"
    length = struct.pack("<H" if major == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([major, 0]) + length + header.encode() + data


def npy_corpus():
    write_corpus("fuzz_npy", {
        "f4_2x3.npy": npy(npy_dict("<f4", (2, 3)), struct.pack("<6f", 0, 1, -2.5, 3, 1e-3, 7)),
        "f8_4.npy": npy(npy_dict("<f8", (4,)), struct.pack("<4d", 0.5, -1, 2, 1e300)),
        "i8_scalar.npy": npy(npy_dict("<i8", ()), struct.pack("<q", -8000000000000)),
        "u1_empty.npy": npy(npy_dict("|u1", (0, 3)), b""),
        "u1_2x1x2_v2.npy": npy(npy_dict("|u1", (2, 1, 2)), bytes([0, 1, 254, 255]), major=2),
        "f4_keys_reordered.npy": npy('{"shape": (2,), "fortran_order": False, "descr": "<f4"}',
                                     struct.pack("<2f", 1, 2)),
    })
    write_dict("fuzz_npy", ["\x93NUMPY\x01\x00", "\x93NUMPY\x02\x00", "'descr'", "'fortran_order'", "'shape'",
                            "'<f4'", "'<f8'", "'<i8'", "'|u1'", "True", "False", "()", ",)", ", ", ": ", "}", "\n"])


# safetensors (nn/safetensors.h): uint64 header length, JSON header padded to 8, the data.
def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in sorted(tensors.items()):
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_corpus():
    write_corpus("fuzz_safetensors", {
        "two_tensors.safetensors": safetensors(
            {"net.0.weight": ("F32", (2, 2), struct.pack("<4f", 1, 2, 3, 4)),
             "net.0.bias": ("F32", (2,), struct.pack("<2f", 0.5, -0.5))},
            {"model": "mlp", "step": "2000"}),
        "all_dtypes.safetensors": safetensors(
            {"a": ("F64", (1,), struct.pack("<d", 3.25)), "b": ("I64", (2,), struct.pack("<2q", -1, 1 << 40)),
             "c": ("U8", (3, 1), bytes([7, 8, 9])), "d": ("F32", (), struct.pack("<f", 1))}),
        "empty_tensor.safetensors": safetensors({"empty": ("F32", (0, 4), b"")}),
        "no_tensors.safetensors": safetensors({}),
    })
    write_dict("fuzz_safetensors", ['"dtype"', '"shape"', '"data_offsets"', '"__metadata__"', '"F32"', '"F64"',
                                    '"I64"', '"U8"', '"BF16"', "[0,4]", "[]", "{}", ":", ",", "\\u0000"])


def checkpoint(**changes):
    """An mnist checkpoint (apps/mnist/checkpoint.cpp) of one tiny model, its metadata changed by `changes`."""
    metadata = {"format": "scorch-mnist-checkpoint/1", "config": 'model = "mlp"\n', "step": "20",
                "rng_offset": "640", "best_val_loss": "0x1.8p-1", "best_step": "10", "bad_evals": "1",
                "loss_sum": "0x1.4p+2", "loss_count": "10", "ema_updates": "20", "elapsed_s": "0x1.8p+0"}
    metadata.update(changes)
    return safetensors({"model.w": ("F32", (2,), struct.pack("<2f", 1, -1)),
                        "ema.w": ("F32", (2,), struct.pack("<2f", 0.5, -0.5)),
                        "optim.step": ("I64", (), struct.pack("<q", 20))}, metadata)


def checkpoint_corpus():
    write_corpus("fuzz_checkpoint", {
        "resumable.safetensors": checkpoint(),
        "before_first_validation.safetensors": checkpoint(best_val_loss="inf", best_step="0", bad_evals="0"),
        "fresh.safetensors": checkpoint(step="0", rng_offset="0", best_val_loss="inf", best_step="0", bad_evals="0",
                                        loss_sum="0x0p+0", loss_count="0", ema_updates="0", elapsed_s="0x0p+0"),
        "huge_counts.safetensors": checkpoint(step="9223372036854775807", rng_offset="18446744073709551615",
                                              ema_updates="9223372036854775807"),
    })
    write_dict("fuzz_checkpoint", ['"step"', '"rng_offset"', '"best_val_loss"', '"best_step"', '"bad_evals"',
                                   '"loss_sum"', '"loss_count"', '"ema_updates"', '"elapsed_s"', '"-5"', '"1e300"',
                                   '"nan"', '"-inf"', '"inf"', '"0x1p+0"', '"9223372036854775808"', '"2.5"'])


def regressions():
    """Inputs that once crashed a parser (tests/fuzz/regressions/, listed in tests/test_fuzz_inputs.cpp)."""
    folder = ROOT / "regressions"
    (folder / "fuzz_safetensors").mkdir(parents=True, exist_ok=True)
    (folder / "fuzz_checkpoint").mkdir(parents=True, exist_ok=True)
    # 50,000 nested '[' (issue 23): printing the value for the error recursed and overflowed the stack.
    header = b'{"x":' + b"[" * 50000 + b"]" * 50000 + b"}"
    (folder / "fuzz_safetensors" / "nested_50000.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    # Cast unchecked to integers (issue 23): --resume segfaulted in dequantize(), or made garbage EMA weights.
    for name, changes in {"step_negative": {"step": "-5"}, "step_1e300": {"step": "1e300"},
                          "step_nan": {"step": "nan"}, "ema_updates_negative": {"ema_updates": "-3"},
                          "best_val_loss_nan": {"best_val_loss": "nan"}}.items():
        (folder / "fuzz_checkpoint" / f"{name}.safetensors").write_bytes(checkpoint(**changes))


def flag_names(source):
    text = (REPO / source).read_text()
    return sorted({name for names in re.findall(r'add_(?:option|flag|real|switch)\((?:app, )?\s*"([^"]+)"', text)
                   for name in names.split(",")})


# The mnist config file (apps/mnist/config.h): CLI11's TOML, keys = the long flags without "--".
# DEFAULTS_TOML is mnist_toml(MnistConfig{}), what training writes to <weights-dir>/config.toml.
DEFAULTS_TOML = """# mnist settings (read back with --config FILE)
dataset="mnist"
data-dir=""
val-fraction=0.1
model="unet-small"
width=0
sigma-max=1
sigma-min=0.01
levels=10
noise="levels"
batch=64
lr=0.001
steps=3000
epochs=0
ema=0.999
ema-warmup=1
clip=1
patience=5
min-delta=0
val-interval=250
seed=0
device="cpu"
threads=0
weights-dir="model_weights"
resume=false
inference_only=false
weights=""
samples-dir="model_samples"
sampler="annealed"
n-samples=64
steps-per-level=100
step-lr=2e-05
denoise=1
ode-solver="rk45"
sample-steps=0
rtol=1e-05
atol=1e-05
predictor="reverse_diffusion"
corrector-steps=1
snr=0.16
warm-start=100
rho=7
"""


def mnist_config_corpus():
    write_corpus("fuzz_mnist_config", {
        "empty.toml": "",
        "defaults.toml": DEFAULTS_TOML,
        "training.toml": 'model="refinenet"\nwidth=16\nsigma-max=50\nlevels=232\nlr=0.0001\nema-warmup=false\nclip=0\n',
        "sampling.toml": ('sampler="ode"\node-solver="heun"\nsample-steps=100\nrtol=1e-05\natol=1e-05\n'
                          "warm-start=0\ndenoise=false\nn-samples=16\n"),
        "refinenet.toml": 'model = "refinenet"\nwidth = 16\nnoise = "levels"\npredictor = "ode"\nsnr = 0.16\n',
        "fashion.toml": "dataset = 'fashion'\ndata-dir = \"/tmp/fashion mnist\"\nval-fraction = 0.2\nepochs = 3\n",
    })
    keys = [f.lstrip("-") for f in flag_names("apps/mnist/config.cpp") if f.startswith("--")]
    write_dict("fuzz_mnist_config", [k + "=" for k in keys] + ["true", "false", "\"", "'", "[", "]", "#", "\n",
                                                               "1e308", "nan", "inf", "-1", "0x10", "0.1234567891",
                                                               "123456789", "4.9e-324"])


# Command lines (apps/{mnist,gmm}/config.h): words separated by spaces.
def cli_corpus():
    write_corpus("fuzz_cli", {
        "empty": "",
        "help": "--help",
        "gmm_quick": "--quick --steps 5 --n-samples 100 --seed 3",
        "gmm_mixture": "--weights 0.5,0.5 --means 1,1;-1,-1 --covariances 1,0,0,1;2,0.5,0.5,2 --sigma-max 4",
        "gmm_uncond": "--model mlp-uncond --objective ssm --sampler langevin --field-sigma 0.1",
        "mnist_train": "--model refinenet --width 16 --levels 8 --lr=2e-4 --batch 32 --ema-warmup false",
        "mnist_sample": "--inference_only --sampler pc --predictor ode --corrector-steps 2 --snr 0.1 --n-samples 4",
    })
    flags = sorted(set(flag_names("apps/mnist/config.cpp")) | set(flag_names("apps/gmm/config.cpp")))
    write_dict("fuzz_cli", [f + " " for f in flags if f != "--config"] +
               ["--help", "=", ",", ";", " 0", " -1", " 1e-3", " nan", " inf", " true", " mlp", " refinenet",
                " 0.1234567891", " 123456789", " 4.9e-324"])


if __name__ == "__main__":
    idx_corpus()
    npy_corpus()
    safetensors_corpus()
    checkpoint_corpus()
    mnist_config_corpus()
    cli_corpus()
    regressions()
