"""The `http-json` wire's Flask app: each route decodes JSON, calls the core, encodes JSON.

Request and reply shapes are in docs/protocol.md. Every error, Flask's own 404/405/413 included,
leaves as `{"error": {"code", "message"}}` with a matching HTTP status: never an HTML page.
"""
from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
from typing import Any, Callable, Iterator

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..cores.base import IMAGE_BYTES, Core, GenerateEvent, check_image_batch
from ..errors import SidecarError, to_sidecar_error
from ..ops import MAX_BATCH_IMAGES, class_name, close_events, generate_request, generation, start_generation
from . import peer
from .nesting import loads_json

log = logging.getLogger("sidecars.http_json")

STATUS_BY_CODE = {
    "BAD_FRAME": 400,
    "BAD_INPUT": 400,
    "UNKNOWN_TYPE": 404,
    "FRAME_TOO_LARGE": 413,
    "UNSUPPORTED_OP": 501,
    "OVERLOADED": 503,
    "MODEL_ERROR": 500,
    "TIMEOUT": 408,  # a client too slow: to read its stream (a last event), or to send its body (read_body)
    "INTERNAL": 500,
}
# Statuses Werkzeug raises itself; any other 4xx is BAD_INPUT and any 5xx INTERNAL.
CODE_BY_STATUS = {404: "UNKNOWN_TYPE", 405: "UNKNOWN_TYPE", 413: "FRAME_TOO_LARGE"}
ROUTES = "POST /echo, /prompt, /classify, /classify_batch or GET /healthz"
# The environ key of a callable that makes gunicorn close the connection after the reply (http_workers.py).
CLOSE_CONNECTION = "sidecars.close_connection"

_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def json_response(value: Any, status: int = 200) -> Response:
    return Response(_dumps(value), status=status, content_type="application/json")


def error_response(error: SidecarError, status: int | None = None) -> Response:
    return json_response({"error": error.to_dict()}, status or STATUS_BY_CODE[error.code])


def read_object(limit: int) -> dict[str, Any]:
    """The request body as a JSON object of at most `limit` bytes.

    Read from the WSGI input directly: Werkzeug 2.2's request.stream adds a wrapper and checks
    MAX_CONTENT_LENGTH only for form data, so the limit is checked here either way.
    """
    environ = request.environ
    declared = environ.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestEntityTooLarge(f"Expected a request body of at most {limit} bytes, got {declared}")
    value = loads_json(read_body(environ, limit), "the body")
    if not isinstance(value, dict):
        raise SidecarError("BAD_INPUT", f"Expected a JSON object as the body, got {type(value).__name__}")
    return value


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The whole body, at most `limit` bytes. One that is cut short, badly chunked, too slow (the
    workers' read deadline, http_workers.py) or too large leaves the connection unusable, so the
    reply to it closes the connection."""
    declared = environ.get("CONTENT_LENGTH")
    try:
        body = environ["wsgi.input"].read(limit + 1)
        if len(body) > limit:
            raise RequestEntityTooLarge(f"Expected a request body of at most {limit} bytes, got more")
        if declared and declared.isdigit() and len(body) < int(declared):
            raise SidecarError("BAD_INPUT", f"Expected a body of {declared} bytes (its Content-Length), "
                                            f"got {len(body)} before the client stopped sending")
    except TimeoutError as exc:
        close_connection(environ)
        raise SidecarError("TIMEOUT", f"Expected the request body in time, got {exc}") from exc
    except OSError as exc:  # gunicorn's InvalidChunkSize, ChunkMissingTerminator, NoMoreData
        close_connection(environ)
        raise SidecarError("BAD_INPUT", f"Expected a well-formed chunked body, got {exc}") from exc
    except (SidecarError, RequestEntityTooLarge):
        close_connection(environ)
        raise
    return body


def close_connection(environ: dict[str, Any]) -> None:
    """Have the worker close the connection after this reply (a no-op outside gunicorn)."""
    close = environ.get(CLOSE_CONNECTION)
    if close is not None:
        close()


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
    mid-stream is an error event. Closing it (gunicorn does, when the client goes) stops the generation."""
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


def client_gone() -> Callable[[], bool] | None:
    """Under gunicorn, a check on the request's socket that says the client has left (peer.py)."""
    sock = request.environ.get("gunicorn.socket")
    return None if sock is None else peer.watcher(sock)


def create_app(core: Core, max_body_bytes: int) -> Flask:
    """The Flask app for `core`; it closes over the core, already loaded, so nothing loads per worker."""
    app = Flask(__name__, static_folder=None)  # no /static route to match against
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes

    @app.post("/echo")
    def echo() -> Response:
        prompt = string_field(read_object(max_body_bytes), "prompt")
        # JSON strings may hold lone surrogates (`"\ud800"`); surrogatepass keeps them round-trippable.
        echoed = core.echo(prompt.encode("utf-8", "surrogatepass"))
        return json_response({"echo_prompt": echoed.decode("utf-8", "surrogatepass")})

    @app.post("/prompt")
    def prompt() -> Response:
        fields = read_object(max_body_bytes)
        stream = fields.get("stream", False)
        if not isinstance(stream, bool):
            raise SidecarError("BAD_INPUT", f"Expected `stream` to be a boolean, got {type(stream).__name__}")
        if stream:
            events = iter(start_generation(core, generate_request(fields), client_gone()))
            try:
                # Pull the first event here, so errors before any text still get an HTTP status.
                first = next(events, None)
            except BaseException:
                close_events(events)
                raise
            head = [] if first is None else [first]
            return Response(sse_events(events, head), content_type="text/event-stream",
                            headers={"Cache-Control": "no-cache"})
        text: list[str] = []
        stats: dict[str, Any] = {}
        with generation(core, generate_request(fields), client_gone()) as events:
            for event in events:
                text.append(event.text)
                if event.done:
                    stats = event.stats
        return json_response({"response": "".join(text), "stats": stats})

    @app.post("/classify")
    def classify() -> Response:
        image = base64_field(read_object(max_body_bytes), "image")
        if len(image) != IMAGE_BYTES:
            raise SidecarError("BAD_INPUT", f"Expected `image` to hold {IMAGE_BYTES} bytes, got {len(image)}")
        result = core.classify(image)
        label = result.labels[0]
        return json_response({"label": label, "class": class_name(core, label), "compute_ns": result.compute_ns})

    @app.post("/classify_batch")
    def classify_batch() -> Response:
        images = base64_field(read_object(max_body_bytes), "images")
        check_image_batch(images, MAX_BATCH_IMAGES)
        result = core.classify(images)
        return json_response({"labels": list(result.labels), "compute_ns": result.compute_ns})

    @app.get("/healthz")
    def healthz() -> Response:
        return json_response({"status": "ok", "model": core.name})

    @app.errorhandler(SidecarError)
    def on_sidecar_error(exc: SidecarError) -> Response:
        return error_response(exc)

    @app.errorhandler(HTTPException)
    def on_http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = CODE_BY_STATUS.get(status) or ("BAD_INPUT" if status < 500 else "INTERNAL")
        message = exc.description or exc.name
        if status in (404, 405):
            message = f"Expected {ROUTES}, got {request.method} {request.path}"
        response = error_response(SidecarError(code, message), status)
        allow = [value for key, value in exc.get_headers() if key == "Allow"]
        if allow:
            response.headers["Allow"] = allow[0]
        return response

    @app.errorhandler(Exception)
    def on_error(exc: Exception) -> Response:
        log.warning("request failed: %s: %s", type(exc).__name__, exc, exc_info=True)
        return error_response(to_sidecar_error(exc))

    return app
