"""The in-process driver's infer command (sidecars.inprocess): the --tensors file of framed INFER
request bodies, decoded once before the first command, and each item run through sidecars.ops.infer
as a front-end runs it once it has decoded a request."""
from __future__ import annotations

import base64
import struct
import time
from pathlib import Path
from typing import Any

from .cores.base import Core
from .errors import SidecarError
from .frontends.tensor_frames import decode_tensors, encode_tensors
from .ops import infer

Request = tuple[dict[str, Any], dict[str, str]]
_LENGTH = struct.Struct(">I")


def read_tensors(path: str) -> list[Request]:
    """The requests of a --tensors file, decoded (tensor_frames.py); a bad one names its index."""
    data = memoryview(Path(path).read_bytes())
    requests: list[Request] = []
    offset = 0
    while offset < len(data):
        if offset + _LENGTH.size > len(data):
            raise ValueError(f"{path}: request {len(requests)} ends inside its u32 length")
        (size,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + size > len(data):
            raise ValueError(f"{path}: request {len(requests)} declares {size} bytes; {len(data) - offset} are left")
        try:
            requests.append(decode_tensors(data[offset:offset + size]))
        except SidecarError as exc:
            raise ValueError(f"{path}: request {len(requests)}: {exc.message}") from None
        offset += size
    if not requests:
        raise ValueError(f"Expected {path} to hold at least one request")
    return requests


def infer_block(core: Core, requests: list[Request], items: list[int], command: dict[str, Any]) -> dict[str, Any]:
    """Run the items one by one through sidecars.ops.infer, as a front-end would once it has decoded them."""
    want = command.get("outputs", False)
    if type(want) is not bool:
        raise SidecarError("BAD_INPUT", f"Expected `outputs` to be true or false, got {want!r}")
    out: dict[str, list[Any]] = {"latency_ns": [], "compute_ns": []}
    outputs: list[str] = []
    for i in items:
        inputs, datatypes = requests[i]
        t0 = time.perf_counter_ns()
        result = infer(core, inputs, datatypes)
        out["latency_ns"].append(time.perf_counter_ns() - t0)
        out["compute_ns"].append(result.compute_ns)
        if want:
            outputs.append(base64.b64encode(b"".join(encode_tensors(result.outputs))).decode("ascii"))
    if want:
        out["outputs"] = outputs
    return out
