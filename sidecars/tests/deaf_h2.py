"""A gRPC client on a raw HTTP/2 connection that sends calls and never lets the server answer them.

It reads the socket (to follow the server's settings and windows for what it sends) but never
sends a WINDOW_UPDATE, so the server may put at most 65,535 bytes of replies on the connection:
every other reply waits inside the server. This is a client that stopped reading, made exact.
"""
from __future__ import annotations

import socket
import struct
import threading

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DEFAULT_WINDOW = 65535
MAX_FRAME = 16384


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + struct.pack(">I", stream) + payload


def _literal(name: str, value: str) -> bytes:
    """HPACK: a literal header field without indexing, new name, no Huffman (both under 127 bytes)."""
    return b"\x00" + bytes((len(name),)) + name.encode() + bytes((len(value),)) + value.encode()


def request_headers(path: str) -> bytes:
    fields = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
              ("content-type", "application/grpc"), ("te", "trailers")]
    return b"".join(_literal(name, value) for name, value in fields)


def echo_message(payload: bytes) -> bytes:
    """A gRPC length-prefixed EchoRequest{bytes payload = 1}."""
    size, varint = len(payload), bytearray()
    while True:
        byte, size = size & 0x7F, size >> 7
        varint.append(byte | (0x80 if size else 0))
        if not size:
            break
    body = b"\x0a" + bytes(varint) + payload
    return b"\x00" + struct.pack(">I", len(body)) + body


class DeafClient:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._cond = threading.Condition()
        self._conn_window = DEFAULT_WINDOW
        self._initial_window = DEFAULT_WINDOW
        self._windows: dict[int, int] = {}
        self._reset: set[int] = set()
        self.closed = False
        self.data_received = 0
        self._next_stream = 1
        self._send_lock = threading.Lock()
        self._send(PREFACE + frame(SETTINGS, 0, 0))
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def call(self, path: str, message: bytes) -> int:
        """Send one call, whole, as fast as the server's windows allow; returns its stream id."""
        stream = self._next_stream
        self._next_stream += 2
        with self._cond:
            self._windows[stream] = self._initial_window
        self._send(frame(HEADERS, END_HEADERS, stream, request_headers(path)))
        offset = 0
        while offset < len(message):
            n = self._reserve(stream, min(MAX_FRAME, len(message) - offset))
            if n == 0:
                return stream  # reset by the server, or the connection is gone
            last = offset + n == len(message)
            self._send(frame(DATA, END_STREAM if last else 0, stream, message[offset:offset + n]))
            offset += n
        return stream

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _reserve(self, stream: int, wanted: int) -> int:
        with self._cond:
            while True:
                if self.closed or stream in self._reset:
                    return 0
                n = min(wanted, self._conn_window, self._windows[stream])
                if n > 0:
                    self._conn_window -= n
                    self._windows[stream] -= n
                    return n
                if not self._cond.wait(timeout=20):
                    raise TimeoutError(f"the server gave stream {stream} no window for 20 s")

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(data)

    def _read_loop(self) -> None:
        try:
            while not self.closed:
                head = self._recv_exact(9)
                length = int.from_bytes(head[:3], "big")
                kind, flags, stream = head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
                payload = self._recv_exact(length)
                self._on_frame(kind, flags, stream, payload)
        except OSError:
            pass
        finally:
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    def _on_frame(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind == DATA:
            self.data_received += len(payload)  # never acknowledged with a WINDOW_UPDATE
        elif kind == SETTINGS and not flags & ACK:
            for i in range(0, len(payload), 6):
                key, value = struct.unpack(">HI", payload[i:i + 6])
                if key == 4:  # SETTINGS_INITIAL_WINDOW_SIZE
                    with self._cond:
                        delta, self._initial_window = value - self._initial_window, value
                        for s in self._windows:
                            self._windows[s] += delta
                        self._cond.notify_all()
            self._send(frame(SETTINGS, ACK, 0))
        elif kind == PING and not flags & ACK:
            self._send(frame(PING, ACK, 0, payload))
        elif kind == WINDOW_UPDATE:
            increment = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            with self._cond:
                if stream == 0:
                    self._conn_window += increment
                elif stream in self._windows:
                    self._windows[stream] += increment
                self._cond.notify_all()
        elif kind == RST_STREAM:
            with self._cond:
                self._reset.add(stream)
                self._cond.notify_all()
        elif kind == GOAWAY:
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    def _recv_exact(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return bytes(out)
