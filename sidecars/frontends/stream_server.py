"""The socket layer shared by the length-prefixed wires (`framed`, `msgpack`): only the codec differs.

One thread per connection with blocking sockets: for one request at a time per connection this
is the lowest-latency shape CPython offers (no event-loop hop between recv and the handler).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import struct
import threading
import time
from typing import Any, Callable, Protocol

from ..address import Address, bind
from ..errors import SidecarError
from . import peer
from .framing import DEFAULT_MAX_FRAME_BYTES, FrameDecoder

log = logging.getLogger("sidecars.stream")
RECV_BYTES = 256 * 1024
JOIN_SMALLER_THAN = 64 * 1024  # below this one copy beats a second syscall
LINGER_S = 1.0
# Limits (docs/protocol.md, "Limits for connections and requests"). The kernel clamps the backlog
# to net.core.somaxconn (4096 on current Linux); 128 turned a burst of 300 connects into EAGAIN.
BACKLOG = 4096
# Each connection is a thread and a 256 KiB receive buffer: 2,000 idle ones cost 570 MB.
DEFAULT_MAX_CONNECTIONS = 512
STOP_GRACE_S = 2.0  # for all handlers together; one still sending after it is cut off
REFUSALS_LINGERING = 32  # refused connections closed gently (_lingering_close) at a time; more closed at once
# A frame (framed, msgpack) or request (lean HTTP) must arrive whole within this long of its first
# byte (`--read-timeout-s`); a connection idle between requests has no deadline.
DEFAULT_READ_TIMEOUT_S = 10.0
TIMEVAL = struct.Struct("@ll")  # struct timeval


class Session(Protocol):
    """Per-connection codec state."""

    def on_frame(self, body: bytes, send: Callable[[list[bytes]], None]) -> None:
        """Answer one frame body by calling `send` with reply buffers (length-prefixed frames).

        `send` may be called several times (streamed tokens); each call's buffers go out at once.
        """
        ...

    def on_stream_error(self, error: SidecarError) -> bytes | None:
        """The stream went out of sync: the last frame to send before closing, if any."""
        ...

    # Optional: `watch_peer(gone)`, called once before the first frame with a check (peer.py) that
    # says whether the client has left; a session uses it to cancel work nobody waits for.


def send_frames(sock: socket.socket, frames: list[bytes]) -> None:
    total = sum(len(f) for f in frames)
    if total < JOIN_SMALLER_THAN or len(frames) == 1:
        sock.sendall(frames[0] if len(frames) == 1 else b"".join(frames))
        return
    for frame in frames:
        sock.sendall(frame)


def _lingering_close(sock: socket.socket) -> None:
    """Close after an error without losing the error frame.

    Closing a socket whose receive buffer still holds the client's unread bytes (the rest of an
    oversized frame) sends a reset, and the reset can destroy our error frame before the client
    reads it. So: stop writing, discard what keeps arriving for up to a second, then close.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(LINGER_S)
        deadline = time.monotonic() + LINGER_S
        while time.monotonic() < deadline and sock.recv(RECV_BYTES):
            pass
    except OSError:
        pass


def read_timeout(options: dict[str, Any]) -> float:
    """`options["read_timeout_s"]`, or the default; a value that is not positive is refused."""
    value = float(options.get("read_timeout_s") or DEFAULT_READ_TIMEOUT_S)
    if value <= 0:
        raise ValueError(f"Expected `read_timeout_s` to be positive, got {value!r}")
    return value


def timeval(seconds: float) -> bytes:
    """A struct timeval for SO_RCVTIMEO/SO_SNDTIMEO of at least 1 us (0 would mean no timeout at all)."""
    micros = max(1, int(seconds * 1_000_000))
    return TIMEVAL.pack(micros // 1_000_000, micros % 1_000_000)


def receive_timeout(sock: socket.socket, seconds: float) -> None:
    """SO_RCVTIMEO: a blocking recv waits at most `seconds` (0: no limit), then raises BlockingIOError."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(seconds) if seconds > 0 else TIMEVAL.pack(0, 0))


def _serve_connection(sock: socket.socket, session: Session, max_frame_bytes: int,
                      read_timeout_s: float = DEFAULT_READ_TIMEOUT_S) -> None:
    """Frames in, replies out. A frame must arrive whole within `read_timeout_s` of the read that
    brought its first byte; the socket's timeout is set only while a frame is part-way in (a frame
    that arrives in one read, as a small request does, costs no setsockopt)."""
    decoder = FrameDecoder(max_frame_bytes=max_frame_bytes)

    def send(frames: list[bytes]) -> None:
        send_frames(sock, frames)

    watch_peer = getattr(session, "watch_peer", None)
    if watch_peer is not None:
        watch_peer(peer.watcher(sock))
    # One reused receive buffer: a fresh 256 KiB bytes object per recv costs an mmap/munmap pair.
    buffer = bytearray(RECV_BYTES)
    view = memoryview(buffer)
    deadline: float | None = None  # while a frame is part-way in: when it must be whole
    try:
        while True:
            try:
                if deadline is not None and time.monotonic() >= deadline:
                    raise BlockingIOError  # late, though bytes keep coming faster than SO_RCVTIMEO's granularity
                n = sock.recv_into(buffer)
            except BlockingIOError:  # SO_RCVTIMEO ran out, or the deadline passed: the frame part-way in is late
                error = SidecarError("TIMEOUT", f"Expected a whole frame within {read_timeout_s:g} s of its first byte, "
                                                f"got {decoder.pending_bytes} bytes of it")
                log.info("closing connection: %s", error.message)
                last = session.on_stream_error(error)
                if last:
                    sock.sendall(last)
                _lingering_close(sock)
                return
            data = view[:n]
            if not n:
                if decoder.pending_bytes:
                    log.info("client closed mid-frame with %d bytes pending", decoder.pending_bytes)
                return
            frames = decoder.feed(data)
            for body in frames:
                session.on_frame(body, send)
            if decoder.error is not None:
                log.info("closing connection: %s", decoder.error.message)
                last = session.on_stream_error(decoder.error)
                if last:
                    sock.sendall(last)
                _lingering_close(sock)
                return
            if decoder.pending_bytes:
                now = time.monotonic()
                if deadline is None or frames:  # this read began the frame now part-way in
                    deadline = now + read_timeout_s
                receive_timeout(sock, max(deadline - now, 0.001))
            elif deadline is not None:
                deadline = None
                receive_timeout(sock, 0)
    except (ConnectionError, BrokenPipeError, OSError) as exc:
        log.info("connection dropped: %s", exc)
    finally:
        sock.close()


def serve_stream(
    address: Address,
    make_session: Callable[[], Session],
    on_ready: Callable[[Address], None],
    options: dict[str, Any],
) -> None:
    """Accept connections until SIGTERM/SIGINT, then drain in-flight requests and return.

    From the front-end's `options`: a frame over `max_frame_bytes` is refused; a connection over
    `max_connections` (connection_cap) gets the codec's error frame OVERLOADED and is closed; a frame
    not whole within `read_timeout_s` (read_timeout) of its first byte gets TIMEOUT and its connection
    closed.
    """
    max_frame_bytes = int(options.get("max_frame_bytes") or DEFAULT_MAX_FRAME_BYTES)
    max_connections, read_timeout_s = connection_cap(options), read_timeout(options)
    accept_until_stopped(
        address, on_ready, max_connections,
        serve=lambda conn: _serve_connection(conn, make_session(), max_frame_bytes, read_timeout_s),
        refuse=lambda conn, lingering: _refuse(conn, make_session(), max_connections, lingering),
    )


def accept_until_stopped(
    address: Address,
    on_ready: Callable[[Address], None],
    max_connections: int,
    serve: Callable[[socket.socket], None],
    refuse: Callable[[socket.socket, threading.BoundedSemaphore], None],
    on_stop: Callable[[], None] | None = None,
    thread_name: str = "conn",
) -> None:
    """The accept loop every socket front-end of ours shares (framed, msgpack, http-json's lean
    stack): a thread per connection running `serve`, `refuse` for one over `max_connections`; on
    SIGTERM/SIGINT, `on_stop`, then the listener closes and open connections drain (_drain)."""
    listener, bound = bind(address, backlog=BACKLOG)
    connections: set[socket.socket] = set()
    threads: list[threading.Thread] = []
    lock = threading.Lock()
    lingering = threading.BoundedSemaphore(REFUSALS_LINGERING)

    stopping = False

    # The handler only says so and wakes accept() (a listener shut down fails it at once, unix and
    # tcp alike). It used to raise into whatever the main thread was doing, which could be inside
    # `with lock` or Thread.start(): a lock left held hung the drain until the sidecar was killed.
    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        on_ready(bound)
        while not stopping:
            try:
                conn, _ = listener.accept()
            except OSError:
                if stopping:
                    break
                raise
            if bound.family == "tcp":
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with lock:
                full = len(connections) >= max_connections
                if not full:
                    connections.add(conn)
            if full:
                refuse(conn, lingering)
                continue

            def run(c: socket.socket = conn) -> None:
                try:
                    serve(c)
                finally:
                    with lock:
                        connections.discard(c)

            thread = threading.Thread(target=run, daemon=True, name=thread_name)
            thread.start()
            threads[:] = [t for t in threads if t.is_alive()] + [thread]
        log.info("shutting down: %d connection(s) open", len(connections))
    finally:
        if on_stop is not None:
            on_stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        listener.close()
        if bound.family == "unix" and os.path.exists(bound.path):
            os.unlink(bound.path)
        _drain(connections, threads, lock)


def connection_cap(options: dict[str, Any]) -> int:
    """`options["max_connections"]` (the front-ends' options dict), or the default."""
    return int(options.get("max_connections") or DEFAULT_MAX_CONNECTIONS)


def _refuse(conn: socket.socket, session: Session, cap: int, lingering: threading.BoundedSemaphore) -> None:
    """Answer a connection over the cap with one error frame and close it, without blocking accept."""
    error = SidecarError("OVERLOADED", f"Expected at most {cap} connections at once, got one more: try again later")
    log.info("refusing a connection: %d open", cap)
    last = session.on_stream_error(error)
    try:
        conn.setblocking(False)
        if last:
            conn.send(last)  # a new socket's empty send buffer takes a small frame whole
        conn.setblocking(True)
    except OSError:
        conn.close()
        return
    if not lingering.acquire(blocking=False):
        conn.close()
        return

    def close() -> None:
        try:
            _lingering_close(conn)
        finally:
            conn.close()
            lingering.release()

    threading.Thread(target=close, daemon=True, name="refused").start()


def _drain(connections: set[socket.socket], threads: list[threading.Thread], lock: threading.Lock) -> None:
    """Stop within STOP_GRACE_S and a second, whatever the clients do.

    SHUT_RD lets a handler finish the request it is on and then see end-of-stream. A handler still
    at it after the grace, typically blocked sending to a client that does not read, has its socket
    shut down both ways, which fails the send at once (it used to be waited on 5 s per client).
    """
    for how, wait_s in ((socket.SHUT_RD, STOP_GRACE_S), (socket.SHUT_RDWR, LINGER_S)):
        with lock:
            for conn in list(connections):
                try:
                    conn.shutdown(how)
                except OSError:
                    pass
        deadline = time.monotonic() + wait_s
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
