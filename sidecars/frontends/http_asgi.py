"""`--http-stack uvicorn`: the http-json routes (http_routes.py) as a plain ASGI callable, no
framework, under uvicorn with uvloop and httptools, as FastAPI/Starlette apps are deployed.
The model runs on a thread pool, the event loop only moves bytes; routes that cannot block (health,
the base echo) answer on the loop.

uvicorn has no per-request read deadline and answers a request it cannot parse in plain text;
`_Protocol` adds what the other stacks do (docs/protocol.md, "Limits for connections and
requests"): a head must arrive within `read_timeout_s` of its first byte (else the connection is
dropped), the body within the same deadline (else 408 TIMEOUT); an idle new connection is closed
after the keep-alive time; a malformed request is 400 BAD_INPUT in our error shape; a body cut
short by the client's half-close is 400 BAD_INPUT. A reply the client takes nothing of for
WRITE_TIMEOUT_S drops the connection. A little over the soft size limit: the protocol's additions
and the app share their scope keys and limits, and read best together.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
import time
from concurrent import futures
from typing import Any, Callable

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..address import Address, bind
from ..cores.base import Core
from ..errors import SidecarError
from .framing import DEFAULT_MAX_FRAME_BYTES
from .http_lean import KEEPALIVE_S, WRITE_TIMEOUT_S
from .http_routes import Call, Handler, Reply, Routes, error_reply, handle, too_large
from .stream_server import BACKLOG, DEFAULT_READ_TIMEOUT_S, read_timeout

log = logging.getLogger("sidecars.http_asgi")
WORKERS = 8
GRACE_S = 3.0
DEADLINE_KEY = "sidecar.read_deadline"  # scope key: when the request's body must have arrived
EOF_KEY = "sidecar.eof"  # scope key: the client half-closed before its body was whole
COMPLETE_KEY = "sidecar.complete"  # scope key: the whole request is parsed (no read can wait)
LINGER_KEY = "sidecar.linger"  # scope key: the body was refused unread; close gently after the reply
LINGER_S = 1.0  # as stream_server.LINGER_S
WRITE_BUFFER_BYTES = 16 * 1024
NO_MODEL = frozenset({"/healthz", "/v2", "/v2/health/live", "/v2/health/ready"})


class _Refuse(Exception):
    def __init__(self, error: SidecarError) -> None:
        super().__init__(error.message)
        self.error = error


class _Protocol(HttpToolsProtocol):  # type: ignore[misc]
    """uvicorn's httptools protocol with the read deadline and our error shape (see the module doc)."""

    read_timeout_s = DEFAULT_READ_TIMEOUT_S
    _head_timer: asyncio.TimerHandle | None = None
    _lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A stream's sends wait (uvicorn's flow control) once this much is queued past the kernel's
        # buffer: with uvloop's default (64 KiB) a client that stopped reading a generation's
        # stream went unnoticed for a thousand more tokens, where the blocking stacks notice at once.
        transport.set_write_buffer_limits(high=WRITE_BUFFER_BYTES)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._deadline = time.monotonic() + self.read_timeout_s
        self._head_timer = self.loop.call_later(self.read_timeout_s, self.transport.close)

    def on_headers_complete(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.scope[DEADLINE_KEY] = self._deadline  # type: ignore[literal-required]
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.scope is self.scope:
            self.cycle.transport = _GentleClose(self, self.scope)

    def on_message_complete(self) -> None:
        self.scope[COMPLETE_KEY] = True  # type: ignore[literal-required]
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and cycle.more_body:
            self.scope[EOF_KEY] = True  # type: ignore[literal-required]
            cycle.message_event.set()
            return True  # keep the write side open for the 400
        return None  # otherwise the client is gone: close

    def data_received(self, data: bytes) -> None:
        if not self._lingering:  # what comes after a refused body is let go
            super().data_received(data)

    def on_response_complete(self) -> None:
        if not self._lingering:
            super().on_response_complete()

    def linger(self) -> None:
        """Close gently: closing with the client's bytes unread sends a reset, which can destroy the
        reply before the client reads it. Stop writing, let what still comes go a while, then close."""
        if self._lingering or self.transport.is_closing():
            return
        self._lingering = True
        self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": {"code": "BAD_INPUT", "message": f"Expected an HTTP/1.1 request: {msg}"}})
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: "
                             + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body.encode())
        self.transport.close()


class _GentleClose:
    """A request's view of the transport whose close lingers (`_Protocol.linger`) when the app
    refused the body unread (LINGER_KEY in the request's scope)."""

    def __init__(self, protocol: _Protocol, scope: dict[str, Any]) -> None:
        self._protocol, self._transport, self._scope = protocol, protocol.transport, scope

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        if self._scope.get(LINGER_KEY):
            self._protocol.linger()
        else:
            self._transport.close()


def _headers(reply: Reply, close: bool) -> list[tuple[bytes, bytes]]:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
    if reply.stream is None:
        headers.append((b"content-length", str(len(reply.body)).encode()))
    if close:
        headers.append((b"connection", b"close"))
    return headers


class App:
    """The ASGI callable: find the route, read the body within the limit and deadline, call the
    route on the pool, send the reply (a stream chunk by chunk, each chunk pulled on the pool)."""

    def __init__(self, core: Core, max_body_bytes: int, read_timeout_s: float, pool: futures.Executor) -> None:
        self.routes = Routes(core)
        self.max_body_bytes, self.read_timeout_s, self.pool = max_body_bytes, read_timeout_s, pool
        self.inline = NO_MODEL | ({"/echo"} if type(core).echo is Core.echo else set())

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        try:
            handler, reads_body = self.routes.find(method, path)
        except SidecarError as exc:
            await self.send_reply(send, error_reply(path, exc), False)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await self.read_body(scope, receive, headers) if reads_body else b""
        except _Refuse as exc:
            scope[LINGER_KEY] = True
            await self.send_reply(send, error_reply(path, exc.error), True)
            return
        if body is None:
            return  # the client left
        if path in self.inline:
            await self.send_reply(send, handle(handler, path, Call(body, headers), log), False)
        else:
            await self.call_on_pool(handler, path, Call(body, headers), receive, send)

    async def read_body(self, scope: dict[str, Any], receive: Callable[..., Any], headers: dict[str, str]) -> bytes | None:
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _Refuse(too_large(self.max_body_bytes, declared))
        parts: list[bytes] = []
        size = 0
        if scope.get(COMPLETE_KEY):  # all here already (most requests): no deadline to keep, no timer
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body: bytes = message.get("body", b"")
            if len(body) > self.max_body_bytes:  # chunked: no Content-Length said so before
                raise _Refuse(too_large(self.max_body_bytes, str(len(body))))
            if not message.get("more_body", False):
                return body
            parts.append(body)
            size = len(body)
        deadline = scope.get(DEADLINE_KEY) or time.monotonic() + self.read_timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except asyncio.TimeoutError:
                raise _Refuse(SidecarError("TIMEOUT", f"Expected the request body within {self.read_timeout_s:g} s")) from None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _Refuse(too_large(self.max_body_bytes, "more"))
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)
            if scope.get(EOF_KEY):  # all the client sent before its half-close is in `parts` now
                raise _Refuse(SidecarError("BAD_INPUT", f"Expected a body of {declared} bytes, got {size} before the "
                                                        "client stopped sending"))

    async def call_on_pool(self, handler: Handler, path: str, call: Call, receive: Callable[..., Any],
                           send: Callable[..., Any]) -> None:
        loop = asyncio.get_running_loop()
        left = threading.Event()
        call.gone = left.is_set
        watcher = loop.create_task(_watch(receive, left)) if path == "/prompt" else None
        try:
            reply = await loop.run_in_executor(self.pool, handle, handler, path, call, log)
            if reply.stream is None:
                await self.send_reply(send, reply, False)
                return
            await self.send_stream(send, reply, left)
        finally:
            if watcher is not None:
                watcher.cancel()

    async def send_reply(self, send: Callable[..., Any], reply: Reply, close: bool) -> None:
        await send({"type": "http.response.start", "status": reply.status, "headers": _headers(reply, close)})
        await send({"type": "http.response.body", "body": reply.body})

    async def send_stream(self, send: Callable[..., Any], reply: Reply, left: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        stream = reply.stream
        assert stream is not None
        try:
            await send({"type": "http.response.start", "status": reply.status, "headers": _headers(reply, False)})
            while not left.is_set() and (chunk := await loop.run_in_executor(self.pool, next, stream, None)):
                # Raising ends the response unfinished: uvicorn then closes the connection.
                await asyncio.wait_for(send({"type": "http.response.body", "body": chunk, "more_body": True}),
                                       WRITE_TIMEOUT_S)
            await send({"type": "http.response.body", "body": b""})
        finally:
            await loop.run_in_executor(self.pool, stream.close)  # a client gone mid-stream stops its generation


async def _watch(receive: Callable[..., Any], left: threading.Event) -> None:
    """Set `left` once the client disconnects (the body is read: receive() now waits for that)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    left.set()


def serve(core: Core, address: Address, options: dict[str, Any], on_ready: Callable[[Address], None]) -> None:
    read_timeout_s = read_timeout(options)
    protocol = type("SidecarHttpToolsProtocol", (_Protocol,), {"read_timeout_s": read_timeout_s})
    pool = futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="core")
    app = App(core, int(options.get("max_frame_bytes") or DEFAULT_MAX_FRAME_BYTES), read_timeout_s, pool)
    level = logging.getLogger().getEffectiveLevel()
    config = uvicorn.Config(app, loop="uvloop", http=protocol, lifespan="off", access_log=False, log_config=None,
                            log_level=level, timeout_keep_alive=int(KEEPALIVE_S), timeout_graceful_shutdown=int(GRACE_S),
                            backlog=BACKLOG, server_header=False, date_header=False,
                            proxy_headers=False)  # a local sidecar: no proxy in front to trust
    listener, bound = bind(address, backlog=BACKLOG)
    server = uvicorn.Server(config)

    async def run() -> None:
        async def announce() -> None:
            while not server.started and not server.should_exit:
                await asyncio.sleep(0.005)
            if server.started:
                on_ready(bound)

        task = asyncio.get_running_loop().create_task(announce())
        await server.serve(sockets=[listener])
        task.cancel()

    # uvicorn raises the stopping signal again once it has shut down, into the handler it found:
    # a quiet one here, so a SIGTERM ends the sidecar with 0, as on every other stack.
    previous = {s: signal.signal(s, lambda _signum, _frame: None) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run())
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        pool.shutdown(wait=False)
        listener.close()
        if bound.family == "unix" and os.path.exists(bound.path):
            os.unlink(bound.path)
