"""A small safetensors reader and writer (numpy + torch, no `safetensors` package), the twin of scorch's
nn/safetensors.{h,cpp}.

Layout: N (uint64, little-endian) = header length; N bytes of JSON
  {"__metadata__": {str: str}, name: {"dtype": "F32"|"F64"|"I64"|"U8", "shape": [...],
                                      "data_offsets": [begin, end]}, ...}
padded with spaces to a multiple of 8; then the tensors' raw little-endian bytes, row-major, offsets
counted from the start of that section. save_file lays tensors out back to back in name order.
load_file checks what the reference implementation checks: header length within the file, known dtypes,
end - begin = numel * itemsize, and the entries tiling the data section with no gap, overlap or tail.
"""
import json
import struct

import numpy as np
import torch

DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"), "U8": np.dtype("u1")}
CODES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.uint8: "U8"}


def save_file(path, tensors, metadata=None):
    """tensors: {name: torch.Tensor (float32, float64, int64 or uint8)}; metadata: {str: str}."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in CODES:
            raise ValueError(f"save_file: {path}: tensor {name!r} has dtype {t.dtype}, expected one of "
                             f"{', '.join(str(d) for d in CODES)}")
        code = CODES[t.dtype]
        blob = t.numpy().astype(DTYPES[code], copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def load_file(path):
    """({name: torch.Tensor}, {metadata}) from a safetensors file; raises ValueError naming the problem."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file ({len(data)} bytes)")
    header = json.loads(data[8:8 + n])
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the header must be a JSON object")
    body = data[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    tensors, spans = {}, []
    for name, entry in header.items():
        code, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        if code not in DTYPES:
            raise ValueError(f"{path}: tensor {name!r}: dtype {code!r} is not one of {', '.join(DTYPES)}")
        numel = int(np.prod(shape, dtype=np.int64))
        if end - begin != numel * DTYPES[code].itemsize or begin > end:
            raise ValueError(f"{path}: tensor {name!r}: data_offsets [{begin}, {end}] do not hold {code} {shape}")
        array = np.frombuffer(body, dtype=DTYPES[code], count=numel, offset=begin).reshape(shape)
        tensors[name] = torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=True))
        spans.append((begin, end, name))
    covered = 0
    for begin, end, name in sorted(spans):
        if begin != covered:
            raise ValueError(f"{path}: tensor {name!r} starts at {begin}, expected {covered} (gap or overlap)")
        covered = end
    if covered != len(body):
        raise ValueError(f"{path}: {len(body) - covered} bytes after the last tensor belong to no tensor")
    return tensors, metadata
