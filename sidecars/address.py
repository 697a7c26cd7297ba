"""Listen addresses: `unix:/path/to.sock` or `tcp:HOST:PORT` (port 0 picks a free one).

A sidecar serves a harness on the same machine, with no authentication: a TCP address that is not
loopback is refused unless allowed (`--allow-remote`), and then warned about. A unix path is only
ever replaced when it holds a stale socket: a file, a directory, a link or a socket a server still
listens on is refused, never deleted. Refusals are `ListenError`s (a ValueError: exit 2).
"""
from __future__ import annotations

import ipaddress
import logging
import os
import socket
import stat
from dataclasses import dataclass

log = logging.getLogger("sidecars.address")
LOOPBACK_NAMES = ("localhost",)
PROBE_TIMEOUT_S = 0.5


class ListenError(ValueError):
    """A listen address the sidecar refuses to serve on."""


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


def parse_address(text: str, allow_remote: bool = False) -> Address:
    """Parse a `--listen` address and check it can be served on (see the module's doc)."""
    address = _parse(text)
    if address.family == "unix":
        _clear_path(address.path, remove=False)
    elif not is_loopback(address.host):
        if not allow_remote:
            raise ListenError(
                f"Expected `--listen tcp:HOST:PORT` on loopback (127.0.0.1, ::1, localhost), got {text!r}: "
                "a sidecar has no authentication; pass `--allow-remote` to listen there anyway")
        log.warning("listening on %s, reachable from other machines: anyone who can connect can use the model", text)
    return address


def _parse(text: str) -> Address:
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


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only: `localhost` or a loopback IP (a name might resolve anywhere)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback


def numeric_host(host: str) -> str:
    """The one IP address `bind` listens on for `host` (a name resolves to its first IPv4 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return str(socket.getaddrinfo(host, None, family, socket.SOCK_STREAM)[0][4][0])


def _in_use(path: str) -> bool:
    """Whether a server still accepts connections on the socket at `path` (a stale one refuses them)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(PROBE_TIMEOUT_S)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        return True  # a full backlog, no permission: someone is there, or it cannot be told
    finally:
        probe.close()
    return True


def _clear_path(path: str, remove: bool) -> None:
    """Refuse a path that holds anything but a stale socket; remove that socket when `remove`."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a symbolic link" if stat.S_ISLNK(mode) else "a file that is not a socket"
        raise ListenError(f"Expected `--listen unix:PATH` to name a new path or a stale socket, got {path!r}: it is {kind}")
    if _in_use(path):
        raise ListenError(f"Expected `--listen unix:PATH` to name a new path or a stale socket, got {path!r}: a server is listening on it")
    if remove:
        os.unlink(path)  # a stale socket from a crashed run would make bind fail


def remove_stale_socket(path: str) -> None:
    """Make way for a unix socket at `path`: a stale socket is removed, anything else refused (ListenError)."""
    _clear_path(path, remove=True)


def bind(address: Address, backlog: int = 128) -> tuple[socket.socket, Address]:
    """Bind and listen; returns the socket and the address actually bound (real port for 0)."""
    if address.family == "unix":
        remove_stale_socket(address.path)
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
