"""The Open Inference Protocol's REST API (KServe v2) with its binary tensor data extension,
as pure functions: request bytes and headers in, a `Reply` (status, headers, body) out. No web
framework here, so any HTTP server can serve these routes; http_app.py serves them under Flask.

Routes, error mapping and the binary layout are in docs/protocol.md ("Open Inference Protocol
routes"). Every error is `{"error": message, "code": CODE}`: OIP clients read `error`, ours `code`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cores.base import Core
from ..errors import SidecarError, to_sidecar_error
from ..ops import infer as run_infer
from ..tensors import MAX_TENSORS, check_datatype, check_shape, from_json, from_raw, to_json, to_raw
from .nesting import check_depth

HEADER_LENGTH = "Inference-Header-Content-Length"
COMPUTE_HEADER = "X-Compute-Ns"
EXTENSIONS = ["binary_tensor_data"]
SERVER_NAME = "sidecar-bench"
STATUS_BY_CODE = {"BAD_FRAME": 400, "BAD_INPUT": 400, "UNKNOWN_TYPE": 404, "FRAME_TOO_LARGE": 413,
                  "UNSUPPORTED_OP": 501, "OVERLOADED": 503, "MODEL_ERROR": 500, "TIMEOUT": 408, "INTERNAL": 500}
_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, _dumps(value).encode())


def error_reply(exc: BaseException, status: int | None = None) -> Reply:
    """OIP's error object with our stable code beside it; `status` overrides the code's own."""
    error = to_sidecar_error(exc)
    return json_reply({"error": error.message, "code": error.code}, status or STATUS_BY_CODE[error.code])


class UnknownModel(SidecarError):
    """A model (or version) this sidecar does not serve: UNKNOWN_TYPE, 404 as OIP servers answer
    it, NOT_FOUND on gRPC."""

    def __init__(self, message: str) -> None:
        super().__init__("UNKNOWN_TYPE", message)


def metadata_for(core: Core, name: str, version: str | None = None) -> dict[str, Any]:
    """The core's metadata, once `name` (and `version`, when given) are checked against it."""
    meta = core.metadata()
    if name != meta["name"]:
        raise UnknownModel(f"Expected model `{meta['name']}`, got `{name}`: this sidecar serves one model")
    versions = [str(v) for v in meta.get("versions") or []]
    if version not in (None, "") and version not in versions:
        raise UnknownModel(f"Expected a version of `{name}` among {versions}, got `{version}`")
    return meta


def server_version() -> str:
    """The project's version, from package.json (the sidecar is not an installed package)."""
    try:
        return str(json.loads((Path(__file__).resolve().parents[2] / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def server_metadata() -> Reply:
    return json_reply({"name": SERVER_NAME, "version": server_version(), "extensions": EXTENSIONS})


def model_metadata(core: Core, name: str, version: str | None = None) -> Reply:
    meta = metadata_for(core, name, version)
    return json_reply({"name": meta["name"], "versions": meta.get("versions") or [],
                       "platform": meta.get("platform") or "", "inputs": meta["inputs"], "outputs": meta["outputs"]})


def model_ready(core: Core, name: str, version: str | None = None) -> Reply:
    metadata_for(core, name, version)
    return json_reply({"name": name, "ready": True})


def bad(message: str) -> SidecarError:
    return SidecarError("BAD_INPUT", message)


def _refuse_constant(text: str) -> Any:
    raise bad(f"Expected JSON numbers in the request, got `{text}`, which JSON does not have: send NaN and "
              "infinities in the binary tensor data extension")


def _checked_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise bad(f"Expected a JSON number a float64 can hold, got `{text[:40]}`")
    return value


def split_body(body: bytes, header_length: str | None) -> tuple[Any, memoryview]:
    """The JSON header (parsed) and the binary part after it (`Inference-Header-Content-Length`)."""
    view = memoryview(body)
    if header_length is None:
        size = len(body)
    elif not header_length.strip().isdigit():
        raise bad(f"Expected `{HEADER_LENGTH}` to be a byte count, got {header_length[:40]!r}")
    else:
        size = int(header_length)
        if size > len(body):
            raise bad(f"Expected `{HEADER_LENGTH}` ({size}) to be at most the body's length, {len(body)} bytes")
    try:
        value = json.loads(bytes(view[:size]), parse_constant=_refuse_constant, parse_float=_checked_float)
    except RecursionError:
        raise bad("Expected the JSON header nested at most 32 deep, got far deeper") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise bad(f"Expected the JSON header to be UTF-8 JSON, got {exc}") from exc
    check_depth(value, "the JSON header")
    if not isinstance(value, dict):
        raise bad(f"Expected the JSON header to be an object, got {type(value).__name__}")
    return value, view[size:]


def _parameters(entry: dict[str, Any], what: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    params = entry.get("parameters") or {}
    if not isinstance(params, dict):
        raise bad(f"Expected `parameters` of {what} to be an object, got {type(params).__name__}")
    unknown = [key for key in params if key not in allowed]
    if unknown:
        raise bad(f"Expected parameters of {what} among {list(allowed)}, got `{unknown[0]}` (not supported here)")
    return params


def decode_inputs(header: dict[str, Any], binary: memoryview) -> tuple[dict[str, Any], dict[str, str]]:
    """The request's tensors by name, and the datatype each arrived as."""
    entries = header.get("inputs")
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_TENSORS:
        raise bad(f"Expected `inputs` to be a list of 1 to {MAX_TENSORS} tensors, got {_kind(entries)}")
    inputs: dict[str, Any] = {}
    datatypes: dict[str, str] = {}
    offset = 0
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise bad(f"Expected each input to be an object with a string `name`, got {_kind(entry)}")
        name = entry["name"]
        if name in inputs:
            raise bad(f"Expected each input once, got `{name}` twice")
        datatype, shape = check_datatype(entry.get("datatype")), check_shape(entry.get("shape"))
        size = _parameters(entry, f"input `{name}`", ("binary_data_size",)).get("binary_data_size")
        if size is None:
            if "data" not in entry:
                raise bad(f"Expected `data` or `parameters.binary_data_size` for input `{name}`")
            inputs[name] = _finite(name, datatype, from_json(name, datatype, shape, entry["data"]))
        else:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0 or "data" in entry:
                raise bad(f"Expected `binary_data_size` of input `{name}` to be a byte count, without `data`")
            if offset + size > len(binary):
                raise bad(f"Expected {size} bytes of binary data for input `{name}` at offset {offset}, "
                          f"got {max(len(binary) - offset, 0)}")
            inputs[name] = from_raw(name, datatype, shape, binary[offset:offset + size])
            offset += size
        datatypes[name] = datatype
    if offset != len(binary):
        raise bad(f"Expected {offset} bytes of binary data (the inputs' binary_data_size), got {len(binary)}")
    return inputs, datatypes


def _finite(name: str, datatype: str, array: np.ndarray) -> np.ndarray:
    """A float input parsed from JSON holds no infinity unless a number overflowed its datatype
    (1e39 as FP32): refused rather than silently made infinite."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise bad(f"Expected the elements of input `{name}` to fit {datatype}, got one that overflows it")
    return array


def requested_outputs(header: dict[str, Any], declared: list[str]) -> list[tuple[str, bool]]:
    """(name, binary) for each output the reply carries: those asked for, else every one."""
    params = header.get("parameters") or {}
    if not isinstance(params, dict):
        raise bad(f"Expected the request's `parameters` to be an object, got {_kind(params)}")
    default = params.get("binary_data_output", False)  # other request parameters are scheduling hints: ignored
    if not isinstance(default, bool):
        raise bad(f"Expected `binary_data_output` to be a boolean, got {_kind(default)}")
    asked = header.get("outputs")
    if asked is None:
        return [(name, default) for name in declared]
    if not isinstance(asked, list) or len(asked) > MAX_TENSORS:
        raise bad(f"Expected `outputs` to be a list of at most {MAX_TENSORS} objects, got {_kind(asked)}")
    chosen: list[tuple[str, bool]] = []
    for entry in asked:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name not in declared or any(name == done for done, _ in chosen):
            raise bad(f"Expected requested outputs among {declared}, each once, got {_kind(name)}")
        binary = _parameters(entry, f"output `{name}`", ("binary_data",)).get("binary_data", default)
        if not isinstance(binary, bool):
            raise bad(f"Expected `binary_data` of output `{name}` to be a boolean, got {_kind(binary)}")
        chosen.append((name, binary))
    return chosen


def infer(core: Core, name: str, body: bytes, header_length: str | None, version: str | None = None) -> Reply:
    """POST /v2/models/{name}/infer: JSON or binary tensors in, the same out."""
    meta = metadata_for(core, name, version)
    header, binary = split_body(body, header_length)
    inputs, datatypes = decode_inputs(header, binary)
    chosen = requested_outputs(header, [str(o["name"]) for o in meta["outputs"]])
    result = run_infer(core, inputs, datatypes)
    kinds = {str(o["name"]): str(o["datatype"]) for o in meta["outputs"]}
    outputs: list[dict[str, Any]] = []
    parts: list[bytes] = []
    for out_name, binary_out in chosen:
        array = result.outputs[out_name]
        entry: dict[str, Any] = {"name": out_name, "datatype": kinds[out_name], "shape": list(array.shape)}
        if binary_out:
            raw = to_raw(array, kinds[out_name])
            entry["parameters"] = {"binary_data_size": len(raw)}
            parts.append(raw)
        else:
            entry["data"] = to_json(array, kinds[out_name])
        outputs.append(entry)
    reply: dict[str, Any] = {"model_name": meta["name"], "outputs": outputs,
                             "parameters": {"compute_ns": int(result.compute_ns)}}
    if meta.get("versions"):
        reply["model_version"] = str(meta["versions"][0])
    if isinstance(header.get("id"), str):
        reply["id"] = header["id"]
    try:
        text = _dumps(reply).encode()
    except ValueError:  # allow_nan=False: JSON has no NaN or infinity
        raise SidecarError("MODEL_ERROR", "The model's outputs hold NaN or infinity, which JSON cannot carry: request "
                                          "them with `binary_data` (the binary tensor data extension)") from None
    headers = {COMPUTE_HEADER: str(int(result.compute_ns))}
    if not parts:
        return Reply(200, text, {**headers, "Content-Type": "application/json"})
    headers.update({"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(text))})
    return Reply(200, b"".join([text, *parts]), headers)


def _kind(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
