"""`inference.GRPCInferenceService` on real grpc sidecars (both `--grpc-server` set-ups), beside
`sidecar.v1.Sidecar` on the same port, serving the fixture models of sidecars/tests/models."""
from __future__ import annotations

import struct
import threading
import time
from typing import Any, Iterator

import grpc
import numpy as np
import pytest

from sidecars.frontends.oip_grpc import load_messages

from .conftest import RunningSidecar, start_sidecar

FIXTURE = "sidecars/tests/models/oip_fixture.py"
X = np.array([[1.0, 2.0, 3.0, 4.5], [-1.0, 0.0, 0.25, 8.0]], dtype="<f4")
pb = load_messages()


def start(model: str, server: str, *extra: str) -> RunningSidecar:
    return start_sidecar("--model", f"{FIXTURE}:{model}", "--transport", "grpc", "--grpc-server", server,
                         "--listen", "tcp:127.0.0.1:0", *extra)


@pytest.fixture(scope="module", params=["thread", "aio", "aio-uvloop"])
def doubler(request: pytest.FixtureRequest) -> Iterator[RunningSidecar]:
    sidecar = start("Doubler", request.param)
    yield sidecar
    assert sidecar.stop() == 0


def rpc(sidecar: RunningSidecar, method: str, request: Any, timeout: float = 30) -> Any:
    with grpc.insecure_channel(sidecar.address.removeprefix("tcp:")) as channel:
        call = channel.unary_unary(f"/inference.GRPCInferenceService/{method}",
                                   request_serializer=lambda m: m if isinstance(m, bytes) else m.SerializeToString(),
                                   response_deserializer=getattr(pb, f"{method}Response").FromString)
        return call(request, timeout=timeout)


def failure(sidecar: RunningSidecar, method: str, request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        rpc(sidecar, method, request)
    error: Any = info.value
    code = dict(error.trailing_metadata() or ()).get("sidecar-error-code", "")
    return error.code(), code


def x_request(x: np.ndarray = X, **fields: Any) -> Any:
    request = pb.ModelInferRequest(model_name=fields.pop("model_name", "doubler"), **fields)
    request.inputs.add(name="x", datatype="FP32", shape=list(x.shape))
    request.raw_input_contents.append(x.astype("<f4").tobytes())
    return request


def assert_doubler_serves(sidecar: RunningSidecar) -> None:
    reply = rpc(sidecar, "ModelInfer", x_request())
    assert np.frombuffer(reply.raw_output_contents[0], "<f4").tolist() == (X * 2 + 1).reshape(-1).tolist()


def test_health_and_metadata(doubler: RunningSidecar) -> None:
    assert rpc(doubler, "ServerLive", pb.ServerLiveRequest()).live
    assert rpc(doubler, "ServerReady", pb.ServerReadyRequest()).ready
    assert rpc(doubler, "ModelReady", pb.ModelReadyRequest(name="doubler")).ready
    assert "binary_tensor_data" in rpc(doubler, "ServerMetadata", pb.ServerMetadataRequest()).extensions
    meta = rpc(doubler, "ModelMetadata", pb.ModelMetadataRequest(name="doubler"))
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [("x", "FP32", [-1, 4])]
    assert [t.name for t in meta.outputs] == [o["name"] for o in doubler.ready["metadata"]["outputs"]]


def test_the_sidecar_service_still_answers_on_the_same_port(doubler: RunningSidecar) -> None:
    with grpc.insecure_channel(doubler.address.removeprefix("tcp:")) as channel:
        echo = channel.unary_unary("/sidecar.v1.Sidecar/Echo")
        assert echo(b"\x0a\x02hi", timeout=30) == b"\x0a\x02hi"  # EchoRequest{payload: "hi"} back as EchoReply


def test_raw_infer_returns_raw_outputs_and_compute_time(doubler: RunningSidecar) -> None:
    reply = rpc(doubler, "ModelInfer", x_request(id="abc"))
    assert (reply.model_name, reply.id) == ("doubler", "abc")
    assert [(o.name, o.datatype, list(o.shape)) for o in reply.outputs] == [("y", "FP32", [2, 4]), ("row_sum", "FP64", [2])]
    assert np.frombuffer(reply.raw_output_contents[1], "<f8").tolist() == X.astype(np.float64).sum(axis=1).tolist()
    assert reply.parameters["compute_ns"].int64_param > 0


def test_typed_contents_are_accepted_and_outputs_can_be_chosen(doubler: RunningSidecar) -> None:
    request = pb.ModelInferRequest(model_name="doubler")
    request.inputs.add(name="x", datatype="FP32", shape=[2, 4]).contents.fp32_contents.extend(X.reshape(-1).tolist())
    request.outputs.add(name="row_sum")
    reply = rpc(doubler, "ModelInfer", request)
    assert [o.name for o in reply.outputs] == ["row_sum"]
    assert np.frombuffer(reply.raw_output_contents[0], "<f8").tolist() == X.astype(np.float64).sum(axis=1).tolist()


def test_bytes_tensors_in_contents_and_raw() -> None:
    sidecar = start("Shout", "thread")
    try:
        request = pb.ModelInferRequest(model_name="shout")
        request.inputs.add(name="text", datatype="BYTES", shape=[2]).contents.bytes_contents.extend([b"ab", b""])
        reply = rpc(sidecar, "ModelInfer", request)
        assert reply.raw_output_contents[0] == struct.pack("<I", 2) + b"AB" + struct.pack("<I", 0)
        raw = pb.ModelInferRequest(model_name="shout")
        raw.inputs.add(name="text", datatype="BYTES", shape=[2 ** 40])
        raw.raw_input_contents.append(bytes(8))
        assert failure(sidecar, "ModelInfer", raw) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_INPUT")
    finally:
        assert sidecar.stop() == 0


def _with(change: Any) -> Any:
    request = x_request()
    change(request)
    return request


def _both(request: Any) -> None:
    request.inputs[0].contents.fp32_contents.extend([0.0] * 8)


def _shared_memory(request: Any) -> None:
    request.inputs[0].parameters["shared_memory_region"].string_param = "region0"


def _contents_only(values: list[float], datatype: str = "FP32") -> Any:
    request = pb.ModelInferRequest(model_name="doubler")
    tensor = request.inputs.add(name="x", datatype=datatype, shape=[2, 4])
    tensor.contents.fp32_contents.extend(values)
    return request


BAD = grpc.StatusCode.INVALID_ARGUMENT
BAD_CALLS: dict[str, tuple[Any, grpc.StatusCode, str]] = {
    "unknown model": (x_request(model_name="other"), grpc.StatusCode.NOT_FOUND, "UNKNOWN_TYPE"),
    "unknown version": (x_request(model_version="9"), grpc.StatusCode.NOT_FOUND, "UNKNOWN_TYPE"),
    "wrong datatype": (_with(lambda r: setattr(r.inputs[0], "datatype", "INT32")), BAD, "BAD_INPUT"),
    "unknown datatype": (_with(lambda r: setattr(r.inputs[0], "datatype", "FP8")), BAD, "BAD_INPUT"),
    "wrong fixed dimension": (x_request(np.zeros((4, 2), dtype="<f4")), BAD, "BAD_INPUT"),
    "negative dimension": (_with(lambda r: r.inputs[0].shape.__setitem__(0, -1)), BAD, "BAD_INPUT"),
    "raw data one byte short": (_with(lambda r: r.raw_input_contents.__setitem__(0, bytes(31))), BAD, "BAD_INPUT"),
    "two raw entries for one input": (_with(lambda r: r.raw_input_contents.append(b"")), BAD, "BAD_INPUT"),
    "raw and contents both": (_with(_both), BAD, "BAD_INPUT"),
    "contents count wrong": (_contents_only([1.0] * 7), BAD, "BAD_INPUT"),
    "FP16 in contents": (_contents_only([1.0] * 8, "FP16"), BAD, "BAD_INPUT"),
    "unknown input": (_with(lambda r: (r.inputs.add(name="z", datatype="FP32", shape=[0]),
                                       r.raw_input_contents.append(b""))), BAD, "BAD_INPUT"),
    "no inputs": (pb.ModelInferRequest(model_name="doubler"), BAD, "BAD_INPUT"),
    "unknown output": (_with(lambda r: r.outputs.add(name="z")), BAD, "BAD_INPUT"),
    "input parameters": (_with(_shared_memory), BAD, "BAD_INPUT"),
    "huge shape": (_with(lambda r: r.inputs[0].shape.extend([2 ** 31] * 5)), BAD, "BAD_INPUT"),
    "bytes that do not parse": (b"\xff\xff\xff", BAD, "BAD_INPUT"),
    "model raises": (x_request(np.full((1, 4), -13.0, dtype="<f4")), grpc.StatusCode.INTERNAL, "MODEL_ERROR"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_calls_get_a_status_and_our_code_and_the_sidecar_keeps_serving(doubler: RunningSidecar, case: str) -> None:
    request, status, code = BAD_CALLS[case]
    assert failure(doubler, "ModelInfer", request) == (status, code)
    assert_doubler_serves(doubler)


def test_unknown_model_in_metadata_and_ready_is_not_found(doubler: RunningSidecar) -> None:
    assert failure(doubler, "ModelMetadata", pb.ModelMetadataRequest(name="x")) == (grpc.StatusCode.NOT_FOUND, "UNKNOWN_TYPE")
    assert failure(doubler, "ModelReady", pb.ModelReadyRequest(name="x")) == (grpc.StatusCode.NOT_FOUND, "UNKNOWN_TYPE")


@pytest.mark.parametrize("server", ["thread", "aio", "aio-uvloop"])
def test_model_infer_counts_against_the_inflight_budget(server: str) -> None:
    sidecar = start("Sleeper", server, "--max-inflight-bytes", "1")
    try:
        def sleep(seconds: float) -> Any:
            request = pb.ModelInferRequest(model_name="sleeper")
            request.inputs.add(name="seconds", datatype="FP32", shape=[1])
            request.raw_input_contents.append(np.array([seconds], dtype="<f4").tobytes())
            return request

        held: list[Any] = []
        first = threading.Thread(target=lambda: held.append(rpc(sidecar, "ModelInfer", sleep(3.0))))
        first.start()
        time.sleep(1.0)  # so the long call, not a probe, is the one admitted (a probe holds the budget briefly too)
        try:
            refused = None
            for _ in range(40):  # until the first call is in its handler, holding the (1-byte) budget
                try:
                    rpc(sidecar, "ModelInfer", sleep(0.0))
                except grpc.RpcError as exc:
                    error: Any = exc
                    refused = (error.code(), dict(error.trailing_metadata() or ()).get("sidecar-error-code"))
                    break
                time.sleep(0.05)
            assert refused == (grpc.StatusCode.RESOURCE_EXHAUSTED, "OVERLOADED")
        finally:
            first.join(timeout=30)
        assert held and held[0].outputs[0].name == "slept"
        assert rpc(sidecar, "ModelInfer", sleep(0.0)).outputs[0].name == "slept"  # the budget was given back
    finally:
        assert sidecar.stop() == 0

