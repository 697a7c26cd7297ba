"""The `http-json` wire under gunicorn (`--http-stack gunicorn-sync|gunicorn-gthread`): a Flask app
with one catch-all rule that hands every request to the framework-neutral routes (http_routes.py),
so Flask serves exactly what the other stacks serve. What stays here is the WSGI edge: reading the
body within the limit from gunicorn's input, and having gunicorn close a connection whose body
cannot be trusted.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from flask import Flask, Response, request
from gunicorn.http.errors import ParseException  # a malformed chunk: an IOError on gunicorn 20.1, this on 27
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..cores.base import Core
from ..errors import SidecarError
from . import peer
from .http_routes import Call, Reply, Routes, error_reply, handle, too_large

log = logging.getLogger("sidecars.http_json")

# Statuses Werkzeug raises itself; any other 4xx is BAD_INPUT and any 5xx INTERNAL.
CODE_BY_STATUS = {404: "UNKNOWN_TYPE", 405: "UNKNOWN_TYPE", 413: "FRAME_TOO_LARGE"}
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]
# The environ key of a callable that makes gunicorn close the connection after the reply (http_workers.py).
CLOSE_CONNECTION = "sidecars.close_connection"


def to_response(reply: Reply) -> Response:
    body: Any = reply.body if reply.stream is None else reply.stream
    return Response(body, status=reply.status, headers=reply.headers)


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The whole body, at most `limit` bytes. One that is cut short, badly chunked, too slow (the
    workers' read deadline, http_workers.py) or too large leaves the connection unusable, so the
    reply to it closes the connection."""
    declared = environ.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) > limit:
        linger_on_close(environ)
        close_connection(environ)
        raise too_large(limit, declared)
    try:
        body = environ["wsgi.input"].read(limit + 1)
        if len(body) > limit:
            raise too_large(limit, "more")
        if declared and declared.isdigit() and len(body) < int(declared):
            raise SidecarError("BAD_INPUT", f"Expected a body of {declared} bytes (its Content-Length), "
                                            f"got {len(body)} before the client stopped sending")
    except TimeoutError as exc:
        close_connection(environ)
        raise SidecarError("TIMEOUT", f"Expected the request body in time, got {exc}") from exc
    except RequestEntityTooLarge as exc:  # a chunk over the limit (http_workers.LimitedChunkedReader)
        close_connection(environ)
        raise too_large(limit, "a larger chunk") from exc
    except (OSError, ParseException) as exc:  # gunicorn's InvalidChunkSize, ChunkMissingTerminator, NoMoreData
        close_connection(environ)
        raise SidecarError("BAD_INPUT", f"Expected a well-formed chunked body, got {exc}") from exc
    except SidecarError:
        close_connection(environ)
        raise
    return body


def linger_on_close(environ: dict[str, Any]) -> None:
    """The body is left unread: have the worker's close keep reading a while, so that the reply
    is not lost to the reset a close with unread bytes sends (http_workers.DeadlineSocket.close)."""
    sock = environ.get("gunicorn.socket")
    if sock is not None and hasattr(sock, "linger"):
        sock.linger = True


def close_connection(environ: dict[str, Any]) -> None:
    """Have the worker close the connection after this reply (a no-op outside gunicorn)."""
    close = environ.get(CLOSE_CONNECTION)
    if close is not None:
        close()


def client_gone() -> Callable[[], bool] | None:
    """Under gunicorn, a check on the request's socket that says the client has left (peer.py)."""
    sock = request.environ.get("gunicorn.socket")
    return None if sock is None else peer.watcher(sock)


def headers_of(environ: dict[str, Any]) -> dict[str, str]:
    """The request headers the routes read, by lower-case name."""
    return {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}


def create_app(core: Core, max_body_bytes: int) -> Flask:
    """The Flask app for `core`; it closes over the core, already loaded, so nothing loads per worker."""
    app = Flask(__name__, static_folder=None)  # no /static route to match against
    routes = Routes(core)

    def dispatch(path: str = "") -> Response:
        path = request.path
        try:
            handler, reads_body = routes.find(request.method, path)
            body = read_body(request.environ, max_body_bytes) if reads_body else b""
        except SidecarError as exc:
            return to_response(error_reply(path, exc))
        return to_response(handle(handler, path, Call(body, headers_of(request.environ), client_gone()), log))

    for rule in ("/", "/<path:path>"):
        app.add_url_rule(rule, "dispatch" + rule, dispatch, methods=METHODS, provide_automatic_options=False)

    @app.errorhandler(HTTPException)
    def on_http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = CODE_BY_STATUS.get(status) or ("BAD_INPUT" if status < 500 else "INTERNAL")
        return to_response(error_reply(request.path, SidecarError(code, exc.description or exc.name), status))

    @app.errorhandler(Exception)
    def on_error(exc: Exception) -> Response:
        log.warning("request failed: %s: %s", type(exc).__name__, exc, exc_info=True)
        return to_response(error_reply(request.path, exc))

    return app


