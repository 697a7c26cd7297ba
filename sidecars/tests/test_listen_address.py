"""Where a sidecar may listen: never over a file that is not a stale socket, never off loopback
unless allowed (and then with a warning), and gRPC binds exactly the host it is given."""
from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from concurrent import futures

from sidecars.address import Address, ListenError, bind, is_loopback, parse_address
from sidecars.frontends import grpc_server

from .conftest import REPO_ROOT

EXIT_USAGE = 2
WIRES = ["framed", "msgpack", "grpc"]


def run_sidecar(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sidecars", "--model", "echo", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=20)


def stale_socket(path: Path) -> None:
    """A socket file nobody listens on, as a crashed sidecar leaves it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()


def connects(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("wire", WIRES)
def test_a_regular_file_at_the_listen_path_is_refused_and_kept(tmp_path: Path, wire: str) -> None:
    victim = tmp_path / "notes.txt"
    victim.write_text("keep me")
    done = run_sidecar("--transport", wire, "--listen", f"unix:{victim}")
    assert done.returncode == EXIT_USAGE, done.stderr
    assert victim.read_text() == "keep me"


@pytest.mark.parametrize("kind", ["file", "directory", "symlink", "live socket"])
def test_parse_refuses_a_path_that_is_not_a_stale_socket(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "s.sock"
    listener = None
    if kind == "file":
        path.write_text("x")
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink":
        path.symlink_to(tmp_path / "elsewhere")
    else:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(1)
    try:
        with pytest.raises(ListenError):
            parse_address(f"unix:{path}")
        assert path.is_symlink() or path.exists()
    finally:
        if listener is not None:
            listener.close()


def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    stale_socket(path)
    address = parse_address(f"unix:{path}")
    sock, bound = bind(address)
    try:
        assert bound == address
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(path))
    finally:
        sock.close()


@pytest.mark.parametrize("wire_bind", ["stream", "grpc"])
def test_bind_refuses_a_file_that_appeared_after_parsing(tmp_path: Path, wire_bind: str) -> None:
    path = tmp_path / "s.sock"
    address = parse_address(f"unix:{path}")
    path.write_text("keep me")  # while the model was loading
    with pytest.raises(ListenError):
        if wire_bind == "stream":
            bind(address)
        else:
            grpc_server.bind(grpc.server(futures.ThreadPoolExecutor(1)), address)
    assert path.read_text() == "keep me"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"])
def test_loopback_needs_no_flag(host: str) -> None:
    assert parse_address(f"tcp:{host}:0").family == "tcp"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "example.com"])
def test_a_remote_listen_is_refused_without_the_flag_and_warned_about_with_it(host: str, caplog: Any) -> None:
    text = f"tcp:[{host}]:0" if ":" in host else f"tcp:{host}:0"
    assert not is_loopback(host)
    with pytest.raises(ListenError):
        parse_address(text)
    with caplog.at_level(logging.WARNING, logger="sidecars.address"):
        assert parse_address(text, allow_remote=True).host == host
    assert any(r.levelno == logging.WARNING for r in caplog.records)


@pytest.mark.parametrize("wire", WIRES)
def test_the_sidecar_refuses_0_0_0_0_without_the_flag(wire: str) -> None:
    done = run_sidecar("--transport", wire, "--listen", "tcp:0.0.0.0:0")
    assert done.returncode == EXIT_USAGE, done.stderr


def test_the_sidecar_listens_off_loopback_with_the_flag_and_says_so() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "sidecars", "--model", "echo", "--transport", "framed",
                             "--listen", "tcp:0.0.0.0:0", "--allow-remote"], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert '"ready"' in proc.stdout.readline()
        assert "WARNING" in proc.stderr.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def grpc_bound(host: str) -> int:
    server = grpc.server(futures.ThreadPoolExecutor(1), options=grpc_server.server_options(1024))
    bound = grpc_server.bind(server, Address("tcp", host=host, port=0))
    server.start()
    servers.append(server)
    return bound.port


servers: list[Any] = []


@pytest.fixture(autouse=True)
def stop_servers() -> Any:
    yield
    while servers:
        servers.pop().stop(0)


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_grpc_binds_exactly_the_ipv4_host_given(host: str) -> None:
    port = grpc_bound(host)
    assert connects("127.0.0.1", port)
    assert not connects("::1", port)  # gRPC alone binds every address `localhost` resolves to


def test_grpc_refuses_0_0_0_0_which_it_would_widen_to_ipv6() -> None:
    with pytest.raises(ListenError):
        grpc_bound("0.0.0.0")
