"""A GGUF (v2/v3) container parser: metadata, tensor directory and raw tensor bytes.

Written here because gguf.GGUFReader builds numpy views for every one of Gemma's 262k vocabulary
strings (8-25 s); plain struct parsing takes well under a second. Dequantizing stays in `gguf`.
"""
from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_SCALARS: dict[int, str] = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class GGUFTensor:
    name: str
    shape: tuple[int, ...]  # numpy / torch order: outermost axis first
    ggml_type: int
    data: np.ndarray  # raw bytes, uint8 [rows, bytes per row]


class _Cursor:
    def __init__(self, buf: mmap.mmap) -> None:
        self.buf, self.pos = buf, 0

    def unpack(self, fmt: str) -> Any:
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.unpack("<Q")
        self.pos += n
        return bytes(self.buf[self.pos - n:self.pos]).decode("utf-8", errors="replace")

    def value(self, kind: int) -> Any:
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item_kind, count = self.unpack("<I"), self.unpack("<Q")
            return [self.value(item_kind) for _ in range(count)]
        return self.unpack(_SCALARS[kind])


def read_gguf_file(path: str | Path) -> tuple[dict[str, Any], list[GGUFTensor]]:
    """(metadata by key, tensors); tensor data are views on a private memory map of the file."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    with open(path, "rb") as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    cur = _Cursor(buf)
    if bytes(buf[:4]) != b"GGUF":
        raise ValueError(f"{path} is not a GGUF file")
    cur.pos = 4
    version = cur.unpack("<I")
    if version not in (2, 3):
        raise ValueError(f"{path}: GGUF version {version} is not supported (2 or 3)")
    n_tensors, n_kv = cur.unpack("<Q"), cur.unpack("<Q")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        metadata[key] = cur.value(cur.unpack("<I"))
    infos = []
    for _ in range(n_tensors):
        name = cur.string()
        dims = [cur.unpack("<Q") for _ in range(cur.unpack("<I"))]
        infos.append((name, tuple(reversed(dims)), cur.unpack("<I"), cur.unpack("<Q")))
    alignment = int(metadata.get("general.alignment", 32))
    start = -(-cur.pos // alignment) * alignment
    raw = np.frombuffer(buf, dtype=np.uint8)
    tensors = []
    for name, shape, kind, offset in infos:
        block, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
        row_bytes = shape[-1] // block * block_bytes
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        begin = start + offset
        if begin + rows * row_bytes > len(raw):
            raise ValueError(f"{path}: tensor `{name}` runs past the end of the file")
        tensors.append(GGUFTensor(name, shape, kind, raw[begin:begin + rows * row_bytes].reshape(rows, row_bytes)))
    return metadata, tensors
