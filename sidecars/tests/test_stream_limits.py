"""The socket layer of framed and msgpack at its limits (docs/protocol.md, "Limits for connections
and requests"): a burst of connects, a connection cap, a stop with clients that do not read, and
values nested too deep."""
from __future__ import annotations

import json
import os
import signal
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from sidecars.errors import SidecarError
from sidecars.frontends.nesting import MAX_DEPTH, check_depth
from sidecars.frontends.stream_server import _serve_connection

from .serve_with import start_with
from .wire import connect, framed, is_closed, read_frame, stream_frame

TRANSPORTS = ["framed", "msgpack"]


def echo_request(transport: str, payload: bytes) -> bytes:
    if transport == "framed":
        return framed(0, payload)
    return stream_frame(msgpack.packb({"id": 1, "op": "echo", "payload": payload}))


def echo_reply(transport: str, sock: socket.socket) -> bytes:
    body = read_frame(sock)
    if transport == "framed":
        assert body[0] == 0, body[:80]
        return body[1:]
    value = msgpack.unpackb(body)
    assert "payload" in value, value
    return bytes(value["payload"])


def error_code(transport: str, body: bytes) -> tuple[Any, str]:
    """(the reply's id, or None for framed; its error code)."""
    if transport == "framed":
        assert body[0] == 255, body[:80]
        return None, json.loads(body[1:])["code"]
    value = msgpack.unpackb(body)
    return value["id"], value["error"]["code"]


def echo_ok(transport: str, address: str, payload: bytes = b"still serving") -> None:
    with connect(address) as sock:
        sock.sendall(echo_request(transport, payload))
        assert echo_reply(transport, sock) == payload


def somaxconn() -> int:
    try:
        return int(Path("/proc/sys/net/core/somaxconn").read_text())
    except (OSError, ValueError):
        return 0


@pytest.mark.skipif(somaxconn() < 300, reason="the kernel caps the listen backlog under 300 (net.core.somaxconn)")
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_burst_of_300_connects_all_get_in(tmp_path: Path, transport: str) -> None:
    sidecar = start_with(transport, f"unix:{tmp_path}/s.sock")
    socks: list[socket.socket] = []
    try:
        os.kill(sidecar.proc.pid, signal.SIGSTOP)  # nothing is accepted: every connect waits in the backlog
        try:
            for _ in range(300):
                socks.append(connect(sidecar.address))  # a unix connect over the backlog: EAGAIN at once
        finally:
            os.kill(sidecar.proc.pid, signal.SIGCONT)
        for sock in socks:
            sock.sendall(echo_request(transport, b"in"))
        for sock in socks:
            assert echo_reply(transport, sock) == b"in"
    finally:
        for sock in socks:
            sock.close()
        assert sidecar.stop() == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_connections_over_the_cap_are_refused_with_overloaded(tmp_path: Path, transport: str) -> None:
    sidecar = start_with(transport, f"unix:{tmp_path}/s.sock", max_connections=3)
    held = [connect(sidecar.address) for _ in range(3)]
    try:
        for sock in held:
            sock.sendall(echo_request(transport, b"held"))
            assert echo_reply(transport, sock) == b"held"
        with connect(sidecar.address) as extra:
            assert error_code(transport, read_frame(extra)) == (None, "OVERLOADED")
            assert is_closed(extra)
        held.pop().close()
        deadline = time.monotonic() + 5  # the server notices the close on its own time
        while True:
            try:
                with connect(sidecar.address) as sock:
                    sock.sendall(echo_request(transport, b"again"))
                    body = read_frame(sock)
                    if body[:1] not in (b"\xff",) and b"OVERLOADED" not in body:
                        break
            except OSError:  # still refused, and closed before this client's request went out
                pass
            assert time.monotonic() < deadline, "a freed slot was never given to a new connection"
            time.sleep(0.05)
    finally:
        for sock in held:
            sock.close()
        assert sidecar.stop() == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_frame_that_stops_part_way_is_timed_out_and_others_are_served(tmp_path: Path, transport: str) -> None:
    sidecar = start_with(transport, f"unix:{tmp_path}/s.sock", read_timeout_s=0.5)
    try:
        whole = echo_request(transport, b"x" * 3000)
        stalled = [connect(sidecar.address) for _ in range(2)]
        stalled[0].sendall(whole[:3])  # part of the length prefix
        stalled[1].sendall(whole[:1500])  # the prefix and half the body
        idle = connect(sidecar.address)  # nothing sent: no deadline while idle between frames
        started = time.monotonic()
        with connect(sidecar.address) as other:  # served meanwhile
            other.sendall(whole)
            assert echo_reply(transport, other) == b"x" * 3000
        for sock in stalled:
            with sock:
                sock.settimeout(5)
                assert error_code(transport, read_frame(sock)) == (None, "TIMEOUT")
                assert is_closed(sock)
        assert time.monotonic() - started < 3
        with idle:  # still open past the deadline, and served
            idle.sendall(whole[:100])
            time.sleep(0.2)  # a frame sent in pieces within the deadline is whole in time
            idle.sendall(whole[100:])
            assert echo_reply(transport, idle) == b"x" * 3000
    finally:
        assert sidecar.stop() == 0


def test_a_frame_trickled_in_faster_than_the_socket_timeout_still_meets_its_deadline() -> None:
    # Bytes every half millisecond never let SO_RCVTIMEO run out; the deadline is checked anyway.
    class Session:
        def on_frame(self, body: bytes, send: Any) -> None:
            send([struct.pack(">I", 2) + b"OK"])

        def on_stream_error(self, error: SidecarError) -> bytes:
            return b"ERR:" + error.code.encode()

    server, client = socket.socketpair()
    thread = threading.Thread(target=_serve_connection, args=(server, Session(), 1 << 20, 0.3), daemon=True)
    thread.start()
    size, sent, started = 40_000, 0, time.monotonic()
    client.sendall(struct.pack(">I", size))
    try:
        while sent < size and time.monotonic() - started < 10:
            client.send(b"x" * 10)
            sent += 10
            time.sleep(0.0005)
    except OSError:  # the server closed at the deadline
        pass
    client.settimeout(5)
    assert client.recv(100).startswith(b"ERR:TIMEOUT")
    client.close()
    thread.join(timeout=5)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_frame_has_its_own_deadline(tmp_path: Path, transport: str) -> None:
    # The second frame starts in the read that ends the first: its deadline counts from there, not
    # from the first frame's first byte (which it outlives).
    sidecar = start_with(transport, f"unix:{tmp_path}/s.sock", read_timeout_s=1.0)
    try:
        first, second = echo_request(transport, b"a" * 2000), echo_request(transport, b"b" * 2000)
        with connect(sidecar.address) as sock:
            sock.sendall(first[:100])
            time.sleep(0.6)
            sock.sendall(first[100:] + second[:100])
            assert echo_reply(transport, sock) == b"a" * 2000
            time.sleep(0.7)  # 1.3 s after the first frame began, 0.7 s into the second
            sock.sendall(second[100:])
            assert echo_reply(transport, sock) == b"b" * 2000
    finally:
        assert sidecar.stop() == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_signal_never_cuts_into_the_main_threads_work(tmp_path: Path, transport: str) -> None:
    # SIGTERM lands while the accept loop is refusing a connection over the cap. It used to raise
    # there (and could inside a held lock, hanging the drain until SIGKILL); now the refusal goes
    # out whole, the held connection drains, and the sidecar exits 0.
    sidecar = start_with(transport, f"unix:{tmp_path}/s.sock", max_connections=1, sigterm_while_refusing=True)
    held = connect(sidecar.address)
    try:
        held.sendall(echo_request(transport, b"held"))
        assert echo_reply(transport, held) == b"held"
        with connect(sidecar.address) as extra:
            assert error_code(transport, read_frame(extra)) == (None, "OVERLOADED")
        assert is_closed(held)  # drained: its reading side shut, so the server ends it
        assert sidecar.proc.wait(timeout=10) == 0
    finally:
        held.close()
        sidecar.stop()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sigterm_does_not_wait_on_each_client_that_stopped_reading(tmp_path: Path, transport: str) -> None:
    sidecar = start_with(transport, f"unix:{tmp_path}/s.sock", max_frame_bytes=16 * 1024 * 1024)
    deaf = [connect(sidecar.address) for _ in range(4)]
    try:
        for sock in deaf:  # an 8 MiB reply each, never read: every handler blocks in its send
            sock.sendall(echo_request(transport, bytes(8 * 1024 * 1024)))
        time.sleep(0.5)
        started = time.monotonic()
        sidecar.proc.send_signal(signal.SIGTERM)
        assert sidecar.proc.wait(timeout=30) == 0
        # 2 s of grace and 1 s to end (it waited 5 s for each such client: 20 s here).
        assert time.monotonic() - started < 12
    finally:
        for sock in deaf:
            sock.close()
        sidecar.stop()


def nested_msgpack(depth: int) -> bytes:
    return b"\x91" * depth + b"\x01"  # [[[...[1]...]]]: msgpack.packb itself refuses past 511 levels


def msgpack_map(**fields: bytes) -> bytes:
    """A msgpack map of pre-packed values (at most 15 keys, names under 32 bytes)."""
    out = bytes((0x80 | len(fields),))
    for name, packed in fields.items():
        out += bytes((0xA0 | len(name),)) + name.encode() + packed
    return out


@pytest.fixture(scope="module")
def msgpack_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Any:
    sidecar = start_with("msgpack", f"unix:{tmp_path_factory.mktemp('mp')}/s.sock")
    yield sidecar
    sidecar.stop()


@pytest.mark.parametrize("depth", [MAX_DEPTH, 1000, 100_000])
def test_msgpack_values_nested_too_deep_are_bad_input(msgpack_sidecar: Any, depth: int) -> None:
    echo, generate = msgpack.packb("echo"), msgpack.packb("generate")
    cases = {
        "id": (msgpack_map(id=nested_msgpack(depth), op=echo, payload=b"\xc4\x00"), None),
        # Past 1024 levels msgpack cannot decode the map at all, so its id is not known either.
        "temperature": (msgpack_map(id=b"\x07", op=generate, prompt=b"\xa1x", temperature=nested_msgpack(depth)),
                        7 if depth < 1024 else None),
    }
    for field, (body, request_id) in cases.items():
        with connect(msgpack_sidecar.address) as sock:
            sock.sendall(stream_frame(body))
            assert error_code("msgpack", read_frame(sock)) == (request_id, "BAD_INPUT"), field
    echo_ok("msgpack", msgpack_sidecar.address)


@pytest.fixture(scope="module")
def framed_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Any:
    sidecar = start_with("framed", f"unix:{tmp_path_factory.mktemp('fr')}/s.sock")
    yield sidecar
    sidecar.stop()


@pytest.mark.parametrize("depth", [MAX_DEPTH, 1000, 100_000])
def test_framed_json_nested_too_deep_is_bad_input(framed_sidecar: Any, depth: int) -> None:
    body = b'{"prompt": ' + b"[" * depth + b"]" * depth + b"}"  # depth + 1 levels with the object
    with connect(framed_sidecar.address) as sock:
        sock.sendall(framed(3, body))
        assert error_code("framed", read_frame(sock)) == (None, "BAD_INPUT")
    echo_ok("framed", framed_sidecar.address)


def test_nesting_counts_maps_and_lists_alike() -> None:
    value: Any = "[[[[ brackets in a string are not nesting"
    for level in range(MAX_DEPTH):
        value = [value] if level % 2 else {"k": value}
    check_depth(value, "the value")  # exactly MAX_DEPTH
    with pytest.raises(SidecarError) as too_deep:
        check_depth([value], "the value")
    assert too_deep.value.code == "BAD_INPUT"
    check_depth({"id": 1, "op": "echo", "payload": b"[[["}, "the request")
