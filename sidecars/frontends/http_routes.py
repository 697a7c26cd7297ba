"""The `http-json` wire's routes as plain functions, so that every HTTP stack (`--http-stack`:
Flask under gunicorn, the ASGI app under uvicorn, the lean server) serves the very same routes
with the same limits, statuses and error bodies. A server finds the route (`Routes.find`, before
reading any body), reads the body within the limit, and calls it with a `Call`; it gets a `Reply`:
status, headers, and a body or a stream of chunks (the streamed generation's SSE events).

Request and reply shapes are in docs/protocol.md. Every error leaves as `{"error": {"code",
"message"}}` with the code's HTTP status; under `/v2` (the Open Inference Protocol's routes,
oip_rest.py) as OIP's `{"error": message, "code"}`.
"""
from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from ..cores.base import IMAGE_BYTES, Core, GenerateEvent, check_image_batch
from ..errors import SidecarError, to_sidecar_error
from ..ops import MAX_BATCH_IMAGES, class_name, close_events, generate_request, generation, start_generation
from . import oip_rest
from .nesting import loads_json

STATUS_BY_CODE = {
    "BAD_FRAME": 400,
    "BAD_INPUT": 400,
    "UNKNOWN_TYPE": 404,
    "FRAME_TOO_LARGE": 413,
    "UNSUPPORTED_OP": 501,
    "OVERLOADED": 503,
    "MODEL_ERROR": 500,
    "TIMEOUT": 408,  # a client too slow: to read its stream (a last event), or to send its request
    "INTERNAL": 500,
}
ROUTES = ("POST /echo, /prompt, /classify, /classify_batch, /v2/models/{name}/infer or GET /healthz, /v2, "
          "/v2/health/live, /v2/health/ready, /v2/models/{name}, /v2/models/{name}/ready")
OIP_PREFIX = "/v2"
JSON = "application/json"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_MODEL = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?(/ready|/infer)?")
_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


@dataclass
class Call:
    """What a route reads: the body (already within the limit), the request's headers by lower-case
    name, and a check that the client has left (None where the server cannot tell)."""

    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    gone: Callable[[], bool] | None = None


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    stream: Iterator[bytes] | None = None  # when set, the body is these chunks, sent as they come


class RouteError(SidecarError):
    """No such route (404) or not with this method (405, with the methods it has in `allow`)."""

    def __init__(self, status: int, message: str, allow: str | None = None) -> None:
        super().__init__("UNKNOWN_TYPE", message)
        self.status = status
        self.allow = allow


Handler = Callable[[Call], Reply]


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, {"Content-Type": JSON}, _dumps(value).encode())


def unescaped(body: bytes) -> bool:
    """Whether a JSON body holds only printable ASCII and no backslash. Every string in it then
    decodes to exactly its bytes between the quotes, and `_dumps` writes it back the same way: a
    route that returns a string it was sent may copy it without the encoder's scan of every
    character (6 us for 4 KiB here, a third of a lean HTTP request's Python time). Raw control
    characters cannot be in a string the decoder took; DEL could, and `_dumps` escapes it. No NUL
    either: an all-ASCII body with NULs may be UTF-16 or UTF-32, which json.loads reads too."""
    return body.isascii() and b"\\" not in body and b"\x7f" not in body and b"\x00" not in body


def is_oip(path: str) -> bool:
    return path == OIP_PREFIX or path.startswith(OIP_PREFIX + "/")


def error_reply(path: str, exc: BaseException, status: int | None = None) -> Reply:
    """The one error shape for `exc` (any exception: MODEL_ERROR unless it carries a code)."""
    error = to_sidecar_error(exc)
    if isinstance(exc, RouteError):
        status = exc.status
    if is_oip(path):
        reply = oip_rest.error_reply(error, status)
        out = Reply(reply.status, dict(reply.headers), reply.body)
    else:
        out = json_reply({"error": error.to_dict()}, status or STATUS_BY_CODE[error.code])
    if isinstance(exc, RouteError) and exc.allow:
        out.headers["Allow"] = exc.allow
    return out


def too_large(limit: int, got: str) -> SidecarError:
    return SidecarError("FRAME_TOO_LARGE", f"Expected a request body of at most {limit} bytes, got {got}")


def object_body(call: Call) -> dict[str, Any]:
    value = loads_json(call.body, "the body")
    if not isinstance(value, dict):
        raise SidecarError("BAD_INPUT", f"Expected a JSON object as the body, got {type(value).__name__}")
    return value


def string_field(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str):
        raise SidecarError("BAD_INPUT", f"Expected `{name}` to be a string, got {type(value).__name__}")
    return value


def base64_field(fields: dict[str, Any], name: str) -> bytes:
    text = string_field(fields, name)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SidecarError("BAD_INPUT", f"Expected `{name}` to be standard base64, got {exc}") from exc


def sse(value: Any) -> bytes:
    return b"data: " + _dumps(value).encode() + b"\n\n"


def sse_events(events: Iterator[GenerateEvent], head: list[GenerateEvent]) -> Iterator[bytes]:
    """One `data:` event per piece of text (`head`, then `events`), then the totals; a failure
    mid-stream is an error event. Closing it (a server does, when the client goes) stops the generation."""
    text: list[str] = []
    stats: dict[str, Any] = {}
    try:
        for event in itertools.chain(head, events):
            text.append(event.text)
            if event.text:
                yield sse({"token": event.text})
            if event.done:
                stats = event.stats
    except Exception as exc:  # the status line is gone: the error travels as the last event
        yield sse({"error": to_sidecar_error(exc).to_dict()})
        return
    finally:
        close_events(events)
    yield sse({"response": "".join(text), "stats": stats, "done": True})


def oip(reply: oip_rest.Reply) -> Reply:
    return Reply(reply.status, dict(reply.headers), reply.body)


class Routes:
    """Every route of the wire for one core; `find` is the router."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._live = oip(oip_rest.json_reply({"live": True}))
        self._ready = oip(oip_rest.json_reply({"ready": True}))
        self._fixed: dict[str, dict[str, Handler]] = {
            "/echo": {"POST": self.echo},
            "/prompt": {"POST": self.prompt},
            "/classify": {"POST": self.classify},
            "/classify_batch": {"POST": self.classify_batch},
            "/healthz": {"GET": self.healthz},
            "/v2": {"GET": lambda _call: oip(oip_rest.server_metadata())},
            "/v2/health/live": {"GET": lambda _call: self._live},
            "/v2/health/ready": {"GET": lambda _call: self._ready},
        }

    def find(self, method: str, path: str) -> tuple[Handler, bool]:
        """The handler for `method path`, and whether it reads a body (POST); RouteError when none.
        HEAD is served as GET (the server sends no body)."""
        methods = self._fixed.get(path) or self._model_route(path)
        if methods is None:
            raise RouteError(404, f"Expected {ROUTES}, got {method} {path}")
        handler = methods.get("GET" if method == "HEAD" and "GET" in methods else method)
        if handler is None:
            allow = ", ".join(sorted({*methods, *(["HEAD"] if "GET" in methods else [])}))
            raise RouteError(405, f"Expected {ROUTES}, got {method} {path}", allow)
        return handler, "POST" in methods

    def _model_route(self, path: str) -> dict[str, Handler] | None:
        match = _MODEL.fullmatch(path)
        if match is None:
            return None
        name, version, tail = match.group(1), match.group(2), match.group(3)
        if tail == "/infer":
            return {"POST": lambda call: oip(oip_rest.infer(
                self.core, name, call.body, call.headers.get(oip_rest.HEADER_LENGTH.lower()), version))}
        if tail == "/ready":
            return {"GET": lambda _call: oip(oip_rest.model_ready(self.core, name, version))}
        return {"GET": lambda _call: oip(oip_rest.model_metadata(self.core, name, version))}

    def echo(self, call: Call) -> Reply:
        prompt = string_field(object_body(call), "prompt")
        # JSON strings may hold lone surrogates (`"\ud800"`); surrogatepass keeps them round-trippable.
        sent = prompt.encode("utf-8", "surrogatepass")
        echoed = self.core.echo(sent)
        if echoed == sent and unescaped(call.body):  # base64, as our clients send: what _dumps would write
            return Reply(200, {"Content-Type": JSON}, b'{"echo_prompt":"' + echoed + b'"}')
        return json_reply({"echo_prompt": echoed.decode("utf-8", "surrogatepass")})

    def prompt(self, call: Call) -> Reply:
        fields = object_body(call)
        stream = fields.get("stream", False)
        if not isinstance(stream, bool):
            raise SidecarError("BAD_INPUT", f"Expected `stream` to be a boolean, got {type(stream).__name__}")
        if stream:
            events = iter(start_generation(self.core, generate_request(fields), call.gone))
            try:
                # Pull the first event here, so errors before any text still get an HTTP status.
                first = next(events, None)
            except BaseException:
                close_events(events)
                raise
            return Reply(200, dict(SSE_HEADERS), stream=sse_events(events, [] if first is None else [first]))
        text: list[str] = []
        stats: dict[str, Any] = {}
        with generation(self.core, generate_request(fields), call.gone) as events:
            for event in events:
                text.append(event.text)
                if event.done:
                    stats = event.stats
        return json_reply({"response": "".join(text), "stats": stats})

    def classify(self, call: Call) -> Reply:
        image = base64_field(object_body(call), "image")
        if len(image) != IMAGE_BYTES:
            raise SidecarError("BAD_INPUT", f"Expected `image` to hold {IMAGE_BYTES} bytes, got {len(image)}")
        result = self.core.classify(image)
        label = result.labels[0]
        return json_reply({"label": label, "class": class_name(self.core, label), "compute_ns": result.compute_ns})

    def classify_batch(self, call: Call) -> Reply:
        images = base64_field(object_body(call), "images")
        check_image_batch(images, MAX_BATCH_IMAGES)
        result = self.core.classify(images)
        return json_reply({"labels": list(result.labels), "compute_ns": result.compute_ns})

    def healthz(self, _call: Call) -> Reply:
        return json_reply({"status": "ok", "model": self.core.name})


def handle(handler: Handler, path: str, call: Call, log: Any) -> Reply:
    """Call a route; any exception becomes its error reply (an unexpected one logged)."""
    try:
        return handler(call)
    except SidecarError as exc:
        return error_reply(path, exc)
    except Exception as exc:
        log.warning("request failed: %s: %s", type(exc).__name__, exc, exc_info=True)
        return error_reply(path, exc)
