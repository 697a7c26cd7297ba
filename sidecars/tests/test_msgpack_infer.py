"""msgpack ops `infer` and `metadata` on a real sidecar over a real socket: good requests, every
malformed tensor and model fault with its code, and the connection and sidecar serving on."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest

from sidecars.cores.base import Core
from sidecars.frontends.msgpack_codec import MsgpackSession

from .conftest import RunningSidecar, start_sidecar
from .models import contract_fixture as fixture
from .wire import connect, read_frame, stream_frame

FIXTURE = "sidecars/tests/models/contract_fixture.py"


@pytest.fixture(scope="module")
def mixer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSidecar]:
    path = tmp_path_factory.mktemp("msgpack-infer") / "s.sock"
    sidecar = start_sidecar("--model", f"{FIXTURE}:Mixer", "--transport", "msgpack", "--listen", f"unix:{path}")
    yield sidecar
    assert sidecar.stop() == 0


def ask(sock: Any, request: dict[str, Any]) -> dict[str, Any]:
    sock.sendall(stream_frame(msgpack.packb(request, use_bin_type=True)))
    return msgpack.unpackb(read_frame(sock))


def x_tensor(first: float = 1.0, **changes: Any) -> dict[str, Any]:
    x = np.full((2, 4), 0.5, dtype=np.float32)
    x[0, 0] = first
    return {"name": "x", "datatype": "FP32", "shape": [2, 4], "data": x.tobytes(), **changes}


WORDS = {"name": "words", "datatype": "BYTES", "shape": [2], "data": b"\x02\x00\x00\x00hi\x00\x00\x00\x00"}


def check_good(sock: Any, request_id: int = 1) -> None:
    reply = ask(sock, {"id": request_id, "op": "infer", "inputs": [x_tensor(), WORDS]})
    assert reply["id"] == request_id and reply["compute_ns"] > 0, reply
    outputs = {o["name"]: o for o in reply["outputs"]}
    assert [o["name"] for o in reply["outputs"]] == ["y", "lengths", "upper"]
    assert outputs["y"]["datatype"] == "FP32" and outputs["y"]["shape"] == [2, 4]
    assert np.frombuffer(outputs["y"]["data"], "<f4").tolist() == [2.0, 1.0, 1.0, 1.0] + [1.0] * 4
    assert np.frombuffer(outputs["lengths"]["data"], "<i4").tolist() == [2, 0]
    assert outputs["upper"] == {"name": "upper", "datatype": "BYTES", "shape": [2], "data": b"\x02\x00\x00\x00HI\x00\x00\x00\x00"}


def test_infer_and_metadata(mixer: RunningSidecar) -> None:
    with connect(mixer.address) as sock:
        check_good(sock, 7)
        assert ask(sock, {"id": 8, "op": "metadata"}) == {"id": 8, "metadata": mixer.ready["metadata"]}


@pytest.mark.parametrize("case, inputs, code, words", [
    ("no inputs", None, "BAD_INPUT", "`inputs` to be a list of 1 to 64 tensors, got nothing"),
    ("empty inputs", [], "BAD_INPUT", "got 0 tensors"),
    ("65 inputs", [x_tensor()] * 65, "BAD_INPUT", "got 65 tensors"),
    ("not a map", [x_tensor(), 3], "BAD_INPUT", "`inputs[1]` to be a map"),
    ("missing field", [{"name": "x", "datatype": "FP32", "shape": [2, 4]}, WORDS], "BAD_INPUT", "missing ['data']"),
    ("unknown field", [x_tensor(dtype="f4"), WORDS], "BAD_INPUT", "unknown ['dtype']"),
    ("data not bin", [x_tensor(data="abc"), WORDS], "BAD_INPUT", "`inputs[0].data` to be msgpack bin"),
    ("unknown datatype", [x_tensor(datatype="FP8"), WORDS], "BAD_INPUT", "`datatype` to be one of"),
    ("rank 9", [x_tensor(shape=[1] * 9), WORDS], "BAD_INPUT", "at most 8 integers"),
    ("negative dim", [x_tensor(shape=[-1, 4]), WORDS], "BAD_INPUT", "non-negative integer"),
    ("huge dims", [x_tensor(shape=[2**32] * 8), WORDS], "BAD_INPUT", "bytes for input `x`"),
    ("huge BYTES dims", [x_tensor(), {**WORDS, "shape": [2**40]}], "BAD_INPUT", "a u32 length per element"),
    ("BYTES element past the end", [x_tensor(), {**WORDS, "shape": [1], "data": b"\x09\x00\x00\x00abc"}], "BAD_INPUT",
     "declares 9 bytes"),
    ("data size mismatch", [x_tensor(data=b"\x00" * 31), WORDS], "BAD_INPUT", "Expected 32 bytes"),
    ("wrong datatype", [x_tensor(datatype="INT32"), WORDS], "BAD_INPUT", "`x` to be FP32, got INT32"),
    ("missing input", [x_tensor()], "BAD_INPUT", "Missing input `words`"),
    ("extra input", [x_tensor(), WORDS, {**WORDS, "name": "more"}], "BAD_INPUT", "Unexpected input `more`"),
    ("duplicate input", [x_tensor(), WORDS, x_tensor()], "BAD_INPUT", "`x` twice"),
    ("model raises", [x_tensor(fixture.RAISE), WORDS], "MODEL_ERROR", "the fixture refuses"),
    ("wrong output", [x_tensor(fixture.WRONG_SHAPE), WORDS], "MODEL_ERROR", "output `y` has shape [8]"),
    ("undeclared output", [x_tensor(fixture.EXTRA), WORDS], "MODEL_ERROR", "'surprise'"),
])
def test_bad_infer_requests_get_a_code_and_the_connection_keeps_serving(
        mixer: RunningSidecar, case: str, inputs: Any, code: str, words: str) -> None:
    request: dict[str, Any] = {"id": 5, "op": "infer"}
    if inputs is not None:
        request["inputs"] = inputs
    with connect(mixer.address) as sock:
        reply = ask(sock, request)
        assert reply["id"] == 5 and reply["error"]["code"] == code, (case, reply)
        assert words in reply["error"]["message"], (case, reply)
        check_good(sock)
    assert mixer.proc.poll() is None


def test_a_model_without_tensors_answers_unsupported_op() -> None:
    sent: list[bytes] = []
    session = MsgpackSession(Core())
    for request in ({"id": 1, "op": "metadata"}, {"id": 2, "op": "infer", "inputs": []}):
        session.on_frame(msgpack.packb(request), lambda frames: sent.append(b"".join(frames)))
    assert [msgpack.unpackb(s[4:])["error"]["code"] for s in sent] == ["UNSUPPORTED_OP"] * 2


def test_echo_core_infer(tmp_path: Path) -> None:
    sidecar = start_sidecar("--model", "echo", "--transport", "msgpack", "--listen", f"unix:{tmp_path}/e.sock")
    try:
        with connect(sidecar.address) as sock:
            payload = bytes(range(256)) * 300  # over the 64 KiB a reply is assembled within
            reply = ask(sock, {"id": 3, "op": "infer", "inputs": [{"name": "payload", "datatype": "UINT8",
                                                                   "shape": [len(payload)], "data": payload}]})
            assert reply == {"id": 3, "compute_ns": 0, "outputs": [
                {"name": "payload", "datatype": "UINT8", "shape": [len(payload)], "data": payload}]}
    finally:
        sidecar.stop()
