"""http-json with the model loaded in gunicorn's forked worker, as CUDA needs it, exercised on the CPU.

`--load-after-fork` takes the CUDA path on any machine: the worker loads, the worker announces
readiness (once), and a failed load ends the whole sidecar with the startup exit code.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gunicorn")
pytest.importorskip("flask")

from gunicorn.arbiter import Arbiter  # noqa: E402

from sidecars import cifar_data  # noqa: E402
from sidecars.cli import EXIT_STARTUP, build_parser, loads_after_fork  # noqa: E402
from sidecars.cores import create_core  # noqa: E402
from sidecars.cores.base import Core, GenerateRequest  # noqa: E402
from sidecars.llm.paths import models_dir  # noqa: E402

from .conftest import RunningSidecar, start_sidecar  # noqa: E402
from .wire import children  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_BATCH = cifar_data.default_dir() / cifar_data.TEST_FILE
MODELS = models_dir()


class CudaCore(Core):
    def uses_cuda(self) -> bool:
        return True


def test_a_worker_that_cannot_boot_stops_gunicorn_with_the_startup_code() -> None:
    # gunicorn stops, instead of starting another worker, only for this code, and then exits with it.
    assert Arbiter.WORKER_BOOT_ERROR == EXIT_STARTUP


@pytest.mark.parametrize("transport, flags, core, expected", [
    ("http-json", [], Core(), False),
    ("http-json", [], CudaCore(), True),
    ("http-json", ["--load-after-fork"], Core(), True),
    ("framed", ["--load-after-fork"], CudaCore(), False),  # nothing forks: the process loads and serves
    ("grpc", [], CudaCore(), False),
])
def test_where_the_model_loads(transport: str, flags: list[str], core: Core, expected: bool) -> None:
    args = build_parser().parse_args(["--transport", transport, "--listen", "tcp:127.0.0.1:0", *flags])
    assert loads_after_fork(args, core) is expected


def request(address: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    host, port = address[len("tcp:"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body))
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()



# The front-end alone, with a core that records which process loaded it; a request can kill the worker.
PID_CORE_SERVER = """
import json, os, signal, sys
from sidecars.address import parse_address
from sidecars.cores.base import Core
from sidecars.frontends.http_json import serve

class PidCore(Core):
    name = "pid"
    loaded_in = 0
    def load(self):
        self.loaded_in = os.getpid()
    def echo(self, payload):
        if payload == b"die":
            os.kill(os.getpid(), signal.SIGKILL)
        return str(self.loaded_in).encode()

def on_ready(bound):
    print(json.dumps({"address": str(bound), "printed_by": os.getpid(), "loaded_in": core.loaded_in}), flush=True)

core = PidCore()
serve(core, parse_address(sys.argv[1]), {"http_worker": "sync", "load_in_worker": core.load}, on_ready)
"""


def test_the_worker_loads_announces_once_and_a_new_worker_loads_again() -> None:
    proc = subprocess.Popen([sys.executable, "-c", PID_CORE_SERVER, "tcp:127.0.0.1:0"], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        worker = ready["printed_by"]
        assert worker != proc.pid and children(proc.pid) == [worker]
        assert ready["loaded_in"] == worker  # loaded after the fork, in the process that serves
        assert request(ready["address"], "POST", "/echo", {"prompt": "pid"}) == (200, {"echo_prompt": str(worker)})
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            request(ready["address"], "POST", "/echo", {"prompt": "die"})
        status, reply = request(ready["address"], "POST", "/echo", {"prompt": "pid"})  # queued for the next worker
        assert status == 200 and int(reply["echo_prompt"]) not in (0, worker, proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""  # the second worker loaded but did not announce again
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop(sidecar: RunningSidecar) -> None:
    assert sidecar.stop() == 0
    assert sidecar.proc.stdout is not None and sidecar.proc.stdout.read() == ""  # one ready line, no more


@pytest.mark.skipif(not TEST_BATCH.is_file(), reason=f"CIFAR-10 test batch not found at {TEST_BATCH}")
def test_cifar_loaded_after_fork_classifies_real_images_as_in_process() -> None:
    _labels, images = cifar_data.load_records(TEST_BATCH, limit=50)
    reference = create_core("cifar", {"device": "cpu", "threads": 2})
    reference.load()
    expected = list(reference.classify(images.tobytes()).labels)
    sidecar = start_sidecar("--model", "cifar", "--transport", "http-json", "--listen", "tcp:127.0.0.1:0",
                            "--device", "cpu", "--threads", "2", "--load-after-fork")
    try:
        ready = sidecar.ready
        assert ready["pid"] == sidecar.proc.pid and ready["load_after_fork"] is True
        assert (ready["device"], ready["dtype"], ready["threads"]) == ("cpu", "float32", 2)  # the worker's core
        batch = {"images": base64.b64encode(images.tobytes()).decode()}
        status, reply = request(sidecar.address, "POST", "/classify_batch", batch)
        assert status == 200 and reply["labels"] == expected and reply["compute_ns"] > 0
        single = {"image": base64.b64encode(images[3].tobytes()).decode()}
        assert request(sidecar.address, "POST", "/classify", single)[1]["label"] == expected[3]
    finally:
        stop(sidecar)


@pytest.mark.skipif(MODELS is None, reason="shared models directory not found")
def test_gemma_loaded_after_fork_generates_as_in_process() -> None:
    assert MODELS is not None
    checkpoint = str(MODELS / "stories260K.bin")
    reference = create_core("gemma", {"device": "cpu", "checkpoint": checkpoint, "cache_size": 256})
    reference.load()
    expected = "".join(e.text for e in reference.generate(GenerateRequest("Once upon a time", 24)))
    sidecar = start_sidecar("--model", "gemma", "--transport", "http-json", "--listen", "tcp:127.0.0.1:0",
                            "--device", "cpu", "--checkpoint", checkpoint, "--cache-size", "256",
                            "--load-after-fork", "--http-worker", "sync")
    try:
        assert sidecar.ready["load_after_fork"] is True and sidecar.ready["config"] == "stories260K"
        prompt = {"prompt": "Once upon a time", "sampling_steps": 24}
        status, reply = request(sidecar.address, "POST", "/prompt", prompt)
        assert status == 200 and reply["response"] == expected and reply["stats"]["output_tokens"] == 24
    finally:
        stop(sidecar)


def run_failing(*flags: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Start a sidecar that will not load; gunicorn logs at INFO, so a worker's boot shows in stderr."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "sidecars", "--model", "cifar", "--transport", "http-json",
                           "--listen", "tcp:127.0.0.1:0", *flags], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "SIDECAR_LOG": "INFO"})
    return done, time.monotonic() - started


def test_a_load_that_fails_in_the_worker_ends_the_sidecar_with_exit_3(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pt"
    done, seconds = run_failing("--device", "cpu", "--weights", str(missing), "--load-after-fork")
    assert done.returncode == EXIT_STARTUP and done.stdout == ""
    assert done.stderr.count(f"sidecar: cannot load model `cifar`: WeightsError: CIFAR weights file {missing}") == 1
    assert done.stderr.count("Booting worker") == 1  # it failed in the one worker, which was not restarted
    assert seconds < 20


def test_cuda_requested_loads_in_the_worker_and_reports_a_missing_gpu_there() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    done, _seconds = run_failing("--device", "cuda:0")
    assert done.returncode == EXIT_STARTUP and done.stdout == "" and done.stderr.count("Booting worker") == 1
    assert done.stderr.count("cannot load model `cifar`: ValueError: Expected a CUDA device for `--device cuda:0`") == 1
