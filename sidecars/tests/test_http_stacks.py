"""What every http-json server stack (`--http-stack`) must do beyond the shared route and limit tests
(test_http_json_frontend.py, test_http_json_limits.py, test_oip_rest.py, test_adversarial.py run
their cases on every stack): stream a real model's generation as SSE, let go of a generation whose
client stops reading or leaves (the cases of test_generation_limits.py, run here per stack), keep
connections alive, speak HEAD, `Expect: 100-continue` and HTTP/1.0, and cap connections (lean).
Also `--grpc-server aio-uvloop` really runs on uvloop.
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from sidecars.llm.paths import models_dir

from .conftest import REPO_ROOT, RunningSidecar, start_sidecar
from .gen_wires import Client, HttpClient
from .http_stacks import STACKS, exchange, start_stack
from .test_generation_limits import (  # run here on every stack, with this module's `wire` fixture
    test_a_stream_nobody_reads_does_not_hold_the_model, test_a_unary_generation_stops_when_its_client_hangs_up,
)
from .test_http_json_limits import Reader, echo_request

MODELS = models_dir()
STALL_S = 0.5
TINY = ["--model", "gemma", "--config", "tiny", "--random-init", "--device", "cpu", "--threads", "1",
        "--cache-size", "64"]
SYNC = "gunicorn-sync"
__all__ = ["test_a_stream_nobody_reads_does_not_hold_the_model", "test_a_unary_generation_stops_when_its_client_hangs_up"]


@pytest.fixture(scope="module", params=STACKS)
def tiny(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSidecar]:
    """Gemma's own shape and tokenizer with random weights, on one stack."""
    path = tmp_path_factory.mktemp("tiny") / "t.sock"
    sidecar = start_sidecar(*TINY, "--transport", "http-json", "--http-stack", request.param, "--listen", f"unix:{path}")
    yield sidecar
    assert sidecar.stop() == 0


def test_a_real_generation_streams_as_sse_the_text_it_answers_whole(tiny: RunningSidecar) -> None:
    fields = {"prompt": "Once upon a time", "sampling_steps": 12}
    whole = exchange(tiny.address, "POST", "/prompt", json.dumps(fields).encode(), timeout=60)
    assert whole.status == 200, whole.body[:300]
    streamed = exchange(tiny.address, "POST", "/prompt", json.dumps({**fields, "stream": True}).encode(), timeout=60)
    assert streamed.status == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    events = streamed.events()
    tokens = [e["token"] for e in events[:-1]]
    assert all(set(e) == {"token"} for e in events[:-1]), events
    last = events[-1]
    assert last["done"] is True and last["response"] == "".join(tokens) == whole.json()["response"]
    assert last["stats"]["output_tokens"] == whole.json()["stats"]["output_tokens"] >= 1


def test_a_stopping_sidecar_finishes_the_generation_in_progress(tmp_path: Path) -> None:
    for stack in ("uvicorn", "lean"):  # the gunicorn stacks: gunicorn's graceful stop
        sidecar = start_sidecar(*TINY, "--transport", "http-json", "--http-stack", stack,
                                "--listen", f"unix:{tmp_path}/{stack}.sock")
        client = HttpClient(sidecar.address)
        sock = client.send_unary({"prompt": "Tom", "sampling_steps": 40})
        time.sleep(0.3)
        sidecar.proc.send_signal(signal.SIGTERM)
        with sock:
            data = b"".join(iter(lambda: sock.recv(65536), b""))
        assert data.startswith(b"HTTP/1.1 200"), (stack, data[:300])
        assert json.loads(data.partition(b"\r\n\r\n")[2])["stats"]["output_tokens"] >= 1
        assert sidecar.proc.wait(timeout=10) == 0


@pytest.fixture(scope="module", params=STACKS)
def stories(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSidecar]:
    """stories260K (fast; on "Tom" it runs for more than a thousand tokens), as test_generation_limits.py."""
    if MODELS is None:
        pytest.skip("shared models directory not found (stories260K, tokenizers)")
    path = tmp_path_factory.mktemp("stories") / "g.sock"
    sidecar = start_sidecar("--model", "gemma", "--checkpoint", f"{MODELS}/stories260K.bin", "--device", "cpu",
                            "--threads", "1", "--cache-size", "2048", "--client-stall-timeout-s", str(STALL_S),
                            "--transport", "http-json", "--http-stack", request.param, "--listen", f"unix:{path}")
    sidecar.ready["http_stack"] = request.param
    yield sidecar
    assert sidecar.stop() == 0


@pytest.fixture
def wire(stories: RunningSidecar, request: pytest.FixtureRequest) -> tuple[str, Client]:
    if stories.ready["http_stack"] == SYNC and request.function is test_a_stream_nobody_reads_does_not_hold_the_model:
        pytest.skip("gunicorn-sync serves one connection at a time: a stalled stream holds it until its timeout")
    return "http-json", HttpClient(stories.address)


@pytest.fixture(scope="module", params=STACKS)
def echo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSidecar]:
    sidecar = start_stack(request.param, f"unix:{tmp_path_factory.mktemp('echo')}/e.sock", read_timeout_s=2)
    yield sidecar
    assert sidecar.stop() == 0


def connect(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(address[len("unix:"):])
    return sock


def test_a_connection_is_kept_alive_for_request_after_request(echo: RunningSidecar) -> None:
    with connect(echo.address) as sock:
        reader = Reader(sock)
        for i in range(1 if echo.ready["http_stack"] == SYNC else 50):
            sock.sendall(echo_request(f"request {i}"))
            status, headers, body = reader.response()
            assert (status, json.loads(body)) == (200, {"echo_prompt": f"request {i}"})
        if echo.ready["http_stack"] == SYNC:
            assert headers["connection"] == "close" and reader.closed()


def test_head_answers_the_get_headers_without_a_body(echo: RunningSidecar) -> None:
    with connect(echo.address) as sock:
        # An echo right behind the HEAD: a body sent after the HEAD reply would show as its start.
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + echo_request("after HEAD"))
        reader = Reader(sock)
        while b"\r\n\r\n" not in reader.buf:
            reader._fill()
        head, reader.buf = reader.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200") and b"content-length: 30" in head.lower(), head
        if echo.ready["http_stack"] == SYNC:  # one request per connection: nothing after the HEAD reply
            assert reader.closed()
            return
        while b"after HEAD" not in reader.buf:
            reader._fill()
        assert reader.buf.startswith(b"HTTP/1.1 200"), reader.buf[:80]  # no body between the two replies
        assert json.loads(reader.response()[2]) == {"echo_prompt": "after HEAD"}


def test_expect_100_continue_is_answered_before_the_body(echo: RunningSidecar) -> None:
    body = b'{"prompt": "continued"}'
    with connect(echo.address) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100"), interim[:100]
        sock.sendall(body)
        reader = Reader(sock)
        reader.buf = interim.partition(b"\r\n\r\n")[2]
        assert json.loads(reader.response()[2]) == {"echo_prompt": "continued"}


def test_an_http_1_0_request_is_answered_and_closed(echo: RunningSidecar) -> None:
    with connect(echo.address) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        data = b"".join(iter(lambda: sock.recv(65536), b""))
    assert data.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")), data[:100]
    assert json.loads(data.partition(b"\r\n\r\n")[2]) == {"status": "ok", "model": "echo"}


def test_lean_refuses_connections_over_its_cap_with_overloaded(tmp_path: Path) -> None:
    sidecar = start_stack("lean", f"unix:{tmp_path}/cap.sock", max_connections=3)
    try:
        held = [connect(sidecar.address) for _ in range(3)]
        for sock in held:
            sock.sendall(echo_request("held"))
            assert Reader(sock).response()[0] == 200  # each is being served, so counted
        with connect(sidecar.address) as extra:
            reader = Reader(extra)
            status, headers, body = reader.response()
            assert (status, json.loads(body)["error"]["code"], headers["connection"]) == (503, "OVERLOADED", "close")
            assert reader.closed()
        held.pop().close()
        deadline = time.monotonic() + 5  # the server notices the close on its own time
        while True:
            reply = exchange(sidecar.address, "POST", "/echo", b'{"prompt": "freed"}')
            if reply.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert reply.json() == {"echo_prompt": "freed"}
        for sock in held:
            sock.close()
    finally:
        assert sidecar.stop() == 0


def test_http_stack_and_its_old_spelling_must_agree() -> None:
    proc = subprocess.run([sys.executable, "-m", "sidecars", "--transport", "http-json", "--http-stack", "lean",
                           "--http-worker", "sync", "--listen", "tcp:127.0.0.1:0"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--http-worker" in proc.stderr and proc.stdout == ""


# Serves the echo core on a front-end and prints, from on_ready (called on the serving loop when
# there is one), the module of the running event loop's class.
LOOP_PROBE = """
import asyncio, json, sys
from sidecars.address import parse_address
from sidecars.cores.echo import EchoCore
from sidecars.frontends import load_frontend
core = EchoCore({})
core.load()
def on_ready(bound):
    print(json.dumps({"address": str(bound), "loop": type(asyncio.get_running_loop()).__module__}), flush=True)
load_frontend(sys.argv[1])(core, parse_address(sys.argv[2]), json.loads(sys.argv[3]), on_ready)
"""


@pytest.mark.parametrize(("transport", "options", "loop"), [
    ("grpc", {"grpc_server": "aio"}, "asyncio.unix_events"),
    ("grpc", {"grpc_server": "aio-uvloop"}, "uvloop"),
    ("http-json", {"http_stack": "uvicorn"}, "uvloop"),
])
def test_the_event_loop_servers_run_on_the_loop_they_name(tmp_path: Path, transport: str, options: dict[str, str],
                                                          loop: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", LOOP_PROBE, transport, f"unix:{tmp_path}/l.sock", json.dumps(options)],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        assert json.loads(line)["loop"] == loop
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize("stack", [s for s in STACKS if s != SYNC])
def test_a_slow_model_call_does_not_hold_the_server(tmp_path: Path, stack: str) -> None:
    # uvicorn: the model runs on the pool, not the event loop; the others: a thread per request.
    sidecar = start_sidecar("--transport", "http-json", "--http-stack", stack, "--stall-ms", "1500",
                            "--listen", f"unix:{tmp_path}/slow.sock")
    try:
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.connect(sidecar.address[len("unix:"):])
        slow.sendall(echo_request("slow"))
        time.sleep(0.2)  # the slow echo is in the model now
        started = time.monotonic()
        assert exchange(sidecar.address, "GET", "/healthz").status == 200
        assert time.monotonic() - started < 1.0, "the health check waited for the model"
        with slow:
            slow.settimeout(10)
            assert json.loads(Reader(slow).response()[2]) == {"echo_prompt": "slow"}
    finally:
        assert sidecar.stop() == 0
