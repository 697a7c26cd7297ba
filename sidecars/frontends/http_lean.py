"""`--http-stack lean`: a minimal HTTP/1.1 server on the standard library, the protocol's floor for
the http-json wire rather than a framework. It serves the same routes (http_routes.py) with the
same limits, deadlines and error bodies as the other stacks.

One thread per connection on blocking sockets, as the framed wires (stream_server.py): for one
request at a time per connection this is the lowest-latency shape CPython offers. What it does:
keep-alive (HTTP/1.1's default; 1.0 with `Connection: keep-alive`), pipelined requests answered in
order, Content-Length and chunked bodies, `Expect: 100-continue`, a chunked SSE stream for the
streamed generation, HEAD. Limits (docs/protocol.md, "Limits for connections and requests"): a
request must arrive whole within `read_timeout_s` of its first byte (a head late is dropped, a body
late answered 408 TIMEOUT); a body over `max_frame_bytes` is 413; a head over HEAD_BYTES or one
that is not HTTP/1.x is 400; a reply the client takes nothing of for WRITE_TIMEOUT_S drops the
connection; connections over `max_connections` get 503 OVERLOADED. A little over the soft size
limit: the parser and the connection loop read best together.
"""
from __future__ import annotations

import logging
import socket
import time
from http import HTTPStatus
from typing import Any, Callable
from urllib.parse import unquote

from ..address import Address
from ..cores.base import Core
from ..errors import SidecarError
from . import peer
from .framing import DEFAULT_MAX_FRAME_BYTES
from .http_routes import Call, Reply, Routes, error_reply, handle, too_large
from .stream_server import _lingering_close, _refuse, accept_until_stopped, connection_cap, read_timeout, timeval

log = logging.getLogger("sidecars.http_lean")
RECV_BYTES = 256 * 1024
HEAD_BYTES = 64 * 1024  # request line and headers together
CHUNK_LINE_BYTES = 4096
KEEPALIVE_S = 75.0  # as gunicorn's gthread here (http_json.KEEPALIVE_S): longer than the client's idle limit
WRITE_TIMEOUT_S = 60.0  # as http_workers.WRITE_TIMEOUT_S
_REASONS = {s.value: s.phrase for s in HTTPStatus}


class _Drop(Exception):
    """End the connection without a reply: the client left, or its head came too late."""


class _Refuse(Exception):
    """Answer `error` and close: what is left of the request cannot be trusted."""

    def __init__(self, error: SidecarError) -> None:
        super().__init__(error.message)
        self.error = error


class _Conn:
    """One client connection: a buffer of what it sent, read under the current deadline."""

    def __init__(self, sock: socket.socket, server: "_Server") -> None:
        self.sock, self.server = sock, server
        self.buf = bytearray()
        self.deadline = 0.0
        self.timeout_s = 0.0  # SO_RCVTIMEO now set
        self.gone = peer.watcher(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval(WRITE_TIMEOUT_S))

    def _timeout(self, seconds: float) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(seconds))
        self.timeout_s = seconds

    def fill(self) -> bool:
        """Read more under the deadline; False at end of stream; TimeoutError past the deadline."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no whole request within {self.server.read_timeout_s:g} s")
        # The socket's timeout: what remains, or up to a tenth of the limit more (a request may
        # overrun by that much), so a slow request's reads do not each cost a setsockopt.
        if not remaining <= self.timeout_s <= remaining + self.server.read_timeout_s / 10:
            self._timeout(remaining)
        try:
            data = self.sock.recv(RECV_BYTES)
        except BlockingIOError:  # SO_RCVTIMEO ran out
            raise TimeoutError(f"no whole request within {self.server.read_timeout_s:g} s") from None
        self.buf += data
        return bool(data)

    def wait_for_request(self) -> bool:
        """Idle until a request's first byte (keep-alive time at most); then its deadline starts.
        The socket's timeout changes only when a request needs a second read (fill): one that
        arrives whole, as most do, costs no setsockopt."""
        if not self.buf:
            if self.timeout_s != KEEPALIVE_S:
                self._timeout(KEEPALIVE_S)
            try:
                data = self.sock.recv(RECV_BYTES)
            except BlockingIOError:
                return False  # idle past the keep-alive time
            if not data:
                return False
            self.buf += data
        self.deadline = time.monotonic() + self.server.read_timeout_s
        return True

    def head(self) -> tuple[str, str, str, dict[str, str]]:
        """(method, path, version, headers by lower-case name) of the next request."""
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            if len(self.buf) > HEAD_BYTES:
                raise _Refuse(SidecarError("BAD_INPUT", f"Expected a request head of at most {HEAD_BYTES} bytes"))
            try:
                if not self.fill():
                    raise _Drop("the client left mid-head")
            except TimeoutError as exc:
                raise _Drop(str(exc)) from None
        if end > HEAD_BYTES:
            raise _Refuse(SidecarError("BAD_INPUT", f"Expected a request head of at most {HEAD_BYTES} bytes"))
        lines = self.buf[:end].decode("latin-1").split("\r\n")
        del self.buf[:end + 4]
        parts = lines[0].split(" ")
        if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0") or not parts[0].isalpha():
            raise _Refuse(SidecarError("BAD_INPUT", f"Expected an HTTP/1.1 request line, got {lines[0][:60]!r}"))
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip() or " " in name:
                raise _Refuse(SidecarError("BAD_INPUT", f"Expected a header line, got {line[:60]!r}"))
            key = name.lower()
            if key in headers and key in ("content-length", "transfer-encoding", "host"):
                raise _Refuse(SidecarError("BAD_INPUT", f"Expected one `{name}` header, got more"))
            headers[key] = value.strip()
        target = parts[1]
        if not target.startswith("/"):  # absolute-form: http://host/path
            target = "/" + target.split("://", 1)[-1].partition("/")[2]
        path = target.partition("?")[0]
        return parts[0], unquote(path) if "%" in path else path, parts[2], headers

    def body(self, headers: dict[str, str], limit: int) -> bytes:
        """The whole body within `limit`; _Refuse for one too large, malformed, short or late."""
        chunked = headers.get("transfer-encoding")
        declared = headers.get("content-length")
        if chunked is not None:
            if chunked.lower() != "chunked" or declared is not None:
                raise _Refuse(SidecarError("BAD_INPUT", f"Expected `Transfer-Encoding: chunked` alone, got {chunked!r}"))
            return self._chunked(limit)
        if declared is None:
            return b""
        if not declared.isdigit():
            raise _Refuse(SidecarError("BAD_INPUT", f"Expected Content-Length to be a byte count, got {declared[:40]!r}"))
        size = int(declared)
        if size > limit:
            raise _Refuse(too_large(limit, declared))
        self._need(size, f"a body of {size} bytes (its Content-Length)")
        body = bytes(self.buf[:size])
        del self.buf[:size]
        return body

    def _need(self, size: int, what: str) -> None:
        try:
            while len(self.buf) < size:
                if not self.fill():
                    raise _Refuse(SidecarError("BAD_INPUT", f"Expected {what}, got {len(self.buf)} bytes "
                                                            "before the client stopped sending"))
        except TimeoutError as exc:
            raise _Refuse(SidecarError("TIMEOUT", f"Expected the request body in time, got {exc}")) from None

    def _line(self) -> bytes:
        try:
            while (end := self.buf.find(b"\r\n")) < 0:
                if len(self.buf) > CHUNK_LINE_BYTES:
                    raise _Refuse(SidecarError("BAD_INPUT", f"Expected a chunk-size line of at most "
                                                            f"{CHUNK_LINE_BYTES} bytes"))
                if not self.fill():
                    raise _Refuse(SidecarError("BAD_INPUT", "Expected a chunked body, got its end too soon"))
        except TimeoutError as exc:
            raise _Refuse(SidecarError("TIMEOUT", f"Expected the request body in time, got {exc}")) from None
        line = bytes(self.buf[:end])
        del self.buf[:end + 2]
        return line

    def _chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            text = self._line().split(b";", 1)[0].strip()
            if not text or len(text) > 16 or text.strip(b"0123456789abcdefABCDEF"):
                raise _Refuse(SidecarError("BAD_INPUT", f"Expected a hexadecimal chunk size, got {text[:20]!r}"))
            size = int(text, 16)
            if total + size > limit:
                raise _Refuse(too_large(limit, f"a chunk of {size} after {total}"))
            if size == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            self._need(size + 2, f"a chunk of {size} bytes")
            if self.buf[size:size + 2] != b"\r\n":
                raise _Refuse(SidecarError("BAD_INPUT", "Expected CRLF after a chunk's data"))
            parts.append(bytes(self.buf[:size]))
            del self.buf[:size + 2]
            total += size


def _head_bytes(status: int, headers: dict[str, str], keep_alive: bool, http11: bool = True) -> list[str]:
    """The status line and headers. Keep-alive is HTTP/1.1's default and goes unsaid there (one
    header less for every client to parse, as uvicorn does); 1.0 needs it said."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if not keep_alive:
        lines.append("Connection: close")
    elif not http11:
        lines.append("Connection: keep-alive")
    return lines


class _Server:
    def __init__(self, core: Core, max_body_bytes: int, read_timeout_s: float) -> None:
        self.routes = Routes(core)
        self.max_body_bytes = max_body_bytes
        self.read_timeout_s = read_timeout_s
        self.stopping = False

    def serve_connection(self, sock: socket.socket) -> None:
        conn = _Conn(sock, self)
        try:
            while not self.stopping and conn.wait_for_request():
                if not self.one_request(conn):
                    return
        except _Drop as exc:
            log.info("connection dropped: %s", exc)
        except OSError as exc:  # the client left mid-reply, or took nothing of it for WRITE_TIMEOUT_S
            log.info("connection dropped: %s", exc)
        finally:
            sock.close()

    def one_request(self, conn: _Conn) -> bool:
        """Read and answer one request; whether the connection stays open."""
        path = "/"
        try:
            method, path, version, headers = conn.head()
            handler, reads_body = self.routes.find(method, path)
            if reads_body and headers.get("expect", "").lower() == "100-continue" and not conn.buf:
                conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = conn.body(headers, self.max_body_bytes)
        except _Refuse as exc:
            self.send(conn, error_reply(path, exc.error), keep_alive=False, head_only=False)
            _lingering_close(conn.sock)
            return False
        except SidecarError as exc:  # no such route: the body, if any, is read and let go
            try:
                conn.body(headers, self.max_body_bytes)
            except _Refuse:
                self.send(conn, error_reply(path, exc), keep_alive=False, head_only=False)
                _lingering_close(conn.sock)
                return False
            handler, body = (lambda _call, e=exc: error_reply(path, e)), b""
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        reply = handle(handler, path, Call(body, headers, conn.gone), log)
        keep_alive = keep_alive and not self.stopping
        self.send(conn, reply, keep_alive, head_only=method == "HEAD", chunked_ok=version == "HTTP/1.1")
        return keep_alive

    def send(self, conn: _Conn, reply: Reply, keep_alive: bool, head_only: bool, chunked_ok: bool = True) -> None:
        if reply.stream is None:
            lines = _head_bytes(reply.status, reply.headers, keep_alive, chunked_ok)
            lines.append(f"Content-Length: {len(reply.body)}")
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            conn.sock.sendall(head if head_only else head + reply.body)
            return
        stream = reply.stream
        try:
            lines = _head_bytes(reply.status, reply.headers, keep_alive and chunked_ok, chunked_ok)
            if chunked_ok:
                lines.append("Transfer-Encoding: chunked")
            conn.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            if head_only:
                return
            for chunk in stream:
                conn.sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked_ok else chunk)
            conn.sock.sendall(b"0\r\n\r\n" if chunked_ok else b"")
        finally:
            stream.close()  # a client gone mid-stream (the send failed) stops its generation here
        if not chunked_ok:
            raise _Drop("an HTTP/1.0 stream ends with the connection")


class _Refusal:
    """stream_server._refuse's session: the one reply for a connection over the cap."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    def on_stream_error(self, _error: SidecarError) -> bytes:
        lines = _head_bytes(self.reply.status, self.reply.headers, False)
        lines.append(f"Content-Length: {len(self.reply.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.reply.body


def serve(core: Core, address: Address, options: dict[str, Any], on_ready: Callable[[Address], None]) -> None:
    """Accept until SIGTERM/SIGINT, then let requests in progress finish (stream_server._drain)."""
    server = _Server(core, int(options.get("max_frame_bytes") or DEFAULT_MAX_FRAME_BYTES), read_timeout(options))
    cap = connection_cap(options)
    overloaded = SidecarError("OVERLOADED", f"Expected at most {cap} connections at once, got one more")

    def stopping() -> None:
        server.stopping = True

    accept_until_stopped(
        address, on_ready, cap, serve=server.serve_connection,
        refuse=lambda sock, lingering: _refuse(sock, _Refusal(error_reply("/", overloaded)), cap, lingering),  # type: ignore[arg-type]
        on_stop=stopping, thread_name="http",
    )
