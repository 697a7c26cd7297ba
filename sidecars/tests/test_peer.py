"""peer.watcher: a client leaving is seen without reading; our own draining shutdown is not leaving."""
from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sidecars.frontends.peer import watcher


@pytest.fixture(params=["unix", "tcp"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, socket.socket, socket.socket]]:
    if request.param == "unix":
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(tmp_path / "p.sock"))
        address: object = str(tmp_path / "p.sock")
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        address = listener.getsockname()
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.listen(1)
    client.connect(address)
    server, _ = listener.accept()
    listener.close()
    yield request.param, server, client
    server.close()
    client.close()


def soon(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_a_client_that_closes_has_left(pair: tuple[str, socket.socket, socket.socket]) -> None:
    _family, server, client = pair
    gone = watcher(server)
    client.sendall(b"a pipelined request")  # bytes waiting to be read are not leaving
    time.sleep(0.05)
    assert not gone()
    client.close()
    assert soon(gone)


def test_our_own_draining_shutdown_is_not_the_client_leaving(pair: tuple[str, socket.socket, socket.socket]) -> None:
    _family, server, _client = pair
    gone = watcher(server)
    server.shutdown(socket.SHUT_RD)
    time.sleep(0.05)
    assert not gone()


def test_a_half_close_is_leaving_over_tcp_only(pair: tuple[str, socket.socket, socket.socket]) -> None:
    family, server, client = pair
    gone = watcher(server)
    client.shutdown(socket.SHUT_WR)
    if family == "tcp":
        assert soon(gone)
    else:
        time.sleep(0.05)
        assert not gone()


def test_a_socket_closed_under_the_check_counts_as_left() -> None:
    a, b = socket.socketpair()
    gone = watcher(a)
    a.close()
    assert gone()
    b.close()
