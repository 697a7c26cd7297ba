"""The http-json front-end: the Flask app through Flask's test client, and real gunicorn starts and stops."""
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
from typing import Any, Iterator

import pytest

from sidecars.address import Address
from sidecars.cores.base import ClassifyResult, Core, GenerateEvent, GenerateRequest
from sidecars.cores.echo import EchoCore
from sidecars.frontends.http_app import create_app
from sidecars.frontends.http_json import gunicorn_settings, release_openmp_pools

from .wire import children

REPO_ROOT = Path(__file__).resolve().parents[2]
LIMIT = 16384


class FakeCore(Core):
    """Classifies every image as its first byte mod 10 and generates the prompt's words."""

    name = "fake"

    def class_names(self) -> list[str]:
        return [f"class{i}" for i in range(10)]

    def classify(self, images: bytes) -> ClassifyResult:
        return ClassifyResult(bytes(images[i] % 10 for i in range(0, len(images), 3072)), 1234)

    def generate(self, request: GenerateRequest) -> Iterator[GenerateEvent]:
        words = request.prompt.split()
        for word in words:
            if word == "boom":
                raise RuntimeError("exploded mid-stream")
            yield GenerateEvent(word + " ")
        yield GenerateEvent("", done=True, stats={"output_tokens": len(words), "finish_reason": "length"})


class BrokenCore(Core):
    name = "broken"

    def echo(self, payload: bytes) -> bytes:
        raise RuntimeError("the model fell over")


def client(core: Core | None = None) -> Any:
    return create_app(core or EchoCore({}), LIMIT).test_client()


def body(response: Any) -> Any:
    # json.loads, not get_json(): that reaches the app through a weak reference, gone with the client.
    assert response.content_type == "application/json"
    return json.loads(response.data)


def error_of(response: Any) -> str:
    return str(body(response)["error"]["code"])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_echo_returns_the_prompt_string_unchanged() -> None:
    for prompt in ["", "aGk=", b64(bytes(range(256))), "héllo ✓", "\ud800 lone surrogate"]:
        response = client().post("/echo", data=json.dumps({"prompt": prompt}))
        assert response.status_code == 200
        assert body(response) == {"echo_prompt": prompt}


@pytest.mark.parametrize(
    "path, body, status, code",
    [
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
    ],
    ids=["malformed JSON", "not an object", "not UTF-8", "prompt: 5", "image: 12", "invalid base64",
         "image of 3071 bytes", "images of 3073 bytes", "stream: 1", "top_k: -1", "over the limit", "unknown route"],
)
def test_bad_requests_get_the_one_error_shape(path: str, body: bytes, status: int, code: str) -> None:
    response = client(FakeCore()).post(path, data=body)
    assert response.status_code == status
    assert error_of(response) == code


def test_wrong_method_is_405_with_allow() -> None:
    response = client().get("/echo")
    assert response.status_code == 405
    assert error_of(response) == "UNKNOWN_TYPE"
    assert "POST" in response.headers["Allow"]


def test_unsupported_op_is_501_and_model_failure_is_500() -> None:
    image = json.dumps({"image": b64(bytes(3072))})
    assert error_of(client().post("/classify", data=image)) == "UNSUPPORTED_OP"
    assert client().post("/classify", data=image).status_code == 501
    assert client().post("/prompt", data='{"prompt": "x", "stream": true}').status_code == 501
    response = client(BrokenCore()).post("/echo", data='{"prompt": "x"}')
    assert (response.status_code, error_of(response)) == (500, "MODEL_ERROR")


def test_classify_and_classify_batch() -> None:
    images = bytes([3]) + bytes(3071) + bytes([7]) + bytes(3071)
    single = client(FakeCore()).post("/classify", data=json.dumps({"image": b64(images[:3072])}))
    assert body(single) == {"label": 3, "class": "class3", "compute_ns": 1234}
    batch = client(FakeCore()).post("/classify_batch", data=json.dumps({"images": b64(images)}))
    assert body(batch) == {"labels": [3, 7], "compute_ns": 1234}


def test_prompt_whole_and_streamed() -> None:
    whole = client(FakeCore()).post("/prompt", data='{"prompt": "a b c", "sampling_steps": 3}')
    assert body(whole) == {"response": "a b c ", "stats": {"output_tokens": 3, "finish_reason": "length"}}
    streamed = client(FakeCore()).post("/prompt", data='{"prompt": "a b", "stream": true}')
    assert streamed.status_code == 200
    assert streamed.content_type == "text/event-stream"
    events = [json.loads(chunk[len("data: "):]) for chunk in streamed.get_data(as_text=True).split("\n\n") if chunk]
    assert events[:2] == [{"token": "a "}, {"token": "b "}]
    assert events[2] == {"response": "a b ", "stats": {"output_tokens": 2, "finish_reason": "length"}, "done": True}


class StepsCore(Core):
    """Answers with the sampling_steps it was asked for."""

    name = "steps"

    def generate(self, request: GenerateRequest) -> Iterator[GenerateEvent]:
        yield GenerateEvent(str(request.sampling_steps), done=True)


@pytest.mark.parametrize(("given", "steps"), [(8, "8"), (8.0, "8"), ("8", "8"), (" 16 ", "16"), (None, "128")])
def test_prompt_takes_sampling_steps_as_the_idea_does(given: Any, steps: str) -> None:
    # The idea's server reads `int(request.json.get("sampling_steps", 128))`: "8" and 8.0 work there too.
    response = client(StepsCore()).post("/prompt", data=json.dumps({"prompt": "x", "sampling_steps": given}))
    assert response.status_code == 200
    assert body(response)["response"] == steps


@pytest.mark.parametrize("given", [8.5, "8.0", "eight", "", True, [8], {"n": 8}, float("inf")])
def test_prompt_refuses_other_sampling_steps_with_bad_input(given: Any) -> None:
    response = client(StepsCore()).post("/prompt", data=json.dumps({"prompt": "x", "sampling_steps": given}))
    assert (response.status_code, error_of(response)) == (400, "BAD_INPUT")


def test_a_failure_mid_stream_is_the_last_event() -> None:
    streamed = client(FakeCore()).post("/prompt", data='{"prompt": "a boom", "stream": true}')
    events = [json.loads(chunk[len("data: "):]) for chunk in streamed.get_data(as_text=True).split("\n\n") if chunk]
    assert events[0] == {"token": "a "}
    assert events[-1]["error"]["code"] == "MODEL_ERROR"


def test_healthz() -> None:
    assert body(client(FakeCore()).get("/healthz")) == {"status": "ok", "model": "fake"}


def test_gunicorn_settings_per_setup() -> None:
    sync = gunicorn_settings(Address("unix", path="/tmp/x.sock"), {"http_worker": "sync"})
    assert sync["bind"] == ["unix:/tmp/x.sock"] and sync["workers"] == 1
    assert sync["worker_class"] == "sidecars.frontends.http_workers.SidecarSyncWorker"
    assert "threads" not in sync  # threads > 1 would silently turn gunicorn's sync worker into gthread
    assert sync["umask"] == 0o177 and sync["accesslog"] is None and sync["errorlog"] == "-"
    gthread = gunicorn_settings(Address("tcp", host="::1", port=0), {"http_worker": "gthread"})
    assert gthread["bind"] == ["[::1]:0"] and gthread["threads"] >= 2 and gthread["keepalive"] >= 5
    with pytest.raises(ValueError):
        gunicorn_settings(Address("tcp", host="127.0.0.1", port=0), {"http_worker": "eventlet"})


def start(listen: str, worker: str, *extra: str, model: str = "echo") -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sidecars", "--model", model, "--transport", "http-json", "--listen", listen,
         "--http-worker", worker, *extra],
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


@pytest.mark.parametrize("worker", ["sync", "gthread"])
def test_real_gunicorn_unix_start_serve_and_sigterm(tmp_path: Path, worker: str) -> None:
    path = tmp_path / "s.sock"
    proc, ready = start(f"unix:{path}", worker)
    try:
        assert ready["address"] == f"unix:{path}" and ready["pid"] == proc.pid
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        reply = http_get(socket.AF_UNIX, str(path), "/healthz")
        assert reply.startswith(b"HTTP/1.1 200") and b'"status":"ok"' in reply
        workers = children(proc.pid)
        assert len(workers) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not path.exists()
        assert all(gone(pid) for pid in workers)
        assert proc.stdout is not None and proc.stdout.read() == ""  # the ready line is all of stdout
    finally:
        if proc.poll() is None:
            proc.kill()


def test_real_gunicorn_tcp_port_0_reports_the_real_port_and_sigint_stops_it() -> None:
    proc, ready = start("tcp:127.0.0.1:0", "gthread")
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


@pytest.mark.parametrize("worker", ["sync", "gthread"])
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
