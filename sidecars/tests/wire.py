"""A raw client for wire-level tests: plain sockets, no harness code."""
from __future__ import annotations

import os
import socket
import struct
from pathlib import Path


def connect(address: str, timeout: float = 5.0) -> socket.socket:
    if address.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address[len("unix:"):])
        return sock
    host, _, port = address[len("tcp:"):].rpartition(":")
    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    return sock


def recv_exact(sock: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


def read_frame(sock: socket.socket) -> bytes:
    (length,) = struct.unpack(">I", recv_exact(sock, 4))
    return recv_exact(sock, length)


def framed(kind: int, body: bytes) -> bytes:
    return struct.pack(">IB", len(body) + 1, kind) + body


def stream_frame(body: bytes) -> bytes:
    """`body` behind its u32 big-endian length: a msgpack frame (no type byte)."""
    return struct.pack(">I", len(body)) + body


def dechunk(body: bytes) -> bytes:
    """An HTTP/1.1 chunked body (as read whole off a closed connection) joined back into its bytes."""
    out, rest = bytearray(), body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        out += rest[:size]
        rest = rest[size + 2:]
    return bytes(out)


def is_closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def children(pid: int) -> list[int]:
    """The pids whose parent is `pid` (from /proc): a sidecar's forked workers."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found
