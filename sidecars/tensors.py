"""Named, typed tensors as the Open Inference Protocol (KServe v2) describes them, and how they
travel: raw little-endian bytes (gRPC `raw_input_contents`, REST's binary extension, framed and
msgpack infer) or JSON lists (REST without the extension). Every front-end decodes with these
functions and checks requests against the model's metadata with `check_inputs`, so a bad tensor
gets the same BAD_INPUT on every wire (docs/protocol.md, "Tensors").
"""
from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import SidecarError

# The protocol's datatypes and the numpy dtype each one is on the wire (always little-endian).
# BYTES has no fixed size: in raw form each element is a u32 LE length then that many bytes.
DATATYPES: dict[str, np.dtype[Any] | None] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": None,
}
MAX_RANK = 8
MAX_TENSORS = 64
_LEN = struct.Struct("<I")


def bad(message: str) -> SidecarError:
    return SidecarError("BAD_INPUT", message)


def check_datatype(datatype: Any) -> str:
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise bad(f"Expected `datatype` to be one of {', '.join(DATATYPES)}, got {datatype!r}")
    return datatype


def check_shape(shape: Any) -> list[int]:
    """A request's concrete shape: a list of at most MAX_RANK non-negative integers."""
    if not isinstance(shape, (list, tuple)) or len(shape) > MAX_RANK:
        raise bad(f"Expected `shape` to be a list of at most {MAX_RANK} integers, got {_short(shape)}")
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 0:
            raise bad(f"Expected every dimension of `shape` to be a non-negative integer, got {_short(shape)}")
    return [int(d) for d in shape]


def element_count(shape: Sequence[int]) -> int:
    return math.prod(shape)


def datatype_of(array: np.ndarray) -> str:
    """The protocol datatype for a numpy array (object or bytes arrays are BYTES)."""
    if array.dtype.kind in ("O", "S"):
        return "BYTES"
    for name, dtype in DATATYPES.items():
        if dtype is not None and dtype.kind == array.dtype.kind and dtype.itemsize == array.dtype.itemsize:
            return name
    raise SidecarError("MODEL_ERROR", f"The model returned a tensor of dtype {array.dtype}, which no wire datatype carries")


def from_raw(name: str, datatype: str, shape: Sequence[int], data: bytes | memoryview) -> np.ndarray:
    """Decode raw little-endian bytes into an array of `shape`; the size must match exactly."""
    dtype = DATATYPES[check_datatype(datatype)]
    count = element_count(check_shape(list(shape)))
    if dtype is None:
        return _bytes_from_raw(name, count, shape, memoryview(data))
    if len(data) != count * dtype.itemsize:
        raise bad(f"Expected {count * dtype.itemsize} bytes for input `{name}` ({datatype} {list(shape)}), got {len(data)}")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _bytes_from_raw(name: str, count: int, shape: Sequence[int], view: memoryview) -> np.ndarray:
    if count * _LEN.size > len(view):  # before allocating: dims may declare far more than was sent
        raise bad(f"Expected at least {count * _LEN.size} bytes for BYTES input `{name}` {list(shape)} "
                  f"(a u32 length per element), got {len(view)}")
    out = np.empty(count, dtype=object)
    offset = 0
    for i in range(count):
        if offset + 4 > len(view):
            raise bad(f"Input `{name}` (BYTES) ends inside element {i}'s length")
        (size,) = _LEN.unpack_from(view, offset)
        offset += 4
        if offset + size > len(view):
            raise bad(f"Input `{name}` (BYTES) element {i} declares {size} bytes; {len(view) - offset} are left")
        out[i] = bytes(view[offset:offset + size])
        offset += size
    if offset != len(view):
        raise bad(f"Input `{name}` (BYTES) has {len(view) - offset} bytes after its {count} elements")
    return out.reshape(shape)


def to_raw(array: np.ndarray, datatype: str) -> bytes:
    """The raw little-endian bytes of `array` as `datatype`."""
    dtype = DATATYPES[datatype]
    if dtype is None:
        parts: list[bytes] = []
        for item in array.reshape(-1):
            value = item.encode("utf-8") if isinstance(item, str) else bytes(item)
            parts.append(_LEN.pack(len(value)))
            parts.append(value)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def from_json(name: str, datatype: str, shape: Sequence[int], data: Any) -> np.ndarray:
    """REST's JSON form: `data` is a flat (or nested, row-major) list of numbers, booleans or, for
    BYTES, strings. NaN and infinities are not JSON and never arrive here."""
    dtype = DATATYPES[check_datatype(datatype)]
    count = element_count(check_shape(list(shape)))
    fast = None if dtype is None else _flat_numbers(data, dtype, count)
    if fast is not None:
        return fast.reshape(shape)
    flat = list(_flatten(name, data))
    if len(flat) != count:
        raise bad(f"Expected {count} elements for input `{name}` ({datatype} {list(shape)}), got {len(flat)}")
    if dtype is None:
        if not all(isinstance(v, str) for v in flat):
            raise bad(f"Expected the elements of BYTES input `{name}` to be strings")
        out = np.empty(count, dtype=object)
        out[:] = [v.encode("utf-8") for v in flat]
        return out.reshape(shape)
    for v in flat:
        ok = isinstance(v, bool) if dtype.kind == "b" else (isinstance(v, (int, float)) and not isinstance(v, bool))
        if not ok or (dtype.kind in "iu" and not float(v).is_integer()):
            raise bad(f"Expected the elements of input `{name}` to be {datatype} values, got {_short(v)}")
    try:
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            if any(v < info.min or v > info.max for v in flat):
                raise bad(f"An element of input `{name}` is out of range for {datatype}")
        return np.asarray(flat, dtype=dtype).reshape(shape)
    except OverflowError as exc:
        raise bad(f"An element of input `{name}` is out of range for {datatype}") from exc


# The element types each kind of datatype takes from JSON, without a look at the values.
_PLAIN = {"b": {bool}, "i": {int}, "u": {int}, "f": {int, float}}


def _flat_numbers(data: Any, dtype: np.dtype[Any], count: int) -> np.ndarray | None:
    """The common case, a flat list of plain numbers of the right kind, converted in C (a Python
    check per element cost 21 of 38 ms for 64 KiB of UINT8). None sends anything else (nesting,
    integral floats for an integer type, values out of range, wrong types) to the exact checks."""
    if not isinstance(data, list) or len(data) != count or not set(map(type, data)) <= _PLAIN[dtype.kind]:
        return None
    try:
        values = np.array(data)
    except (OverflowError, ValueError):
        return None
    if dtype.kind in "iu" and count:
        info = np.iinfo(dtype)
        if values.dtype.kind not in "iu" or values.min() < info.min or values.max() > info.max:
            return None
    return values.astype(dtype)


def to_json(array: np.ndarray, datatype: str) -> list[Any]:
    """A flat row-major list for REST's JSON form (BYTES elements as UTF-8 text)."""
    if DATATYPES[datatype] is None:
        return [bytes(v).decode("utf-8", "replace") if not isinstance(v, str) else v for v in array.reshape(-1)]
    return array.reshape(-1).tolist()


def _flatten(name: str, data: Any, depth: int = 0) -> Iterable[Any]:
    if not isinstance(data, list):
        raise bad(f"Expected `data` of input `{name}` to be a list, got {_short(data)}")
    for item in data:
        if isinstance(item, list):
            if depth >= MAX_RANK:
                raise bad(f"Expected `data` of input `{name}` to nest at most {MAX_RANK} levels")
            yield from _flatten(name, item, depth + 1)
        else:
            yield item


def check_inputs(specs: Sequence[Mapping[str, Any]], inputs: Mapping[str, np.ndarray],
                 datatypes: Mapping[str, str]) -> None:
    """Check decoded inputs against the model's metadata: every input named once, no unknown ones,
    the declared datatype, the declared rank, and each fixed dimension (-1 matches any size)."""
    known = {str(spec["name"]): spec for spec in specs}
    for name in inputs:
        if name not in known:
            raise bad(f"Unexpected input `{name}`: the model's inputs are {', '.join(known) or 'none'}")
    for name, spec in known.items():
        if name not in inputs:
            raise bad(f"Missing input `{name}` ({spec['datatype']} {list(spec['shape'])})")
        if datatypes[name] != spec["datatype"]:
            raise bad(f"Expected input `{name}` to be {spec['datatype']}, got {datatypes[name]}")
        shape, want = list(inputs[name].shape), list(spec["shape"])
        if len(shape) != len(want) or any(w != -1 and w != s for w, s in zip(want, shape)):
            raise bad(f"Expected input `{name}` to have shape {want} (-1: any size), got {shape}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
