"""The `framed` wire: `[u32 BE N][u8 type][N-1 bytes body]` (docs/protocol.md)."""
from __future__ import annotations

import json
import struct
from typing import Any, Callable

from ..address import Address
from ..cores.base import IMAGE_BYTES, ClassifyResult, Core, check_image_batch
from ..errors import SidecarError, to_sidecar_error
from ..ops import MAX_BATCH_IMAGES, class_name, generate_request, generation, infer
from .nesting import loads_json
from .stream_server import serve_stream

ECHO, CLASSIFY, CLASSIFY_BATCH, GENERATE, GENERATE_STREAM, TOKEN, CLASSIFY_TIMED, ERROR = 0, 1, 2, 3, 4, 5, 6, 255
INFER, METADATA = 7, 8
_HEADER = struct.Struct(">IB")
_COMPUTE_NS = struct.Struct(">Q")


def frame(kind: int, body: bytes) -> bytes:
    return _HEADER.pack(len(body) + 1, kind) + body


def header(kind: int, body_len: int) -> bytes:
    return _HEADER.pack(body_len + 1, kind)


def error_frame(error: SidecarError) -> bytes:
    return frame(ERROR, json.dumps(error.to_dict()).encode())


class FramedSession:
    def __init__(self, core: Core) -> None:
        self._core = core
        self._gone: Callable[[], bool] | None = None

    def watch_peer(self, gone: Callable[[], bool]) -> None:
        self._gone = gone

    def on_frame(self, body: bytes, send: Callable[[list[bytes]], None]) -> None:
        if not body:
            message = "Expected a frame length of at least 1 (the type byte), got 0"
            send([error_frame(SidecarError("BAD_FRAME", message))])
            return
        kind = body[0]
        try:
            if kind == ECHO:
                payload = self._core.echo(body[1:])
                send([header(ECHO, len(payload)), payload])
            elif kind == CLASSIFY:
                # The idea's reply: the class the model assigns, by name, as UTF-8 text.
                label = self._classify(body, single=True).labels[0]
                send([frame(CLASSIFY, class_name(self._core, label).encode("utf-8"))])
            elif kind == CLASSIFY_BATCH:
                send([frame(CLASSIFY_BATCH, self._classify(body, single=False).labels)])
            elif kind == CLASSIFY_TIMED:
                result = self._classify(body, single=False)
                send([frame(CLASSIFY_TIMED, _COMPUTE_NS.pack(result.compute_ns) + result.labels)])
            elif kind in (GENERATE, GENERATE_STREAM):
                self._generate(body[1:], send, stream=kind == GENERATE_STREAM)
            elif kind == INFER:
                self._infer(memoryview(body)[1:], send)
            elif kind == METADATA:
                if len(body) != 1:
                    raise SidecarError("BAD_INPUT", f"Expected an empty METADATA body, got {len(body) - 1} bytes")
                send([frame(METADATA, json.dumps(self._core.metadata()).encode("utf-8"))])
            else:
                raise SidecarError("UNKNOWN_TYPE", f"Expected a message type of 0-4 or 6-8, got {kind}")
        except (ConnectionError, BrokenPipeError):
            raise
        except Exception as exc:  # a bad request is answered, never fatal to the sidecar
            send([error_frame(to_sidecar_error(exc))])

    def on_stream_error(self, error: SidecarError) -> bytes | None:
        return error_frame(error)

    def _classify(self, body: bytes, single: bool) -> ClassifyResult:
        images = body[1:]
        if single and len(images) != IMAGE_BYTES:
            raise SidecarError("BAD_INPUT", f"Expected a {IMAGE_BYTES}-byte image, got {len(images)} bytes")
        check_image_batch(images, MAX_BATCH_IMAGES)
        return self._core.classify(images)

    def _infer(self, body: memoryview, send: Callable[[list[bytes]], None]) -> None:
        """Type 7: `u8 T` + tensors in; `u64 BE compute_ns`, `u8 T` + tensors out (tensor_frames.py)."""
        from .tensor_frames import coalesce, decode_tensors, encode_tensors  # numpy only when tensors are used

        self._core.metadata()  # UNSUPPORTED_OP before decoding, for a model without tensors
        inputs, datatypes = decode_tensors(body)
        result = infer(self._core, inputs, datatypes)
        parts = encode_tensors(result.outputs)
        size = _COMPUTE_NS.size + sum(len(p) for p in parts)
        send(coalesce([header(INFER, size), _COMPUTE_NS.pack(result.compute_ns), *parts]))

    def _generate(self, body: bytes, send: Callable[[list[bytes]], None], stream: bool) -> None:
        request = generate_request(_json_object(body))
        text: list[str] = []
        stats: dict[str, Any] = {}
        with generation(self._core, request, self._gone) as events:
            for event in events:
                text.append(event.text)
                if stream and event.text:
                    send([frame(TOKEN, event.text.encode())])
                if event.done:
                    stats = event.stats
        send([frame(GENERATE, json.dumps({"response": "".join(text), "stats": stats}).encode())])


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SidecarError("BAD_INPUT", f"Expected a UTF-8 JSON object, got {exc}") from exc
    value = loads_json(text, "the JSON body")
    if not isinstance(value, dict):
        raise SidecarError("BAD_INPUT", f"Expected a JSON object, got {type(value).__name__}")
    return value


def serve(core: Core, address: Address, options: dict[str, Any], on_ready: Callable[[Address], None]) -> None:
    serve_stream(address, lambda: FramedSession(core), on_ready, options)
