"""The http-json front-end: every route on every server stack (`--http-stack`, real processes and sockets,
http_stacks.py), and real gunicorn starts and stops."""
from __future__ import annotations

import base64
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from sidecars.address import Address
from sidecars.frontends.http_json import gunicorn_settings, release_openmp_pools

from .conftest import RunningSidecar
from .http_stacks import STACKS, Reply, exchange, start_stack
from .wire import children

REPO_ROOT = Path(__file__).resolve().parents[2]
LIMIT = 16384


Served = Callable[[str, str], str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The address of (stack, test core) served for real (http_stacks.py), started on first use."""
    started: dict[tuple[str, str], RunningSidecar] = {}
    base = tmp_path_factory.mktemp("stacks")

    def get(stack: str, core: str) -> str:
        if (stack, core) not in started:
            started[stack, core] = start_stack(stack, f"unix:{base}/{stack}-{core}.sock", core,
                                               max_frame_bytes=LIMIT)
        return started[stack, core].address

    yield get
    for sidecar in started.values():
        sidecar.proc.send_signal(signal.SIGTERM)
    exits = {key: sidecar.proc.wait(timeout=15) for key, sidecar in started.items()}
    assert set(exits.values()) <= {0}, exits


def post(address: str, path: str, body: bytes | str) -> Reply:
    return exchange(address, "POST", path, body.encode() if isinstance(body, str) else body)


def body(reply: Reply) -> Any:
    assert reply.headers["content-type"] == "application/json"
    return reply.json()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("stack", STACKS)
def test_echo_returns_the_prompt_string_unchanged(served: Served, stack: str) -> None:
    for prompt in ["", "aGk=", b64(bytes(range(256))), "héllo ✓", "\ud800 lone surrogate"]:
        reply = post(served(stack, "echo"), "/echo", json.dumps({"prompt": prompt}))
        assert reply.status == 200
        assert body(reply) == {"echo_prompt": prompt}


BAD_REQUESTS = [
    ("/echo", b'{"prompt": ', 400, "BAD_INPUT"),  # malformed JSON
    ("/echo", b"[1, 2]", 400, "BAD_INPUT"),  # not an object
    ("/echo", b"\xff\xfe", 400, "BAD_INPUT"),  # not UTF-8
    ("/echo", b'{"prompt": 5}', 400, "BAD_INPUT"),
    ("/classify", b'{"image": 12}', 400, "BAD_INPUT"),
    ("/classify", b'{"image": "not base64!"}', 400, "BAD_INPUT"),
    ("/classify", json.dumps({"image": b64(bytes(3071))}).encode(), 400, "BAD_INPUT"),
    ("/classify_batch", json.dumps({"images": b64(bytes(3073))}).encode(), 400, "BAD_INPUT"),
    ("/prompt", b'{"prompt": "x", "stream": 1}', 400, "BAD_INPUT"),
    ("/prompt", b'{"prompt": "x", "top_k": -1}', 400, "BAD_INPUT"),
    ("/echo", json.dumps({"prompt": "x" * LIMIT}).encode(), 413, "FRAME_TOO_LARGE"),
    ("/nope", b"{}", 404, "UNKNOWN_TYPE"),
]
BAD_IDS = ["malformed JSON", "not an object", "not UTF-8", "prompt: 5", "image: 12", "invalid base64",
           "image of 3071 bytes", "images of 3073 bytes", "stream: 1", "top_k: -1", "over the limit", "unknown route"]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("path, body_, status, code", BAD_REQUESTS, ids=BAD_IDS)
def test_bad_requests_get_the_one_error_shape(served: Served, stack: str, path: str, body_: bytes, status: int,
                                              code: str) -> None:
    reply = post(served(stack, "fake"), path, body_)
    assert (reply.status, reply.code()) == (status, code)


@pytest.mark.parametrize("stack", STACKS)
def test_wrong_method_is_405_with_allow(served: Served, stack: str) -> None:
    reply = exchange(served(stack, "echo"), "GET", "/echo")
    assert (reply.status, reply.code()) == (405, "UNKNOWN_TYPE")
    assert "POST" in reply.headers["allow"]


@pytest.mark.parametrize("stack", STACKS)
def test_unsupported_op_is_501_and_model_failure_is_500(served: Served, stack: str) -> None:
    image = json.dumps({"image": b64(bytes(3072))})
    reply = post(served(stack, "echo"), "/classify", image)
    assert (reply.status, reply.code()) == (501, "UNSUPPORTED_OP")
    assert post(served(stack, "echo"), "/prompt", '{"prompt": "x", "stream": true}').status == 501
    reply = post(served(stack, "broken"), "/echo", '{"prompt": "x"}')
    assert (reply.status, reply.code()) == (500, "MODEL_ERROR")


@pytest.mark.parametrize("stack", STACKS)
def test_classify_and_classify_batch(served: Served, stack: str) -> None:
    images = bytes([3]) + bytes(3071) + bytes([7]) + bytes(3071)
    single = post(served(stack, "fake"), "/classify", json.dumps({"image": b64(images[:3072])}))
    assert body(single) == {"label": 3, "class": "class3", "compute_ns": 1234}
    batch = post(served(stack, "fake"), "/classify_batch", json.dumps({"images": b64(images)}))
    assert body(batch) == {"labels": [3, 7], "compute_ns": 1234}


@pytest.mark.parametrize("stack", STACKS)
def test_prompt_whole_and_streamed(served: Served, stack: str) -> None:
    whole = post(served(stack, "fake"), "/prompt", '{"prompt": "a b c", "sampling_steps": 3}')
    assert body(whole) == {"response": "a b c ", "stats": {"output_tokens": 3, "finish_reason": "length"}}
    streamed = post(served(stack, "fake"), "/prompt", '{"prompt": "a b", "stream": true}')
    assert streamed.status == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = streamed.events()
    assert events[:2] == [{"token": "a "}, {"token": "b "}]
    assert events[2] == {"response": "a b ", "stats": {"output_tokens": 2, "finish_reason": "length"}, "done": True}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(("given", "steps"), [(8, "8"), (8.0, "8"), ("8", "8"), (" 16 ", "16"), (None, "128")])
def test_prompt_takes_sampling_steps_as_the_idea_does(served: Served, stack: str, given: Any, steps: str) -> None:
    # The idea's server reads `int(request.json.get("sampling_steps", 128))`: "8" and 8.0 work there too.
    reply = post(served(stack, "steps"), "/prompt", json.dumps({"prompt": "x", "sampling_steps": given}))
    assert reply.status == 200
    assert body(reply)["response"] == steps


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("given", [8.5, "8.0", "eight", "", True, [8], {"n": 8}, float("inf")])
def test_prompt_refuses_other_sampling_steps_with_bad_input(served: Served, stack: str, given: Any) -> None:
    reply = post(served(stack, "steps"), "/prompt", json.dumps({"prompt": "x", "sampling_steps": given}))
    assert (reply.status, reply.code()) == (400, "BAD_INPUT")


@pytest.mark.parametrize("stack", STACKS)
def test_a_failure_mid_stream_is_the_last_event(served: Served, stack: str) -> None:
    events = post(served(stack, "fake"), "/prompt", '{"prompt": "a boom", "stream": true}').events()
    assert events[0] == {"token": "a "}
    assert events[-1]["error"]["code"] == "MODEL_ERROR"


@pytest.mark.parametrize("stack", STACKS)
def test_healthz(served: Served, stack: str) -> None:
    assert body(exchange(served(stack, "fake"), "GET", "/healthz")) == {"status": "ok", "model": "fake"}


def test_gunicorn_settings_per_setup() -> None:
    sync = gunicorn_settings(Address("unix", path="/tmp/x.sock"), {"http_worker": "sync"})
    assert sync["bind"] == ["unix:/tmp/x.sock"] and sync["workers"] == 1
    assert sync["worker_class"] == "sidecars.frontends.http_workers.SidecarSyncWorker"
    assert "threads" not in sync  # threads > 1 would silently turn gunicorn's sync worker into gthread
    assert sync["umask"] == 0o177 and sync["accesslog"] is None and sync["errorlog"] == "-"
    gthread = gunicorn_settings(Address("tcp", host="::1", port=0), {"http_worker": "gthread"})
    assert gthread["bind"] == ["[::1]:0"] and gthread["threads"] >= 2 and gthread["keepalive"] >= 5
    # One of the two gthread workers with the read deadline (gunicorn 20.1's or 27's), never the stock one.
    assert gthread["worker_class"] in ("sidecars.frontends.http_workers.SidecarThreadWorker",
                                       "sidecars.frontends.http_workers.SidecarNewThreadWorker"), gthread["worker_class"]
    with pytest.raises(ValueError):
        gunicorn_settings(Address("tcp", host="127.0.0.1", port=0), {"http_worker": "eventlet"})


def start(listen: str, stack: str, *extra: str, model: str = "echo") -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """A sidecar on `stack`; `sync` and `gthread` are named with --http-worker, their old spelling."""
    flag = "--http-worker" if stack in ("sync", "gthread") else "--http-stack"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sidecars", "--model", model, "--transport", "http-json", "--listen", listen,
         flag, stack, *extra],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"no ready line; stderr: {proc.stderr.read() if proc.stderr else ''}"
    return proc, json.loads(line)


def http_get(family: int, target: Any, path: str) -> bytes:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(target)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)



def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("stack", ["sync", "gthread", "uvicorn", "lean"])
def test_real_stack_unix_start_serve_and_sigterm(tmp_path: Path, stack: str) -> None:
    path = tmp_path / "s.sock"
    proc, ready = start(f"unix:{path}", stack)
    try:
        assert ready["address"] == f"unix:{path}" and ready["pid"] == proc.pid
        gunicorn = stack in ("sync", "gthread")
        assert ready["http_stack"] == (f"gunicorn-{stack}" if gunicorn else stack)
        assert ready.get("http_worker") == (stack if gunicorn else None)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        reply = http_get(socket.AF_UNIX, str(path), "/healthz")
        assert reply.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in reply
        workers = children(proc.pid)
        assert len(workers) == (1 if gunicorn else 0)  # gunicorn's one worker; the others fork none
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not path.exists()
        assert all(gone(pid) for pid in workers)
        assert proc.stdout is not None and proc.stdout.read() == ""  # the ready line is all of stdout
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("stack", ["gthread", "uvicorn", "lean"])
def test_real_stack_tcp_port_0_reports_the_real_port_and_sigint_stops_it(stack: str) -> None:
    proc, ready = start("tcp:127.0.0.1:0", stack)
    try:
        host, port = ready["address"][len("tcp:"):].rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        assert http_get(socket.AF_INET, (host, int(port)), "/nope").startswith(b"HTTP/1.1 404")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_worker_does_not_outlive_a_killed_master(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    proc, _ready = start(f"unix:{path}", "sync", "--stall-ms", "5000")
    try:
        http_get(socket.AF_UNIX, path, "/healthz")  # the worker is up
        workers = children(proc.pid)
        assert len(workers) == 1
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as busy:
            busy.connect(path)  # keep the worker inside a 5 s request, deaf to its parent's death
            busy.sendall(b'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n{"prompt":""}')
            time.sleep(0.3)
            proc.kill()  # SIGKILL to the master alone
            proc.wait(timeout=10)
            deadline = time.monotonic() + 2
            while not all(gone(pid) for pid in workers) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert all(gone(pid) for pid in workers)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_child_forked_after_torch_used_threads_can_compute() -> None:
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    conv = torch.nn.Conv2d(3, 8, 3)
    try:
        fork_and_compute(torch, conv)
    finally:
        torch.set_num_threads(threads)


def fork_and_compute(torch: Any, conv: Any) -> None:
    with torch.no_grad():
        conv(torch.randn(64, 3, 32, 32))  # the master's warm-up: libgomp's pool now has a thread
        release_openmp_pools()
        pid = os.fork()
        if pid == 0:
            conv(torch.randn(64, 3, 32, 32))  # hangs here if the pool was inherited
            os._exit(0)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung on its first parallel region")


@pytest.mark.parametrize("worker", ["sync", "gthread", "uvicorn", "lean"])
def test_cifar_with_two_torch_threads_serves_and_stops_promptly(tmp_path: Path, worker: str) -> None:
    pytest.importorskip("torch")
    from sidecars.cores.cifar import DEFAULT_WEIGHTS

    if not Path(DEFAULT_WEIGHTS).is_file():
        pytest.skip(f"no CIFAR weights at {DEFAULT_WEIGHTS}")
    path = str(tmp_path / "s.sock")
    proc, _ready = start(f"unix:{path}", worker, "--device", "cpu", "--threads", "2", model="cifar")
    try:
        image = json.dumps({"image": b64(bytes(3072))}).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(20)
            sock.connect(path)
            sock.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(image), image))
            reply = b"".join(iter(lambda: sock.recv(65536), b""))
        assert reply.startswith(b"HTTP/1.1 200") and b'"label":' in reply
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        # Under gunicorn's graceful timeout (3 s), which would otherwise end a worker hung at exit.
        assert time.monotonic() - started < 2.5
    finally:
        if proc.poll() is None:
            proc.kill()
