"""tritonclient (NVIDIA's Open Inference Protocol client, from PyPI) against real sidecars: health,
metadata, infer with JSON and binary tensors, and errors, over REST (both gunicorn set-ups) and gRPC
(both servers). The client runs in .venv-clients, built by harness/setup/ensure.js: it needs a newer
grpcio than the sidecar's. Without it the tests skip, except under CI, where they fail.
"""
from __future__ import annotations

import json
import os
import subprocess
from typing import Any, Iterator

import numpy as np
import pytest

from .conftest import REPO_ROOT, RunningSidecar, start_sidecar

CLIENT_PYTHON = REPO_ROOT / ".venv-clients" / "bin" / "python"
CLIENT_SCRIPT = REPO_ROOT / "sidecars" / "tests" / "oip_triton_client.py"
FIXTURE = "sidecars/tests/models/oip_fixture.py"
SETUPS = [("http-json", "--http-worker", "sync"), ("http-json", "--http-worker", "gthread"),
          ("grpc", "--grpc-server", "thread"), ("grpc", "--grpc-server", "aio")]
X = [[1.0, 2.0, 3.0, 4.5], [-1.0, 0.0, 0.25, 8.0]]


def _client_ready() -> None:
    probe = subprocess.run([str(CLIENT_PYTHON), "-c", "import tritonclient.http, tritonclient.grpc"],
                           capture_output=True, text=True, timeout=120) if CLIENT_PYTHON.exists() else None
    if probe is not None and probe.returncode == 0:
        return
    why = f"tritonclient is not installed in {CLIENT_PYTHON.parent.parent} (`npm run setup -- --tests` builds it)"
    if os.environ.get("CI", "") not in ("", "false"):
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module", autouse=True)
def client_ready() -> None:
    _client_ready()


def start(model: str, transport: str, flag: str, setup: str) -> RunningSidecar:
    return start_sidecar("--model", model, "--transport", transport, flag, setup, "--listen", "tcp:127.0.0.1:0")


def drive(sidecar: RunningSidecar, spec: dict[str, Any]) -> dict[str, Any]:
    protocol = "grpc" if sidecar.ready["transport"] == "grpc" else "http"
    done = subprocess.run([str(CLIENT_PYTHON), str(CLIENT_SCRIPT), protocol, sidecar.address.removeprefix("tcp:")],
                          input=json.dumps(spec), capture_output=True, text=True, timeout=180, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module", params=SETUPS, ids=lambda s: f"{s[0]}-{s[2]}")
def doubler(request: pytest.FixtureRequest) -> Iterator[RunningSidecar]:
    sidecar = start(f"{FIXTURE}:Doubler", *request.param)
    yield sidecar
    assert sidecar.stop() == 0


def x(data: Any = None, datatype: str = "FP32", shape: list[int] | None = None) -> dict[str, Any]:
    values = np.array(X if data is None else data).reshape(-1).tolist()
    return {"name": "x", "datatype": datatype, "shape": shape or [2, 4], "data": values}


# What a broken request gets, as tritonclient reports it: the HTTP status, or the gRPC status code.
BAD = [
    ({"inputs": [x(datatype="INT32", data=[[1, 2, 3, 4], [5, 6, 7, 8]])]}, "400", "StatusCode.INVALID_ARGUMENT"),
    ({"inputs": [x(data=[[1, 2, 3]] * 2, shape=[2, 3])]}, "400", "StatusCode.INVALID_ARGUMENT"),
    ({"inputs": [x(), {**x(), "name": "z"}]}, "400", "StatusCode.INVALID_ARGUMENT"),
    ({"inputs": [x(data=[[-13, 0, 0, 0]], shape=[1, 4])]}, "500", "StatusCode.INTERNAL"),
    ({"model": "other", "inputs": [x()]}, "404", "StatusCode.NOT_FOUND"),
]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_health_metadata_infer_and_errors(doubler: RunningSidecar, binary: bool) -> None:
    if binary and doubler.ready["transport"] == "grpc":
        pytest.skip("gRPC tensors are always raw bytes")
    seen = drive(doubler, {"model": "doubler", "binary": binary, "inputs": [x()], "bad": [b[0] for b in BAD]})
    assert (seen["live"], seen["ready"], seen["model_ready"]) == (True, True, True)
    assert "binary_tensor_data" in seen["extensions"]
    meta = doubler.ready["metadata"]
    assert seen["metadata"] == {key: meta[key] for key in ("name", "inputs", "outputs")}
    expected = np.array(X, dtype=np.float32)
    assert seen["outputs"]["y"] == {"dtype": "float32", "shape": [2, 4], "data": (expected * 2 + 1).reshape(-1).tolist()}
    assert seen["outputs"]["row_sum"]["data"] == expected.astype(np.float64).sum(axis=1).tolist()
    column = 1 if doubler.ready["transport"] == "http-json" else 2
    assert [e["status"] for e in seen["errors"]] == [b[column] for b in BAD], seen["errors"]
    assert all(e["message"] for e in seen["errors"])


@pytest.mark.parametrize("setup", [SETUPS[1], SETUPS[2]], ids=["http-json", "grpc"])
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_bytes_tensors(setup: tuple[str, str, str], binary: bool) -> None:
    if binary and setup[0] == "grpc":
        pytest.skip("gRPC tensors are always raw bytes")
    sidecar = start(f"{FIXTURE}:Shout", *setup)
    try:
        text = {"name": "text", "datatype": "BYTES", "shape": [3], "data": ["ab", "héllo", ""]}
        seen = drive(sidecar, {"model": "shout", "binary": binary, "inputs": [text], "outputs": ["loud", "length"]})
        assert seen["outputs"]["loud"]["data"] == ["AB", "HéLLO", ""]
        assert seen["outputs"]["length"]["data"] == [2, 6, 0]
    finally:
        assert sidecar.stop() == 0


@pytest.mark.parametrize("setup", [SETUPS[0], SETUPS[3]], ids=["http-json-sync", "grpc-aio"])
def test_tritonclient_on_the_tabular_example_agrees_with_the_model_in_process(setup: tuple[str, str, str]) -> None:
    from examples.tabular_mlp import TabularMLP

    features = np.random.default_rng(3).standard_normal((5, 32)).astype(np.float32)
    model = TabularMLP()
    model.load()
    expected = model.infer({"features": features})
    sidecar = start("examples/tabular_mlp.py:TabularMLP", *setup)
    try:
        tensor = {"name": "features", "datatype": "FP32", "shape": [5, 32], "data": features.reshape(-1).tolist()}
        seen = drive(sidecar, {"model": "tabular-mlp", "binary": True, "inputs": [tensor]})
    finally:
        assert sidecar.stop() == 0
    got = np.array(seen["outputs"]["probabilities"]["data"], dtype=np.float32).reshape(5, 4)
    np.testing.assert_allclose(got, expected["probabilities"], rtol=1e-5, atol=1e-7)
    assert seen["outputs"]["label"] == {"dtype": "int64", "shape": [5], "data": expected["label"].tolist()}


@pytest.mark.parametrize("setup", [SETUPS[1], SETUPS[2]], ids=["http-json-gthread", "grpc-thread"])
def test_tritonclient_on_the_text_example_agrees_with_the_model_in_process(setup: tuple[str, str, str]) -> None:
    from examples.text_embedder import TextEmbedder

    texts = ["the cat sat", "Ünïcode and words", ""]
    expected = TextEmbedder().infer({"text": np.array([t.encode() for t in texts], dtype=object)})["embedding"]
    sidecar = start("examples/text_embedder.py:TextEmbedder", *setup)
    try:
        tensor = {"name": "text", "datatype": "BYTES", "shape": [3], "data": texts}
        seen = drive(sidecar, {"model": "text-embedder", "binary": False, "inputs": [tensor]})
    finally:
        assert sidecar.stop() == 0
    assert seen["outputs"]["embedding"]["shape"] == [3, 64]
    assert seen["outputs"]["embedding"]["data"] == expected.reshape(-1).tolist()  # JSON carries FP32 exactly
