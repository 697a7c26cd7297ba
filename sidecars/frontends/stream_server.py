"""The socket layer shared by the length-prefixed wires (`framed`, `msgpack`): only the codec differs.

One thread per connection with blocking sockets: for one request at a time per connection this
is the lowest-latency shape CPython offers (no event-loop hop between recv and the handler).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from typing import Callable, Protocol

from ..address import Address, bind
from ..errors import SidecarError
from .framing import DEFAULT_MAX_FRAME_BYTES, FrameDecoder

log = logging.getLogger("sidecars.stream")
RECV_BYTES = 256 * 1024
JOIN_SMALLER_THAN = 64 * 1024  # below this one copy beats a second syscall
LINGER_S = 1.0


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


class _Shutdown(Exception):
    pass


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


def _serve_connection(sock: socket.socket, session: Session, max_frame_bytes: int) -> None:
    decoder = FrameDecoder(max_frame_bytes=max_frame_bytes)

    def send(frames: list[bytes]) -> None:
        send_frames(sock, frames)

    # One reused receive buffer: a fresh 256 KiB bytes object per recv costs an mmap/munmap pair.
    buffer = bytearray(RECV_BYTES)
    view = memoryview(buffer)
    try:
        while True:
            n = sock.recv_into(buffer)
            data = view[:n]
            if not n:
                if decoder.pending_bytes:
                    log.info("client closed mid-frame with %d bytes pending", decoder.pending_bytes)
                return
            for body in decoder.feed(data):
                session.on_frame(body, send)
            if decoder.error is not None:
                log.info("closing connection: %s", decoder.error.message)
                last = session.on_stream_error(decoder.error)
                if last:
                    sock.sendall(last)
                _lingering_close(sock)
                return
    except (ConnectionError, BrokenPipeError, OSError) as exc:
        log.info("connection dropped: %s", exc)
    finally:
        sock.close()


def serve_stream(
    address: Address,
    make_session: Callable[[], Session],
    on_ready: Callable[[Address], None],
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
) -> None:
    """Accept connections until SIGTERM/SIGINT, then drain in-flight requests and return."""
    listener, bound = bind(address)
    connections: set[socket.socket] = set()
    threads: list[threading.Thread] = []
    lock = threading.Lock()

    def stop(_signum: int, _frame: object) -> None:
        raise _Shutdown()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        on_ready(bound)
        while True:
            conn, _ = listener.accept()
            if bound.family == "tcp":
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with lock:
                connections.add(conn)

            def run(c: socket.socket = conn) -> None:
                try:
                    _serve_connection(c, make_session(), max_frame_bytes)
                finally:
                    with lock:
                        connections.discard(c)

            thread = threading.Thread(target=run, daemon=True, name="conn")
            thread.start()
            threads[:] = [t for t in threads if t.is_alive()] + [thread]
    except _Shutdown:
        log.info("shutting down: %d connection(s) open", len(connections))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        listener.close()
        if bound.family == "unix" and os.path.exists(bound.path):
            os.unlink(bound.path)
        _drain(connections, threads, lock)


def _drain(connections: set[socket.socket], threads: list[threading.Thread], lock: threading.Lock) -> None:
    # SHUT_RD lets a handler finish the request it is on and then see end-of-stream.
    with lock:
        for conn in list(connections):
            try:
                conn.shutdown(socket.SHUT_RD)
            except OSError:
                pass
    for thread in threads:
        thread.join(timeout=5.0)
