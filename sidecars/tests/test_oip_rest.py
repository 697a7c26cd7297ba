"""The Open Inference Protocol's REST routes on real http-json sidecars (every server stack),
serving the fixture models in sidecars/tests/models/oip_fixture.py over real TCP sockets."""
from __future__ import annotations

import http.client
import json
import struct
from typing import Any, Iterator

import numpy as np
import pytest

from .conftest import RunningSidecar, start_sidecar

FIXTURE = "sidecars/tests/models/oip_fixture.py"
MAX_BODY = 1024 * 1024
X = [[1.0, 2.0, 3.0, 4.5], [-1.0, 0.0, 0.25, 8.0]]


def start(model: str, stack: str) -> RunningSidecar:
    return start_sidecar("--model", f"{FIXTURE}:{model}", "--transport", "http-json", "--http-stack", stack,
                         "--listen", "tcp:127.0.0.1:0", "--max-frame-bytes", str(MAX_BODY))


@pytest.fixture(scope="module", params=["gunicorn-sync", "gunicorn-gthread", "uvicorn", "lean"])
def doubler(request: pytest.FixtureRequest) -> Iterator[RunningSidecar]:
    sidecar = start("Doubler", request.param)
    yield sidecar
    assert sidecar.stop() == 0


@pytest.fixture(scope="module")
def shout() -> Iterator[RunningSidecar]:
    sidecar = start("Shout", "gunicorn-gthread")
    yield sidecar
    assert sidecar.stop() == 0


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        size = self.headers.get("inference-header-content-length")
        return json.loads(self.body[:int(size)] if size is not None else self.body)

    def binary(self) -> bytes:
        return self.body[int(self.headers["inference-header-content-length"]):]


def call(sidecar: RunningSidecar, method: str, path: str, body: bytes | dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> Reply:
    host, port = sidecar.address.removeprefix("tcp:").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


def x_input(data: Any = None, **fields: Any) -> dict[str, Any]:
    return {"name": "x", "datatype": "FP32", "shape": [2, 4], "data": X if data is None else data, **fields}


def infer(sidecar: RunningSidecar, body: bytes | dict[str, Any], headers: dict[str, str] | None = None,
          model: str = "doubler") -> Reply:
    return call(sidecar, "POST", f"/v2/models/{model}/infer", body, headers)


def assert_doubler_serves(sidecar: RunningSidecar) -> None:
    reply = infer(sidecar, {"inputs": [x_input()]})
    assert reply.status == 200, reply.body
    assert reply.json()["outputs"][0]["data"] == (np.array(X, dtype=np.float32) * 2 + 1).reshape(-1).tolist()


def test_health_and_metadata_routes(doubler: RunningSidecar) -> None:
    assert call(doubler, "GET", "/v2/health/live").status == 200
    assert call(doubler, "GET", "/v2/health/ready").json() == {"ready": True}
    assert call(doubler, "GET", "/v2").json()["extensions"] == ["binary_tensor_data"]
    assert call(doubler, "GET", "/v2/models/doubler/ready").json() == {"name": "doubler", "ready": True}
    meta = call(doubler, "GET", "/v2/models/doubler").json()
    assert meta == doubler.ready["metadata"]
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]


@pytest.mark.parametrize("path", ["/v2/models/other", "/v2/models/other/ready", "/v2/models/doubler/versions/7"])
def test_an_unknown_model_or_version_is_404_in_the_oip_error_shape(doubler: RunningSidecar, path: str) -> None:
    reply = call(doubler, "GET", path)
    assert reply.status == 404
    assert reply.json()["code"] == "UNKNOWN_TYPE" and isinstance(reply.json()["error"], str)


def test_json_infer_returns_every_output_with_compute_time(doubler: RunningSidecar) -> None:
    reply = infer(doubler, {"id": "r1", "inputs": [x_input()]})
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert body["model_name"] == "doubler" and body["id"] == "r1"
    y, row_sum = body["outputs"]
    x = np.array(X, dtype=np.float32)
    assert (y["name"], y["datatype"], y["shape"]) == ("y", "FP32", [2, 4])
    assert y["data"] == (x * 2 + 1).reshape(-1).tolist()
    assert (row_sum["datatype"], row_sum["data"]) == ("FP64", x.astype(np.float64).sum(axis=1).tolist())
    assert int(reply.headers["x-compute-ns"]) == body["parameters"]["compute_ns"] > 0


def test_binary_inputs_and_outputs_in_both_directions(doubler: RunningSidecar) -> None:
    x = np.array(X, dtype="<f4")
    header = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 4],
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "row_sum", "parameters": {"binary_data": True}},
                                     {"name": "y", "parameters": {"binary_data": False}}]}).encode()
    reply = infer(doubler, header + x.tobytes(), {"Inference-Header-Content-Length": str(len(header))})
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/octet-stream"
    row_sum, y = reply.json()["outputs"]
    assert row_sum == {"name": "row_sum", "datatype": "FP64", "shape": [2], "parameters": {"binary_data_size": 16}}
    assert np.frombuffer(reply.binary(), "<f8").tolist() == x.astype(np.float64).sum(axis=1).tolist()
    assert y["data"] == (x * 2 + 1).reshape(-1).tolist()


def test_binary_data_output_on_the_request_makes_every_output_binary(doubler: RunningSidecar) -> None:
    reply = infer(doubler, {"inputs": [x_input()], "parameters": {"binary_data_output": True}})
    outputs = reply.json()["outputs"]
    assert [o["parameters"]["binary_data_size"] for o in outputs] == [32, 16]
    x = np.array(X, dtype=np.float32)
    assert reply.binary() == (x * 2 + 1).astype("<f4").tobytes() + x.astype("<f8").sum(axis=1).tobytes()


def test_bytes_tensors_travel_as_strings_or_length_prefixed_raw(shout: RunningSidecar) -> None:
    reply = infer(shout, {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["ab", "héllo"]}]},
                  model="shout")
    assert reply.json()["outputs"][0]["data"] == ["AB", "HéLLO"]
    raw = b"".join(struct.pack("<I", len(t)) + t for t in (b"x\x00y", b""))
    header = json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2],
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    reply = infer(shout, header + raw, {"Inference-Header-Content-Length": str(len(header))}, model="shout")
    assert reply.status == 200, reply.body
    assert reply.binary() == struct.pack("<I", 3) + b"X\x00Y" + struct.pack("<I", 0) + struct.pack("<ii", 3, 0)


def _binary(header: dict[str, Any], data: bytes, declared: int | None = None) -> tuple[bytes, dict[str, str]]:
    text = json.dumps(header).encode()
    return text + data, {"Inference-Header-Content-Length": str(len(text) if declared is None else declared)}


def _x_binary(size: int, shape: list[int] | None = None, datatype: str = "FP32") -> dict[str, Any]:
    return {"inputs": [{"name": "x", "datatype": datatype, "shape": shape or [2, 4],
                        "parameters": {"binary_data_size": size}}]}


BAD_REQUESTS: dict[str, tuple[Any, dict[str, str] | None, int, str]] = {
    "wrong datatype": ({"inputs": [x_input(datatype="FP64")]}, None, 400, "BAD_INPUT"),
    "wrong fixed dimension": ({"inputs": [x_input([[1, 2, 3]] * 2, shape=[2, 3])]}, None, 400, "BAD_INPUT"),
    "wrong rank": ({"inputs": [x_input([1, 2, 3, 4], shape=[4])]}, None, 400, "BAD_INPUT"),
    "fewer elements than the shape": ({"inputs": [x_input([1, 2, 3])]}, None, 400, "BAD_INPUT"),
    "unknown datatype": ({"inputs": [x_input(datatype="FP8")]}, None, 400, "BAD_INPUT"),
    "negative dimension": ({"inputs": [x_input(shape=[-1, 4])]}, None, 400, "BAD_INPUT"),
    "unknown input": ({"inputs": [x_input(), {**x_input(), "name": "z"}]}, None, 400, "BAD_INPUT"),
    "input given twice": ({"inputs": [x_input(), x_input()]}, None, 400, "BAD_INPUT"),
    "no inputs": ({"inputs": []}, None, 400, "BAD_INPUT"),
    "data not a list": ({"inputs": [x_input("1,2,3")]}, None, 400, "BAD_INPUT"),
    "strings in FP32 data": ({"inputs": [x_input([["a"] * 4] * 2)]}, None, 400, "BAD_INPUT"),
    "binary_data_output not a boolean": ({"inputs": [x_input()], "parameters": {"binary_data_output": "yes"}}, None,
                                         400, "BAD_INPUT"),
    "an output asked for twice": ({"inputs": [x_input()], "outputs": [{"name": "y"}, {"name": "y"}]}, None, 400,
                                  "BAD_INPUT"),
    "unknown output asked for": ({"inputs": [x_input()], "outputs": [{"name": "z"}]}, None, 400, "BAD_INPUT"),
    "shared memory asked for": ({"inputs": [x_input(parameters={"shared_memory_region": "r"})]}, None, 400, "BAD_INPUT"),
    "NaN in JSON": (b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[1,2,3,NaN]}]}', None, 400,
                    "BAD_INPUT"),
    "Infinity in JSON": (b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[1,2,3,-Infinity]}]}', None,
                         400, "BAD_INPUT"),
    "a number past FP32": ({"inputs": [x_input([[1e39, 0, 0, 0], [0, 0, 0, 0]])]}, None, 400, "BAD_INPUT"),
    "a number past float64": (b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[1e400,0,0,0]}]}',
                              None, 400, "BAD_INPUT"),
    "malformed JSON": (b'{"inputs": [', None, 400, "BAD_INPUT"),
    "not an object": (b"[1, 2]", None, 400, "BAD_INPUT"),
    "JSON nested too deep": (b'{"inputs": ' + b"[" * 40 + b"]" * 40 + b"}", None, 400, "BAD_INPUT"),
    "header length past the body": (*_binary(_x_binary(32), bytes(32), declared=10_000), 400, "BAD_INPUT"),
    "header length not a number": (*_binary(_x_binary(32), bytes(32), declared=0), 400, "BAD_INPUT"),
    "binary part shorter than binary_data_size": (*_binary(_x_binary(32), bytes(31)), 400, "BAD_INPUT"),
    "binary part longer than binary_data_size": (*_binary(_x_binary(32), bytes(33)), 400, "BAD_INPUT"),
    "binary_data_size not the shape's": (*_binary(_x_binary(28), bytes(28)), 400, "BAD_INPUT"),
    "huge shape, little JSON data": ({"inputs": [x_input(shape=[2 ** 40, 4])]}, None, 400, "BAD_INPUT"),
    "huge shape, little binary data": (*_binary(_x_binary(32, [2 ** 31, 2 ** 31, 2 ** 31, 4]), bytes(32)), 400,
                                       "BAD_INPUT"),
    "model raises": ({"inputs": [x_input([[-13, 0, 0, 0], [0, 0, 0, 0]])]}, None, 500, "MODEL_ERROR"),
}
BAD_REQUESTS["header length not a number"] = (BAD_REQUESTS["header length not a number"][0],
                                               {"Inference-Header-Content-Length": "ten"}, 400, "BAD_INPUT")


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_get_a_stable_code_and_the_sidecar_keeps_serving(doubler: RunningSidecar, case: str) -> None:
    body, headers, status, code = BAD_REQUESTS[case]
    reply = infer(doubler, body, headers)
    assert (reply.status, reply.json()["code"]) == (status, code), reply.body
    assert isinstance(reply.json()["error"], str) and reply.json()["error"]
    assert_doubler_serves(doubler)


def test_huge_bytes_shapes_are_refused_before_allocating(shout: RunningSidecar) -> None:
    body, headers = _binary({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2 ** 40],
                                         "parameters": {"binary_data_size": 8}}]}, bytes(8))
    reply = infer(shout, body, headers, model="shout")
    assert (reply.status, reply.json()["code"]) == (400, "BAD_INPUT")


def test_nan_outputs_are_refused_in_json_and_carried_in_binary(doubler: RunningSidecar) -> None:
    x = np.array([[np.nan, 1, 2, 3]], dtype="<f4")
    body, headers = _binary({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4],
                                         "parameters": {"binary_data_size": 16}}]}, x.tobytes())
    reply = infer(doubler, body, headers)
    assert (reply.status, reply.json()["code"]) == (500, "MODEL_ERROR")
    assert "binary_data" in reply.json()["error"]
    body, headers = _binary({**_x_binary(16, [1, 4]), "parameters": {"binary_data_output": True}}, x.tobytes())
    reply = infer(doubler, body, headers)
    assert reply.status == 200 and np.isnan(np.frombuffer(reply.binary()[:16], "<f4")[0])


def test_routes_and_limits_answer_in_the_oip_error_shape(doubler: RunningSidecar) -> None:
    assert call(doubler, "GET", "/v2/nothing").json()["code"] == "UNKNOWN_TYPE"
    reply = call(doubler, "GET", "/v2/models/doubler/infer")
    assert (reply.status, reply.json()["code"]) == (405, "UNKNOWN_TYPE")
    reply = infer(doubler, b"{" + b" " * MAX_BODY + b"}")
    assert (reply.status, reply.json()["code"]) == (413, "FRAME_TOO_LARGE")
    assert call(doubler, "GET", "/nothing").json()["error"]["code"] == "UNKNOWN_TYPE"  # the old routes' shape
    assert_doubler_serves(doubler)
