"""A safetensors reader (no dependency): 8-byte little-endian header length, JSON header, raw data.

Tensors are views on a private (copy-on-write) memory map, so a multi-GB file is not read into
memory twice; the map lives as long as any tensor that views it.
"""
from __future__ import annotations

import json
import math
import mmap
import struct
from pathlib import Path

import torch

DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the format's own limit; a larger value means a corrupt file


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Return (tensors by name, the header's __metadata__)."""
    path = Path(path)
    with path.open("rb") as f:
        size = path.stat().st_size
        if size < 8:
            raise ValueError(f"{path} is not safetensors: {size} bytes is shorter than the 8-byte header length")
        (header_len,) = struct.unpack("<Q", f.read(8))
        if header_len > min(MAX_HEADER_BYTES, size - 8):
            raise ValueError(f"{path} is not safetensors: header length {header_len} for a {size}-byte file")
        header = json.loads(f.read(header_len).decode("utf-8"))
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    if not isinstance(header, dict):
        raise ValueError(f"{path}: expected the safetensors header to be a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    base = 8 + header_len
    tensors = {name: _tensor(path, name, info, mapped, base, size) for name, info in header.items()}
    return tensors, metadata


def _tensor(path: Path, name: str, info: dict, mapped: mmap.mmap, base: int, size: int) -> torch.Tensor:
    try:
        dtype = DTYPES[info["dtype"]]
        shape = [int(d) for d in info["shape"]]
        begin, end = (int(o) for o in info["data_offsets"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: tensor `{name}` has a malformed header entry {info!r}") from exc
    count = math.prod(shape)
    nbytes = count * torch.empty((), dtype=dtype).element_size()
    if end - begin != nbytes or begin < 0 or base + end > size:
        raise ValueError(f"{path}: tensor `{name}` ({info['dtype']} {shape}) has data offsets "
                         f"[{begin}, {end}) that do not fit its size {nbytes} or the file")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(mapped, dtype=dtype, count=count, offset=base + begin).view(shape)
