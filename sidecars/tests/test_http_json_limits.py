"""http-json against slow, idle, pipelining and malformed clients, on every server stack (docs/protocol.md,
"Limits for connections and requests"). The read deadline is 1 s here (10 s by default)."""
from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from sidecars.frontends.http_workers import DeadlineSocket
from sidecars.frontends.nesting import MAX_DEPTH

from .conftest import RunningSidecar
from .http_stacks import STACKS, exchange, start_stack

DEADLINE_S = 1.0
LIMIT = 1024 * 1024
SYNC = "gunicorn-sync"  # one request per connection, closed after its reply


@pytest.fixture(scope="module", params=STACKS)
def sidecar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSidecar]:
    path = tmp_path_factory.mktemp("http") / "s.sock"
    running = start_stack(request.param, f"unix:{path}", read_timeout_s=DEADLINE_S, max_frame_bytes=LIMIT)
    yield running
    assert running.stop() == 0


def connect(sidecar: RunningSidecar, timeout: float = 10.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(sidecar.address[len("unix:"):])
    return sock


def post(path: str, body: bytes, *headers: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: x", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def echo_request(prompt: str) -> bytes:
    return post("/echo", json.dumps({"prompt": prompt}).encode())


class Reader:
    """Reads HTTP/1.1 responses (with Content-Length, as the app sends them) off one socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed with {self.buf[:80]!r} unread")
        self.buf += chunk

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(lines[0].split()[1]), headers, body

    def closed(self) -> bool:
        try:
            return not self.buf and self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def code_of(body: bytes) -> str:
    return str(json.loads(body)["error"]["code"])


def echo_ok(sidecar: RunningSidecar, prompt: str = "still serving") -> None:
    with connect(sidecar) as sock:
        sock.sendall(echo_request(prompt))
        status, _headers, body = Reader(sock).response()
        assert (status, json.loads(body)) == (200, {"echo_prompt": prompt})


def test_partial_requests_are_dropped_at_the_deadline_and_others_are_served(sidecar: RunningSidecar) -> None:
    # More than gthread's 4 threads; sync takes them one after the other, each for up to the deadline.
    count = 2 if sidecar.ready["http_stack"] == SYNC else 5
    partial_heads = [connect(sidecar) for _ in range(count)]
    for sock in partial_heads:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le")
    slow_body = connect(sidecar)
    slow_body.sendall(post("/echo", b'{"prompt": "', "Content-Length: 40"))
    started = time.monotonic()
    echo_ok(sidecar)  # before the deadlines: never answered (the client's 10 s timeout)
    assert time.monotonic() - started < 10
    for sock in partial_heads:
        assert Reader(sock).closed()  # dropped without a reply
        sock.close()
    with slow_body:
        reader = Reader(slow_body)
        status, headers, body = reader.response()
        assert (status, code_of(body), headers["connection"]) == (408, "TIMEOUT", "close")
        assert reader.closed()


@pytest.mark.parametrize("stack", [s for s in STACKS if s != SYNC])
def test_idle_connections_take_no_gthread_thread(tmp_path: Path, stack: str) -> None:
    running = start_stack(stack, f"unix:{tmp_path}/s.sock", read_timeout_s=60)
    try:
        idle = [connect(running) for _ in range(8)]  # twice the threads, each sending nothing
        started = time.monotonic()
        with connect(running, timeout=5) as sock:
            sock.sendall(echo_request("not queued behind idle connections"))
            assert Reader(sock).response()[0] == 200
        assert time.monotonic() - started < 5
        for sock in idle:
            sock.close()
    finally:
        assert running.stop() == 0


def test_pipelined_requests_are_all_answered_in_order(sidecar: RunningSidecar) -> None:
    sync = sidecar.ready["http_stack"] == SYNC
    with connect(sidecar, timeout=5) as sock:
        sock.sendall(b"".join(echo_request(f"request {i}") for i in range(3)))  # one write
        reader = Reader(sock)
        for i in range(1 if sync else 3):
            status, headers, body = reader.response()
            assert (status, json.loads(body)) == (200, {"echo_prompt": f"request {i}"})
        if sync:  # one request per connection, as documented: the rest are not read
            assert headers["connection"] == "close" and reader.closed()
        else:
            assert headers.get("connection", "keep-alive") == "keep-alive"  # uvicorn leaves 1.1's default unsaid
            sock.sendall(echo_request("and later"))
            assert json.loads(reader.response()[2]) == {"echo_prompt": "and later"}


def test_a_request_after_a_slow_one_gets_the_whole_deadline(tmp_path: Path) -> None:
    # The lean stack sets its socket's timeout to what is left of a slow request's deadline; the
    # next request on the connection (pipelined behind it) must get a whole deadline again, not
    # that rest. Its own sidecar with a 3 s deadline, so the margins hold on a loaded machine.
    deadline = 3.0
    running = start_stack("lean", f"unix:{tmp_path}/s.sock", read_timeout_s=deadline)
    first, second = echo_request("slow"), echo_request("next")
    try:
        with connect(running, timeout=10) as sock:
            sock.sendall(first[:10])
            time.sleep(deadline * 0.8)  # the next read waits at most the 0.6 s left
            sock.sendall(first[10:20])
            time.sleep(deadline * 0.03)
            sock.sendall(first[20:] + second[:10])  # the first is whole 0.5 s before its deadline
            time.sleep(deadline * 0.5)  # past the 0.6 s, well within the second's own deadline
            sock.sendall(second[10:])
            reader = Reader(sock)
            for prompt in ("slow", "next"):
                status, _headers, body = reader.response()
                assert (status, json.loads(body)) == (200, {"echo_prompt": prompt})
    finally:
        assert running.stop() == 0


@pytest.mark.parametrize("stack", STACKS)
def test_a_whole_chunked_body_over_the_limit_is_refused(tmp_path: Path, stack: str) -> None:
    # No Content-Length says the size up front; sent in one write, the whole body is parsed before
    # the route runs (uvicorn's path without a read deadline), and must still be held to the limit.
    running = start_stack(stack, f"unix:{tmp_path}/s.sock", max_frame_bytes=1000)
    try:
        body = json.dumps({"prompt": "x" * 1400}).encode()
        chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (700, body[:700], len(body) - 700, body[700:])
        with connect(running, timeout=10) as sock:
            sock.sendall(post("/echo", chunked, CHUNKED))
            status, _headers, reply = Reader(sock).response()
            assert (status, code_of(reply)) == (413, "FRAME_TOO_LARGE")
        echo_ok(running)
    finally:
        assert running.stop() == 0


CHUNKED = "Transfer-Encoding: chunked"
MALFORMED = {
    "chunk size zz": (post("/echo", b"zz\r\n{}\r\n0\r\n\r\n", CHUNKED), 400, "BAD_INPUT"),
    "chunk size -5": (post("/echo", b"-5\r\n{}\r\n0\r\n\r\n", CHUNKED), 400, "BAD_INPUT"),
    "chunk size 2**64-1": (post("/echo", b"ffffffffffffffff\r\n{}\r\n0\r\n\r\n", CHUNKED), 413, "FRAME_TOO_LARGE"),
    "chunk-size line without end": (post("/echo", b"1" * 8192, CHUNKED), 400, "BAD_INPUT"),
    "JSON nested 100,000 deep": (post("/echo", b"[" * 100_000 + b"]" * 100_000), 400, "BAD_INPUT"),
}


# Where httptools decides for uvicorn: it keeps no chunk's size for us to check (the body is refused
# at the limit, or at the read deadline when it stops short of it), and refuses a Content-Length
# that overflows 64 bits as an unparsable head (docs/protocol.md, "Stacks").
STACK_OWN = {("uvicorn", "chunk size 2**64-1"): (408, "TIMEOUT")}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_bodies_are_bad_input_not_model_errors(sidecar: RunningSidecar, case: str) -> None:
    wire, status, code = MALFORMED[case]
    status, code = STACK_OWN.get((sidecar.ready["http_stack"], case), (status, code))
    with connect(sidecar, timeout=5) as sock:
        sock.sendall(wire)
        reply = Reader(sock).response()
        assert (reply[0], code_of(reply[2])) == (status, code)
    echo_ok(sidecar)


def test_a_body_shorter_than_its_content_length_is_not_served(sidecar: RunningSidecar) -> None:
    with connect(sidecar, timeout=5) as sock:
        sock.sendall(post("/echo", b'{"prompt": "x"}', "Content-Length: 20"))
        sock.shutdown(socket.SHUT_WR)  # 15 of 20 bytes, then nothing more
        reader = Reader(sock)
        status, headers, body = reader.response()
        assert (status, code_of(body), headers["connection"]) == (400, "BAD_INPUT", "close")
        assert reader.closed()
    echo_ok(sidecar)


def test_closing_a_socket_with_a_timeout_does_not_wait_it_out() -> None:
    # gunicorn 27's graceful close sets a socket timeout (2 s) before it closes; the check for
    # unread bytes must not wait it out, nor linger again after gunicorn's own drain.
    server, client = socket.socketpair()
    sock = DeadlineSocket(server, timeout_s=DEADLINE_S)
    sock.settimeout(2.0)
    started = time.monotonic()
    sock.close()
    assert time.monotonic() - started < 0.5
    server2, client2 = socket.socketpair()
    refused = DeadlineSocket(server2, timeout_s=DEADLINE_S)
    refused.linger = True  # a body refused unread
    refused.shutdown(socket.SHUT_WR)  # as gunicorn 27's close_graceful does, then drains
    started = time.monotonic()
    refused.close()
    assert time.monotonic() - started < 0.5
    for other in (client, client2):
        other.close()


def test_a_reply_the_client_does_not_take_fails_the_write() -> None:
    server, client = socket.socketpair()
    sock = DeadlineSocket(server, timeout_s=DEADLINE_S, write_timeout_s=0.2)
    failures: list[BaseException] = []

    def send() -> None:
        try:
            sock.sendall(bytes(16 * 1024 * 1024))  # far more than the socket buffers hold, never read
        except BaseException as exc:
            failures.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    sender.join(timeout=5)
    failed_in_time = list(failures)
    client.close()  # unblocks a send that did not time out, so the test ends either way
    sender.join(timeout=5)
    server.close()
    assert failed_in_time and isinstance(failed_in_time[0], BrokenPipeError)  # gunicorn drops it quietly


@pytest.mark.parametrize("route", ["/echo", "/prompt", "/classify", "/classify_batch"])
def test_json_nested_too_deep_is_bad_input_on_every_route(sidecar: RunningSidecar, route: str) -> None:
    shallow = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    for depth in (MAX_DEPTH + 1, 1000, 100_000):
        reply = exchange(sidecar.address, "POST", route, b"[" * depth + b"]" * depth)
        assert (reply.status, reply.code()) == (400, "BAD_INPUT"), depth
        assert "nested" in reply.json()["error"]["message"]
    reply = exchange(sidecar.address, "POST", route, shallow.encode())  # allowed depth: refused for not being an object
    assert "nested" not in reply.json()["error"]["message"]
