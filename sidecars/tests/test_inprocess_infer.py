"""The in-process driver's infer and metadata commands (`python -m sidecars.inprocess --model
file.py:Class --tensors FILE`), as the model suite drives it: a real process on stdin/stdout."""
from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sidecars.frontends.tensor_frames import decode_tensors, encode_tensors

from .conftest import REPO_ROOT
from .models import contract_fixture as fixture

FIXTURE = "sidecars/tests/models/contract_fixture.py"


def request(first: float, words: list[bytes]) -> bytes:
    x = np.full((1, 4), 0.25, dtype=np.float32)
    x[0, 0] = first
    body = b"".join(encode_tensors({"x": x, "words": np.array(words, dtype=object)}))
    return struct.pack(">I", len(body)) + body


class Driver:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "sidecars.inprocess", *args], cwd=REPO_ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read() if self.proc.stderr else ""
        self.ready = json.loads(line)

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


@pytest.fixture(scope="module")
def tensors_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inprocess") / "requests.bin"
    path.write_bytes(request(1.0, [b"ab"]) + request(2.0, [b"x", b"yz"]) + request(fixture.RAISE, [b""]))
    return path


@pytest.fixture(scope="module")
def driver(tensors_file: Path) -> Iterator[Driver]:
    d = Driver("--model", f"{FIXTURE}:Mixer", "--tensors", str(tensors_file), "--model-arg", "scale=3",
               "--max-connections", "9")  # a sidecar's server flags are accepted and ignored
    yield d
    rc, out, err = d.close()
    assert rc == 0 and out == "", err


def test_ready_line_has_the_metadata(driver: Driver) -> None:
    assert driver.ready["event"] == "ready" and driver.ready["model"] == f"{FIXTURE}:Mixer"
    assert driver.ready["metadata"]["name"] == "mixer"
    assert driver.ask({"op": "metadata"}) == {"metadata": driver.ready["metadata"]}


def test_infer_times_each_item_and_returns_framed_outputs(driver: Driver) -> None:
    reply = driver.ask({"op": "infer", "items": [1, 0, 1], "outputs": True})
    assert len(reply["latency_ns"]) == len(reply["compute_ns"]) == len(reply["outputs"]) == 3
    assert all(lat >= comp > 0 for lat, comp in zip(reply["latency_ns"], reply["compute_ns"]))
    outputs, datatypes = decode_tensors(base64.b64decode(reply["outputs"][0]))
    assert outputs["y"].tolist() == [[6.0, 0.75, 0.75, 0.75]]  # scale=3 reached the constructor
    assert outputs["upper"].tolist() == [b"X", b"YZ"] and datatypes["lengths"] == "INT32"
    assert reply["outputs"][0] == reply["outputs"][2]
    quiet = driver.ask({"op": "infer", "items": [0]})
    assert "outputs" not in quiet and len(quiet["latency_ns"]) == 1


def test_errors_have_the_usual_shape_and_the_driver_goes_on(driver: Driver) -> None:
    assert driver.ask({"op": "infer", "items": [2]})["error"]["code"] == "MODEL_ERROR"
    assert driver.ask({"op": "infer", "items": [3]})["error"]["code"] == "BAD_INPUT"
    assert driver.ask({"op": "infer", "items": [0], "outputs": 1})["error"]["code"] == "BAD_INPUT"
    assert driver.ask({"op": "classify", "items": [0]})["error"]["code"] == "UNKNOWN_TYPE"
    assert len(driver.ask({"op": "infer", "items": [0]})["compute_ns"]) == 1


def test_prints_in_the_model_go_to_stderr(tmp_path: Path) -> None:
    body = b"".join(encode_tensors({"v": np.arange(3, dtype=np.uint8)}))
    path = tmp_path / "v.bin"
    path.write_bytes(struct.pack(">I", len(body)) + body)
    d = Driver("--model", f"{FIXTURE}:Printer", "--tensors", str(path))
    assert d.ask({"op": "infer", "items": [0], "outputs": True})["outputs"] == [base64.b64encode(body).decode()]
    rc, out, err = d.close()
    assert rc == 0 and out == "" and "loading the printer" in err and "inferring" in err


def run(*args: str) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "sidecars.inprocess", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60, input="")
    return proc.returncode, proc.stderr


def test_startup_errors(tmp_path: Path, tensors_file: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(request(1.0, [b"a"]) + struct.pack(">I", 2) + b"\x00\x00")
    rc, err = run("--model", f"{FIXTURE}:Mixer", "--tensors", str(bad))
    assert rc == 1 and "request 1: Expected 1 to 64 tensors, got 0" in err, err
    rc, err = run("--model", f"{FIXTURE}:Mixer", "--tensors", str(tensors_file)[:-1] + "x")
    assert rc == 1 and "No such file" in err, err
    rc, err = run("--model", f"{FIXTURE}:NoName", "--tensors", str(tensors_file))
    assert rc == 2 and "`NoName.name`" in err and "Traceback" not in err, err
    rc, err = run("--model", f"{FIXTURE}:RaisesInLoad", "--tensors", str(tensors_file))
    assert rc == 1 and "weights.bin" in err and "Traceback" not in err, err
    rc, err = run("--model", f"{FIXTURE}:Mixer")
    assert rc == 2 and "--tensors" in err, err


def test_built_in_echo_takes_tensors_too(tmp_path: Path) -> None:
    body = b"".join(encode_tensors({"payload": np.frombuffer(b"hello", dtype=np.uint8)}))
    path = tmp_path / "e.bin"
    path.write_bytes(struct.pack(">I", len(body)) + body)
    d = Driver("--model", "echo", "--tensors", str(path))
    assert d.ready["metadata"]["name"] == "echo"
    assert d.ask({"op": "infer", "items": [0], "outputs": True})["outputs"] == [base64.b64encode(body).decode()]
    assert d.close()[0] == 0


@pytest.mark.parametrize("spec, tensors", [
    ("examples/tabular_mlp.py:TabularMLP",
     {"features": np.random.default_rng(5).standard_normal((16, 32)).astype(np.float32)}),
    ("examples/text_embedder.py:TextEmbedder",
     {"text": np.array([b"the cat sat", b"", "h\u00e9llo w\u00f6rld".encode(), b"THE CAT SAT"], dtype=object)}),
])
def test_the_examples_are_deterministic_across_processes(tmp_path: Path, spec: str, tensors: dict[str, np.ndarray]) -> None:
    body = b"".join(encode_tensors(tensors))
    path = tmp_path / "r.bin"
    path.write_bytes(struct.pack(">I", len(body)) + body)
    answers = []
    for _ in range(2):
        d = Driver("--model", spec, "--tensors", str(path))
        answers.append(d.ask({"op": "infer", "items": [0], "outputs": True})["outputs"][0])
        assert d.close()[0] == 0
    assert answers[0] == answers[1]
    outputs, _ = decode_tensors(base64.b64decode(answers[0]))
    if "features" in tensors:
        probabilities = outputs["probabilities"]
        assert probabilities.shape == (16, 4) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
        assert (outputs["label"] == probabilities.argmax(axis=1)).all() and len(set(outputs["label"])) > 1
    else:
        embedding = outputs["embedding"]
        assert embedding.shape == (4, 64)
        assert np.allclose(np.linalg.norm(embedding, axis=1), [1, 0, 1, 1], atol=1e-6)
        assert np.allclose(embedding[0], embedding[3])  # lower-cased before hashing
        assert not np.allclose(embedding[0], embedding[2])

