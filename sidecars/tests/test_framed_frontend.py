"""The framed front-end against every bad input, on a real sidecar over a real socket.

After each bad input, a good request on a new connection must still be answered.
"""
from __future__ import annotations

import json
import os
import random
import socket
import stat
import struct
import threading
from pathlib import Path

import pytest

from sidecars.cores.base import ClassifyResult, Core
from sidecars.frontends.framed import FramedSession

from .conftest import RunningSidecar, start_sidecar
from .wire import connect, framed, is_closed, read_frame


def echo_ok(address: str, body: bytes = b"still alive") -> None:
    with connect(address) as sock:
        sock.sendall(framed(0, body))
        assert read_frame(sock) == b"\x00" + body


def error_of(frame: bytes) -> dict:
    assert frame[0] == 255, frame[:20]
    return json.loads(frame[1:].decode())


def test_ready_line_and_echo(framed_unix: RunningSidecar) -> None:
    ready = framed_unix.ready
    assert ready["event"] == "ready" and ready["model"] == "echo" and ready["transport"] == "framed"
    assert ready["pid"] == framed_unix.proc.pid
    for size in (0, 1, 3072, 65536, 1024 * 1024 - 1):  # the last is exactly at the 1 MiB limit
        echo_ok(framed_unix.address, os.urandom(size))
    echo_ok(framed_unix.address, bytes(range(256)))


def test_socket_is_private(framed_unix: RunningSidecar) -> None:
    mode = os.stat(framed_unix.address[len("unix:"):]).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) & 0o077 == 0


@pytest.mark.parametrize(
    ("case", "wire", "code", "stays_open"),
    [
        ("zero length", struct.pack(">I", 0), "BAD_FRAME", True),
        ("unknown type", framed(9, b"abc"), "UNKNOWN_TYPE", True),
        ("classify of 3071 bytes", framed(1, bytes(3071)), "BAD_INPUT", True),
        ("classify on the echo model", framed(1, bytes(3072)), "UNSUPPORTED_OP", True),
        ("batch not a multiple of 3072", framed(2, bytes(3072 + 5)), "BAD_INPUT", True),
        ("generate with invalid JSON", framed(3, b"{nope"), "BAD_INPUT", True),
        ("generate with invalid UTF-8", framed(3, b"\xff\xfe"), "BAD_INPUT", True),
        ("length over the limit", struct.pack(">I", 1024 * 1024 + 2), "FRAME_TOO_LARGE", False),
        ("huge declared length", struct.pack(">I", 0xFFFFFFFF), "FRAME_TOO_LARGE", False),
    ],
)
def test_bad_input_is_answered(framed_unix: RunningSidecar, case: str, wire: bytes, code: str, stays_open: bool) -> None:
    with connect(framed_unix.address) as sock:
        sock.sendall(wire)
        assert error_of(read_frame(sock))["code"] == code, case
        if stays_open:
            sock.sendall(framed(0, b"same connection"))
            assert read_frame(sock) == b"\x00same connection"
        else:
            assert is_closed(sock)
    echo_ok(framed_unix.address)


def test_truncated_frame_then_disconnect(framed_unix: RunningSidecar) -> None:
    for cut in (1, 3, 4, 5, 100):
        sock = connect(framed_unix.address)
        sock.sendall(framed(0, bytes(1000))[:cut])
        sock.close()
    echo_ok(framed_unix.address)


def test_random_garbage(framed_unix: RunningSidecar) -> None:
    rng = random.Random(7)
    for _ in range(20):
        with connect(framed_unix.address) as sock:
            sock.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 600))))
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):  # whatever it answers, it must end the conversation
                pass
    echo_ok(framed_unix.address)


def test_several_clients_at_once(framed_unix: RunningSidecar) -> None:
    failures: list[BaseException] = []

    def client(i: int) -> None:
        try:
            with connect(framed_unix.address) as sock:
                for j in range(50):
                    body = f"{i}:{j}".encode() * 10
                    sock.sendall(framed(0, body))
                    assert read_frame(sock) == b"\x00" + body
        except BaseException as exc:  # collected and re-raised in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def test_pipelined_requests_answer_in_order(framed_unix: RunningSidecar) -> None:
    with connect(framed_unix.address) as sock:
        sock.sendall(b"".join(framed(0, bytes([i]) * i) for i in range(30)))
        for i in range(30):
            assert read_frame(sock) == b"\x00" + bytes([i]) * i


def test_tcp_port_zero_reports_the_real_port() -> None:
    sidecar = start_sidecar("--transport", "framed", "--listen", "tcp:127.0.0.1:0")
    try:
        host_port = sidecar.address[len("tcp:"):]
        assert host_port.startswith("127.0.0.1:") and int(host_port.rsplit(":", 1)[1]) > 0
        echo_ok(sidecar.address)
    finally:
        assert sidecar.stop() == 0


def test_sigterm_exits_zero_and_removes_the_socket(private_dir: Path) -> None:
    path = private_dir / "t.sock"
    sidecar = start_sidecar("--transport", "framed", "--listen", f"unix:{path}")
    held = connect(sidecar.address)  # an idle open connection must not block shutdown
    assert path.exists()
    assert sidecar.stop() == 0
    assert not path.exists()
    held.close()


def test_bad_listen_address_is_a_usage_error() -> None:
    with pytest.raises(RuntimeError, match="exited before ready \\(2\\)"):
        start_sidecar("--listen", "carrier-pigeon:1")


def test_batch_over_the_image_limit_is_bad_input(private_dir: Path) -> None:
    sidecar = start_sidecar("--transport", "framed", "--listen", f"unix:{private_dir}/b.sock")
    try:
        with connect(sidecar.address, timeout=20) as sock:
            sock.sendall(framed(2, bytes(3072 * 4097)))  # one image over ops.MAX_BATCH_IMAGES
            assert error_of(read_frame(sock))["code"] == "BAD_INPUT"
        echo_ok(sidecar.address)
    finally:
        assert sidecar.stop() == 0


class _FixedCore(Core):
    """Classifies every image as class 3 and says the batch took 1234567 ns."""

    name = "fixed"

    def classify(self, images: bytes) -> ClassifyResult:
        return ClassifyResult(labels=bytes([3]) * (len(images) // 3072), compute_ns=1234567)


class _NamedCore(_FixedCore):
    def class_names(self) -> list[str]:
        return ["airplane", "automobile", "bird", "chat noir \u2713", "deer"]


def _answer(kind: int, body: bytes, core: Core | None = None) -> bytes:
    sent: list[bytes] = []
    FramedSession(core or _FixedCore()).on_frame(bytes([kind]) + body, lambda frames: sent.append(b"".join(frames)))
    assert len(sent) == 1
    return sent[0]


def test_classify_types_reply_as_documented() -> None:
    # The idea's type 1: the class the model assigns, by name, in UTF-8 (the index, as text, for a
    # classifier without names).
    assert _answer(1, bytes(3072), _NamedCore()) == framed(1, "chat noir \u2713".encode("utf-8"))
    assert _answer(1, bytes(3072)) == framed(1, b"3")
    # Our batch type 2 is unchanged: one class index byte per image.
    assert _answer(2, bytes(3072 * 3), _NamedCore()) == framed(2, b"\x03\x03\x03")
    # Type 6, the timed classify: [u64 BE compute_ns][one index per image].
    assert _answer(6, bytes(3072 * 2)) == framed(6, struct.pack(">Q", 1234567) + b"\x03\x03")
    assert error_of(_answer(6, bytes(3071))[4:])["code"] == "BAD_INPUT"


def test_inject_delay_busy_waits_in_every_request(private_dir: Path) -> None:
    import time

    sidecar = start_sidecar("--transport", "framed", "--listen", f"unix:{private_dir}/d.sock", "--inject-delay-us", "3000")
    try:
        assert sidecar.ready["faults"] == {"inject_delay_us": 3000}
        with connect(sidecar.address) as sock:
            for _ in range(3):
                started = time.perf_counter()
                sock.sendall(framed(0, b"slow"))
                assert read_frame(sock) == b"\x00slow"
                assert time.perf_counter() - started >= 0.003
    finally:
        assert sidecar.stop() == 0
