"""The framed wire's tensor list (docs/protocol.md, "Tensors: the generic infer op"), one codec for
the framed front-end and the in-process driver (sidecars.inprocess) alike:

    u8 T (1..64), then T tensors, each:
    u8 name_len (1..255), name (UTF-8), u8 datatype code, u8 rank (0..8), rank x u32 BE dims,
    u32 BE data_len, data_len bytes of raw little-endian data (BYTES: per element u32 LE length + bytes)

Decoding checks every length against what is left before it slices, and a fixed-size tensor's
data_len against its dims before numpy sees it (tensors.from_raw does the same for BYTES), so a
request declaring huge dims allocates nothing.
Decoded arrays are read-only views of the request's bytes (no copy).
"""
from __future__ import annotations

import struct
from collections.abc import Mapping

import numpy as np

from ..errors import SidecarError
from ..tensors import DATATYPES, MAX_RANK, MAX_TENSORS, datatype_of, from_raw, to_raw

# The wire's datatype codes, in the order docs/protocol.md and transports/types.ts list them.
DATATYPE_CODES: dict[str, int] = {name: code for code, name in enumerate(DATATYPES)}
CODE_DATATYPES: dict[int, str] = {code: name for name, code in DATATYPE_CODES.items()}
_U32 = struct.Struct(">I")
MAX_U32 = 2**32 - 1


def bad(message: str) -> SidecarError:
    return SidecarError("BAD_INPUT", message)


def decode_tensors(body: bytes | memoryview) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors of a framed INFER request body, and the datatype each arrived as."""
    view = memoryview(body).cast("B")
    if len(view) < 1:
        raise bad("Expected an INFER body of at least 1 byte (the tensor count), got 0")
    count = view[0]
    if not 1 <= count <= MAX_TENSORS:
        raise bad(f"Expected 1 to {MAX_TENSORS} tensors, got {count}")
    inputs: dict[str, np.ndarray] = {}
    datatypes: dict[str, str] = {}
    offset = 1
    for index in range(count):
        name, datatype, array, offset = _decode_one(view, offset, index)
        if name in inputs:
            raise bad(f"Expected each tensor name once, got `{name}` twice")
        inputs[name], datatypes[name] = array, datatype
    if offset != len(view):
        raise bad(f"Expected the INFER body to end after its {count} tensors, got {len(view) - offset} more bytes")
    return inputs, datatypes


def _take(view: memoryview, offset: int, size: int, index: int, what: str) -> int:
    """The offset after `size` more bytes, or BAD_INPUT when the body ends first."""
    if offset + size > len(view):
        raise bad(f"Tensor {index} ends inside its {what}: {size} bytes needed at offset {offset}, "
                  f"{len(view) - offset} left")
    return offset + size


def _decode_one(view: memoryview, offset: int, index: int) -> tuple[str, str, np.ndarray, int]:
    start = _take(view, offset, 1, index, "name length")
    name_len = view[offset]
    if name_len == 0:
        raise bad(f"Expected tensor {index}'s name to be 1 to 255 bytes, got 0")
    end = _take(view, start, name_len, index, "name")
    try:
        name = bytes(view[start:end]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad(f"Expected tensor {index}'s name to be UTF-8: {exc}") from None
    offset = _take(view, end, 2, index, "datatype and rank")
    code, rank = view[end], view[end + 1]
    datatype = CODE_DATATYPES.get(code)
    if datatype is None:
        raise bad(f"Expected tensor `{name}`'s datatype code to be 0 to {len(CODE_DATATYPES) - 1}, got {code}")
    if rank > MAX_RANK:
        raise bad(f"Expected tensor `{name}`'s rank to be at most {MAX_RANK}, got {rank}")
    dims_end = _take(view, offset, 4 * rank, index, "dims")
    shape = [_U32.unpack_from(view, offset + 4 * i)[0] for i in range(rank)]
    data_start = _take(view, dims_end, 4, index, "data length")
    (data_len,) = _U32.unpack_from(view, dims_end)
    data_end = _take(view, data_start, data_len, index, "data")
    elements = 1
    for dim in shape:
        elements *= dim  # Python integers: no overflow, and no array is made from it
    itemsize = DATATYPES[datatype].itemsize if DATATYPES[datatype] is not None else None
    if itemsize is not None and elements * itemsize != data_len:
        raise bad(f"Expected {elements * itemsize} data bytes for tensor `{name}` ({datatype} {shape}), got {data_len}")
    return name, datatype, from_raw(name, datatype, shape, view[data_start:data_end]), data_end


def encode_tensors(outputs: Mapping[str, np.ndarray]) -> list[bytes]:
    """The tensor list of a framed INFER reply, as buffers (large data goes out uncopied)."""
    if not 1 <= len(outputs) <= MAX_TENSORS:
        raise SidecarError("MODEL_ERROR", f"Expected the model to return 1 to {MAX_TENSORS} outputs, got {len(outputs)}")
    parts: list[bytes] = [bytes([len(outputs)])]
    for name, array in outputs.items():
        datatype = "BYTES" if array.dtype.kind in "OSU" else datatype_of(array)
        data = to_raw(array, datatype)
        encoded = name.encode("utf-8")
        if not 1 <= len(encoded) <= 255 or array.ndim > MAX_RANK or len(data) > MAX_U32 \
                or any(d > MAX_U32 for d in array.shape):
            raise SidecarError("MODEL_ERROR", f"Output `{name}` ({datatype} {list(array.shape)}, {len(data)} bytes) "
                                              f"does not fit the framed tensor format's limits")
        head = bytes([len(encoded)]) + encoded + bytes([DATATYPE_CODES[datatype], array.ndim])
        head += b"".join(_U32.pack(d) for d in array.shape) + _U32.pack(len(data))
        parts.append(head)
        parts.append(data)
    return parts


def coalesce(parts: list[bytes], separate_above: int = 64 * 1024) -> list[bytes]:
    """Join neighbouring small buffers, so a reply of many small tensors goes out in one send while
    a large tensor's data still goes out uncopied."""
    out: list[bytes] = []
    small: list[bytes] = []
    for part in parts:
        if len(part) > separate_above:
            if small:
                out.append(b"".join(small))
                small = []
            out.append(part)
        else:
            small.append(part)
    if small:
        out.append(b"".join(small))
    return out
