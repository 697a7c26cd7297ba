"""Listen addresses: `unix:/path/to.sock` or `tcp:HOST:PORT` (port 0 picks a free one)."""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Address:
    family: str  # "unix" | "tcp"
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        if self.family == "unix":
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp:{host}:{self.port}"


def parse_address(text: str) -> Address:
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not path:
            raise ValueError(f"Expected `--listen unix:PATH` to name a path, got {text!r}")
        return Address("unix", path=path)
    if text.startswith("tcp:"):
        host, sep, port = text[len("tcp:") :].rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"Expected `--listen tcp:HOST:PORT`, got {text!r}")
        return Address("tcp", host=host, port=int(port))
    raise ValueError(f"Expected `--listen` to start with `unix:` or `tcp:`, got {text!r}")


def bind(address: Address, backlog: int = 128) -> tuple[socket.socket, Address]:
    """Bind and listen; returns the socket and the address actually bound (real port for 0)."""
    if address.family == "unix":
        if os.path.exists(address.path):
            os.unlink(address.path)  # a stale socket from a crashed run would make bind fail
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(address.path)
        os.chmod(address.path, 0o600)
        sock.listen(backlog)
        return sock, address
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address.host, address.port))
    sock.listen(backlog)
    return sock, Address("tcp", host=address.host, port=sock.getsockname()[1])
