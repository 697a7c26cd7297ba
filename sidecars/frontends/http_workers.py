"""gunicorn's `sync` and `gthread` workers with the limits of docs/protocol.md ("Limits for
connections and requests"); the http_json front-end names them in its `worker_class` setting.

gunicorn itself has no per-connection deadline: its `timeout` is the master's heartbeat kill of a
whole silent worker (off here, or a long generation is cut), and gthread's `keepalive` times only
a connection idle in its poller. So one client that sent part of a request held a sync worker, or
one of gthread's threads, forever. What these add:

- A request must arrive whole, head and body, within `read_timeout_s` of its first read: a head
  late is dropped (the connection closed, no reply), a body late answered 408 TIMEOUT by the app,
  then the connection closed. A reply the client takes nothing of for WRITE_TIMEOUT_S drops the
  connection (a thread blocked in a send was held forever).
- gthread: a new connection waits in the poller, costing no thread, until its first bytes arrive
  (gunicorn handed it to a thread at once, where it blocked reading).
- gthread: requests already read behind the one answered (pipelined) are answered next, in order,
  on the same thread (gunicorn put the connection back in the poller, which never fired for bytes
  it had already read, and closed it at the keep-alive timeout).
- A chunk size over the body limit is refused (413) as soon as it is read, and a chunk-size line is
  at most CHUNK_LINE_BYTES; the app closes the connection after any body it cannot trust.
"""
from __future__ import annotations

import errno
import inspect
import io
import selectors
import socket
import time
from functools import partial
from typing import Any, Callable

from gunicorn import util
from gunicorn.http.body import Body, ChunkedReader
from gunicorn.http.errors import InvalidChunkSize, NoMoreData
from gunicorn.workers import gthread
from gunicorn.workers.gthread import TConn, ThreadWorker
from gunicorn.workers.sync import SyncWorker
from werkzeug.exceptions import RequestEntityTooLarge

from .http_app import CLOSE_CONNECTION
from .stream_server import _lingering_close, timeval

# Longer than a generation's client-stall timeout (30 s by default, sidecars/cores/gemma.py), so that a
# stalled stream ends with its TIMEOUT event rather than this, when the client reads again in time.
WRITE_TIMEOUT_S = 60.0
CHUNK_LINE_BYTES = 4096


class ReadTimeout(NoMoreData, TimeoutError):
    """A request not read in time: gunicorn drops the connection as for a client that left
    (NoMoreData); the app answers 408 when it was reading the body (TimeoutError)."""

    def __init__(self, message: str) -> None:
        OSError.__init__(self, message)
        self.buf = None
        self.message = message

    def __str__(self) -> str:
        return self.message


class DeadlineSocket:
    """A client socket whose reads share one deadline per request (`start_request`) and whose
    writes fail once the client takes nothing for `write_timeout_s`. Everything else is the
    socket's own.

    The timeouts are the kernel's (SO_RCVTIMEO, SO_SNDTIMEO) on the blocking socket: Python's own
    (settimeout) polls before every recv and send and switches modes with an ioctl, which cost a
    keep-alive echo 15-25 us. A read timeout is set again only once the deadline is nearer than it
    by a tenth of the deadline, so a request may overrun its deadline by at most that tenth.
    """

    def __init__(self, sock: socket.socket, timeout_s: float, write_timeout_s: float = WRITE_TIMEOUT_S) -> None:
        self._sock = sock
        self.timeout_s = timeout_s
        self.write_timeout_s = write_timeout_s
        self._slack_s = timeout_s / 10
        self._recv_timeout_s = 0.0
        self.linger = False  # set when a request's body is left unread (http_app.linger_on_close)
        self._write_shut = False  # gunicorn shut the write side (27's graceful close): no linger of ours
        # What gunicorn and its poller call on every request, bound here rather than found by __getattr__.
        self.fileno, self.setblocking = sock.fileno, sock.setblocking
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval(write_timeout_s))
        self.start_request()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def start_request(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        if self._recv_timeout_s != self.timeout_s:
            self._set_recv_timeout(self.timeout_s)

    def recv(self, size: int, flags: int = 0) -> bytes:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise ReadTimeout(f"no whole request within {self.timeout_s:g} s")
        if remaining < self._recv_timeout_s - self._slack_s:
            self._set_recv_timeout(remaining)
        try:
            return self._sock.recv(size, flags)
        except BlockingIOError:  # SO_RCVTIMEO ran out (or a non-blocking socket had nothing)
            if self._sock.getblocking():
                raise ReadTimeout(f"no whole request within {self.timeout_s:g} s") from None
            raise

    def sendall(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except BlockingIOError:  # SO_SNDTIMEO ran out
            # EPIPE: gunicorn drops the connection quietly, as for a client that went away.
            raise BrokenPipeError(errno.EPIPE, f"the client took no reply for {self.write_timeout_s:g} s") from None

    def shutdown(self, how: int) -> None:
        if how in (socket.SHUT_WR, socket.SHUT_RDWR):
            self._write_shut = True
        self._sock.shutdown(how)

    def close(self) -> None:
        """Close; gently when the client's bytes wait unread, or may still come (a body refused
        before it was read, as a 413 for its Content-Length): closing then sends a reset, which
        can destroy the reply before the client reads it (stream_server._lingering_close). Not
        again after gunicorn 27's own graceful close (it shut the write side and drained), which
        runs on gthread's poller thread: a second linger there stalled every other connection."""
        if self._write_shut:
            self._sock.close()
            return
        try:
            self._sock.setblocking(False)  # a timeout gunicorn set would make the peek wait it out
            pending = self.linger or self._sock.recv(1, socket.MSG_PEEK)
        except OSError:
            pending = b""
        if pending:
            _lingering_close(self._sock)
        self._sock.close()

    def _set_recv_timeout(self, seconds: float) -> None:
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(seconds))
        self._recv_timeout_s = seconds


class LimitedChunkedReader(ChunkedReader):  # type: ignore[misc]
    def __init__(self, req: Any, unreader: Any, limit: int) -> None:
        self.limit = limit
        super().__init__(req, unreader)

    def parse_chunk_size(self, unreader: Any, data: bytes | None = None) -> tuple[int, bytes | None]:
        size, rest = super().parse_chunk_size(unreader, data)
        if size > self.limit:
            raise RequestEntityTooLarge(f"Expected a request body of at most {self.limit} bytes, got a chunk of {size}")
        return size, rest

    def get_data(self, unreader: Any, buf: io.BytesIO) -> None:
        if buf.tell() > CHUNK_LINE_BYTES:
            raise InvalidChunkSize(buf.getvalue()[:32] + b"...")
        super().get_data(unreader, buf)


class _Limits:
    """What both workers add; `self.app` is http_json's application, which carries the limits."""

    app: Any
    wsgi: Callable[..., Any]

    @property
    def read_timeout_s(self) -> float:
        return float(self.app.read_timeout_s)

    def load_wsgi(self) -> None:
        super().load_wsgi()  # type: ignore[misc]
        app, limit = self.wsgi, int(self.app.max_body_bytes)

        def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
            # gunicorn's start_response is its Response's bound method; the app may close after its reply.
            environ[CLOSE_CONNECTION] = start_response.__self__.force_close
            body = environ.get("wsgi.input")
            if type(getattr(body, "reader", None)) is ChunkedReader:
                req = body.reader.req
                req.body = environ["wsgi.input"] = Body(LimitedChunkedReader(req, req.unreader, limit))
            return app(environ, start_response)

        self.wsgi = wsgi


class SidecarSyncWorker(_Limits, SyncWorker):  # type: ignore[misc]
    """One connection at a time, closed after its reply; it waits at most the read deadline for a request."""

    def accept(self, listener: socket.socket) -> None:
        client, addr = listener.accept()
        client.setblocking(True)
        util.close_on_exec(client)
        self.handle(listener, DeadlineSocket(client, self.read_timeout_s), addr)


def _accept(listener: socket.socket) -> tuple[socket.socket, Any] | None:
    """A new client from gthread's non-blocking listener, or None when another worker took it first."""
    try:
        return listener.accept()
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
            raise
        return None


class SidecarThreadWorker(_Limits, ThreadWorker):  # type: ignore[misc]
    def accept(self, server: Any, listener: socket.socket) -> None:
        accepted = _accept(listener)
        if accepted is None:
            return
        sock, client = accepted
        conn = TConn(self.cfg, DeadlineSocket(sock, self.read_timeout_s), client, server)
        self.nr_conns += 1
        # Into the poller until its first bytes, as a kept-alive connection waits for its next
        # request (and closed, like one, after the keep-alive time idle).
        conn.set_timeout()
        with self._lock:
            self._keep.append(conn)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.reuse_connection, conn))

    def handle(self, conn: TConn) -> tuple[bool, TConn]:
        while True:
            conn.sock.start_request()  # from here, not from the poller: time queued for a thread is not the client's
            keepalive, conn = super().handle(conn)
            if not (keepalive and self.alive and _buffered(conn.parser)):
                return keepalive, conn


def _buffered(parser: Any) -> bool:
    """Whether gunicorn has already read bytes past the last request (a pipelined request)."""
    buf = parser.unreader.buf
    buf.seek(0, io.SEEK_END)
    return buf.tell() > 0


# SidecarThreadWorker extends gthread's internals as gunicorn 20.1 has them (accept(server,
# listener), TConn(cfg, sock, client, server), the keep-alive queue). gunicorn 27 (what pip installs
# today) rewrote that worker, and answers pipelined requests itself; SidecarNewThreadWorker adds
# the read deadline to it. A gthread that fits neither is served by SidecarStockThreadWorker, with the
# app-level limits only (body and chunk limits, closing after an untrusted body). `http_json` logs it.
GTHREAD_EXTENDED = list(inspect.signature(ThreadWorker.accept).parameters) == ["self", "server", "listener"]
GTHREAD_NEW = (list(inspect.signature(ThreadWorker.accept).parameters) == ["self", "listener"]
               and all(hasattr(gthread, name) for name in ("_DEFER", "DEFAULT_WORKER_DATA_TIMEOUT"))
               and all(hasattr(TConn, name) for name in ("wait_for_data", "init"))
               and hasattr(ThreadWorker, "on_pending_socket_readable"))


class SidecarStockThreadWorker(_Limits, ThreadWorker):  # type: ignore[misc]
    """gthread as gunicorn has it, with the app-level limits: for a gunicorn whose gthread neither
    SidecarThreadWorker nor SidecarNewThreadWorker fits."""


class SidecarNewThreadWorker(_Limits, ThreadWorker):  # type: ignore[misc]
    """gunicorn 27's gthread with the per-request read deadline: each client socket is a
    DeadlineSocket, whose deadline starts when a pool thread takes a request. A new connection
    waits in the poller, costing no thread, until its first bytes (gthread 27 has a pool thread
    wait up to 5 s for them, so eight idle connects held a request behind them for 5 s), and is
    closed after the keep-alive time if none come, as gthread does with connections it defers."""

    def accept(self, listener: socket.socket) -> None:  # type: ignore[override]
        accepted = _accept(listener)
        if accepted is None:
            return
        sock, client = accepted
        self.nr_conns += 1
        conn = TConn(self.cfg, DeadlineSocket(sock, self.read_timeout_s), client, listener.getsockname())  # non-blocking now
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))

    def handle(self, conn: TConn) -> Any:
        if not conn.initialized and not conn.data_ready and not conn.wait_for_data(gthread.DEFAULT_WORKER_DATA_TIMEOUT):
            return gthread._DEFER
        conn.sock.start_request()
        return super().handle(conn)
