"""The `msgpack` wire: `[u32 BE N][msgpack map]` frames, each request with an `id` (docs/protocol.md).

The socket layer is the one `framed` uses (stream_server.py); only the codec differs. Requests on
one connection are answered in order, but the id lets a client match replies without relying on it.
"""
from __future__ import annotations

import re
import struct
from typing import Any, Callable

import msgpack

from ..address import Address
from ..cores.base import Core, check_image_batch
from ..errors import SidecarError, to_sidecar_error
from ..ops import MAX_BATCH_IMAGES, generate_request, generation, infer
from .nesting import check_depth
from .stream_server import serve_stream

Send = Callable[[list[bytes]], None]

_LENGTH = struct.Struct(">I")
_MAX_ID = 2**64 - 1
# The echo reply `{"id": id, "payload": <bin>}` is assembled around the payload by hand: one copy
# for a small payload, none for a large one (it goes out as a buffer of its own).
_ECHO_MAP = b"\x82\xa2id"
_PAYLOAD_KEY = b"\xa7payload"
_SEPARATE_ABOVE = 64 * 1024
_unpackb = msgpack.unpackb  # raw=False is the default: str stays str, bin stays bytes
# The echo request as our clients write it (transports/msgpack.ts, encodeEchoFrame):
# `{"id": uint, "op": "echo", "payload": bin}` in that order. Read in place, its id's bytes copied
# into the reply as they came: the unpacker, the checks of a general map and the id's repacking
# were 1.5 us of a 3.6 us request here, the whole of msgpack's server cost over framed. Any other
# shape or order takes the general path.
_ECHO_REQUEST = re.compile(rb"\x83\xa2id([\x00-\x7f]|\xcc.|\xcd..|\xce....|\xcf.{8})\xa2op\xa4echo\xa7payload"
                           rb"(?:\xc4(.)|\xc5(..)|\xc6(....))", re.DOTALL)
_BIN8, _BIN16, _BIN32 = struct.Struct(">BB"), struct.Struct(">BH"), struct.Struct(">BI")


def bin_header(size: int) -> bytes:
    """The msgpack bin 8/16/32 header for `size` bytes."""
    if size < 0x100:
        return _BIN8.pack(0xC4, size)
    if size < 0x10000:
        return _BIN16.pack(0xC5, size)
    return _BIN32.pack(0xC6, size)


class MsgpackSession:
    """One connection's codec. Not shared between threads: each connection has its own."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self._gone: Callable[[], bool] | None = None
        self._packer = msgpack.Packer(use_bin_type=True)
        self._ops: dict[str, Callable[[int, dict[str, Any], Send], None]] = {
            "echo": self._echo,
            "classify": self._classify,
            "generate": self._generate,
            "infer": self._infer,
            "metadata": self._metadata,
        }

    def on_frame(self, body: bytes, send: Send) -> None:
        request_id: int | None = None
        packed_id: bytes | None = None  # the echo read in place: its id as it came
        try:
            echo = _ECHO_REQUEST.match(body)
            if echo is not None and echo.end() + int.from_bytes(echo.group(2) or echo.group(3) or echo.group(4), "big") == len(body):
                packed_id = echo.group(1)
                self._echo_in_place(packed_id, body[echo.end():], send)
                return
            request = _decode(body)
            request_id = _request_id(request)
            check_depth(request, "the request")  # before a field is used, or printed in a message
            op = request.get("op")
            if type(op) is not str:
                raise SidecarError("BAD_INPUT", f"Expected `op` to be a string, got {_type_name(op)}")
            handler = self._ops.get(op)
            if handler is None:
                raise SidecarError("UNKNOWN_TYPE", f"Expected `op` to be one of {sorted(self._ops)}, got {op!r}")
            handler(request_id, request, send)
        except (ConnectionError, BrokenPipeError):
            raise
        except Exception as exc:  # a bad request is answered, never fatal to the sidecar
            if packed_id is not None:
                request_id = _unpackb(packed_id)
            send([self._frame({"id": request_id, "error": to_sidecar_error(exc).to_dict()})])

    def on_stream_error(self, error: SidecarError) -> bytes | None:
        return self._frame({"id": None, "error": error.to_dict()})

    def watch_peer(self, gone: Callable[[], bool]) -> None:
        self._gone = gone

    def _frame(self, reply: dict[str, Any]) -> bytes:
        body = self._packer.pack(reply)
        return _LENGTH.pack(len(body)) + body

    def _echo(self, request_id: int, request: dict[str, Any], send: Send) -> None:
        self._echo_in_place(self._packer.pack(request_id), _bin(request, "payload"), send)

    def _echo_in_place(self, packed_id: bytes, payload: bytes, send: Send) -> None:
        payload = self._core.echo(payload)
        size = len(payload)
        bin_head = bin_header(size)
        length = _LENGTH.pack(len(_ECHO_MAP) + len(packed_id) + len(_PAYLOAD_KEY) + len(bin_head) + size)
        if size > _SEPARATE_ABOVE:
            send([b"".join((length, _ECHO_MAP, packed_id, _PAYLOAD_KEY, bin_head)), payload])
        else:
            send([b"".join((length, _ECHO_MAP, packed_id, _PAYLOAD_KEY, bin_head, payload))])

    def _classify(self, request_id: int, request: dict[str, Any], send: Send) -> None:
        images = _bin(request, "images")
        check_image_batch(images, MAX_BATCH_IMAGES)
        result = self._core.classify(images)
        reply = {"id": request_id, "labels": bytes(result.labels), "compute_ns": int(result.compute_ns)}
        send([self._frame(reply)])

    def _infer(self, request_id: int, request: dict[str, Any], send: Send) -> None:
        from ..tensors import datatype_of, to_raw  # numpy only when tensors are used

        self._core.metadata()  # UNSUPPORTED_OP before decoding, for a model without tensors
        inputs, datatypes = _tensors(request.get("inputs"))
        result = infer(self._core, inputs, datatypes)
        outputs = []
        for name, array in result.outputs.items():
            datatype = "BYTES" if array.dtype.kind in "OSU" else datatype_of(array)
            outputs.append({"name": name, "datatype": datatype, "shape": list(array.shape),
                            "data": to_raw(array, datatype)})
        send([self._frame({"id": request_id, "outputs": outputs, "compute_ns": int(result.compute_ns)})])

    def _metadata(self, request_id: int, request: dict[str, Any], send: Send) -> None:
        send([self._frame({"id": request_id, "metadata": self._core.metadata()})])

    def _generate(self, request_id: int, request: dict[str, Any], send: Send) -> None:
        stream = request.get("stream", False)
        if stream is None:
            stream = False
        if not isinstance(stream, bool):
            raise SidecarError("BAD_INPUT", f"Expected `stream` to be a boolean, got {stream!r}")
        text: list[str] = []
        stats: dict[str, Any] = {}
        with generation(self._core, generate_request(request), self._gone) as events:
            for event in events:
                text.append(event.text)
                if stream and event.text:
                    send([self._frame({"id": request_id, "token": event.text})])
                if event.done:
                    stats = event.stats
        final: dict[str, Any] = {"id": request_id, "response": "".join(text), "stats": stats}
        if stream:
            final["done"] = True
        send([self._frame(final)])


_TENSOR_KEYS = frozenset({"name", "datatype", "shape", "data"})


def _tensors(value: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """`inputs`: a list of `{"name", "datatype", "shape", "data": bin}` maps, as arrays (tensors.py)."""
    from ..tensors import MAX_TENSORS, check_datatype, check_shape, from_raw

    if type(value) is not list or not 1 <= len(value) <= MAX_TENSORS:
        raise SidecarError("BAD_INPUT", f"Expected `inputs` to be a list of 1 to {MAX_TENSORS} tensors, got "
                                        f"{_type_name(value) if type(value) is not list else f'{len(value)} tensors'}")
    inputs: dict[str, Any] = {}
    datatypes: dict[str, str] = {}
    for i, tensor in enumerate(value):
        if type(tensor) is not dict:
            raise SidecarError("BAD_INPUT", f"Expected `inputs[{i}]` to be a map, got {_type_name(tensor)}")
        keys = set(tensor)
        if keys != _TENSOR_KEYS:
            raise SidecarError("BAD_INPUT", f"Expected `inputs[{i}]` to have exactly name, datatype, shape and data; "
                                            f"missing {sorted(_TENSOR_KEYS - keys)}, unknown {sorted(map(str, keys - _TENSOR_KEYS))}")
        name = tensor["name"]
        if type(name) is not str or not name:
            raise SidecarError("BAD_INPUT", f"Expected `inputs[{i}].name` to be a non-empty string, got {_type_name(name)}")
        if name in inputs:
            raise SidecarError("BAD_INPUT", f"Expected each input name once, got `{name}` twice")
        datatype = check_datatype(tensor["datatype"])
        shape = check_shape(tensor["shape"])
        data = tensor["data"]
        if type(data) is not bytes:
            raise SidecarError("BAD_INPUT", f"Expected `inputs[{i}].data` to be msgpack bin, got {_type_name(data)}")
        inputs[name] = from_raw(name, datatype, shape, data)
        datatypes[name] = datatype
    return inputs, datatypes


def _decode(body: bytes) -> dict[str, Any]:
    try:
        value = _unpackb(body)
    except Exception as exc:  # every msgpack failure (bad bytes, extra data, bad UTF-8) is bad input
        message = f"Expected one msgpack map, got {len(body)} bytes that do not decode ({exc!r})"
        raise SidecarError("BAD_INPUT", message) from exc
    if type(value) is not dict:
        raise SidecarError("BAD_INPUT", f"Expected a msgpack map, got {_type_name(value)}")
    return value


def _request_id(request: dict[str, Any]) -> int:
    request_id = request.get("id")
    if type(request_id) is not int:  # bool is not int here
        raise SidecarError("BAD_INPUT", f"Expected `id` to be an unsigned integer, got {_type_name(request_id)}")
    if not 0 <= request_id <= _MAX_ID:
        raise SidecarError("BAD_INPUT", f"Expected `id` to be an unsigned integer, got {request_id!r}")
    return request_id


def _bin(request: dict[str, Any], name: str) -> bytes:
    value = request.get(name)
    if type(value) is not bytes:
        raise SidecarError("BAD_INPUT", f"Expected `{name}` to be msgpack bin, got {_type_name(value)}")
    return value


def _type_name(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def serve(core: Core, address: Address, options: dict[str, Any], on_ready: Callable[[Address], None]) -> None:
    serve_stream(address, lambda: MsgpackSession(core), on_ready, options)
