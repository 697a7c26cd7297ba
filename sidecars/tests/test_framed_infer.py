"""Framed types 7 (INFER) and 8 (METADATA) on a real sidecar over a real socket, against every
malformed tensor list and every model fault: each gets its own code, and the same connection, and
the sidecar, go on serving. And the built-in CIFAR core: infer's labels are classify's labels."""
from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sidecars import cifar_data
from sidecars.cores.base import Core
from sidecars.frontends.framed import FramedSession
from sidecars.frontends.tensor_frames import decode_tensors, encode_tensors

from .conftest import RunningSidecar, start_sidecar
from .models import contract_fixture as fixture
from .wire import connect, framed, read_frame

FIXTURE = "sidecars/tests/models/contract_fixture.py"
TEST_BATCH = cifar_data.default_dir() / cifar_data.TEST_FILE


@pytest.fixture(scope="module")
def mixer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSidecar]:
    path = tmp_path_factory.mktemp("framed-infer") / "s.sock"
    sidecar = start_sidecar("--model", f"{FIXTURE}:Mixer", "--transport", "framed", "--listen", f"unix:{path}")
    yield sidecar
    assert sidecar.stop() == 0


def tensor(name: bytes, code: int, dims: list[int], data: bytes, data_len: int | None = None) -> bytes:
    size = len(data) if data_len is None else data_len
    return (bytes([len(name)]) + name + bytes([code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
            + struct.pack(">I", size) + data)


def good(first: float = 1.0) -> bytes:
    x = np.full((2, 4), 0.5, dtype=np.float32)
    x[0, 0] = first
    return b"".join(encode_tensors({"x": x, "words": np.array([b"hi", b""], dtype=object)}))


def ask(sock: object, kind: int, body: bytes) -> tuple[int, bytes]:
    sock.sendall(framed(kind, body))  # type: ignore[attr-defined]
    reply = read_frame(sock)  # type: ignore[arg-type]
    return reply[0], reply[1:]


def check_good(sock: object) -> None:
    kind, body = ask(sock, 7, good())
    assert kind == 7, body
    (compute_ns,) = struct.unpack(">Q", body[:8])
    outputs, datatypes = decode_tensors(body[8:])
    assert compute_ns > 0 and list(outputs) == ["y", "lengths", "upper"]
    assert datatypes == {"y": "FP32", "lengths": "INT32", "upper": "BYTES"}
    assert outputs["y"].tolist() == [[2.0, 1.0, 1.0, 1.0], [1.0] * 4]
    assert outputs["lengths"].tolist() == [2, 0] and outputs["upper"].tolist() == [b"HI", b""]


def test_infer_and_metadata(mixer: RunningSidecar) -> None:
    with connect(mixer.address) as sock:
        check_good(sock)
        kind, body = ask(sock, 8, b"")
        assert kind == 8 and json.loads(body) == mixer.ready["metadata"]
        assert json.loads(body)["inputs"][1] == {"name": "words", "datatype": "BYTES", "shape": [-1]}


WORDS = tensor(b"words", 12, [1], b"\x00\x00\x00\x00")
X = tensor(b"x", 10, [1, 4], bytes(16))
HUGE = [2**32 - 1] * 4


@pytest.mark.parametrize("case, body, code, words", [
    ("empty body", b"", "BAD_INPUT", "at least 1 byte"),
    ("truncated tensor list", good()[:-3], "BAD_INPUT", "ends inside"),
    ("T=0", b"\x00", "BAD_INPUT", "1 to 64 tensors, got 0"),
    ("T=65", bytes([65]) + X * 65, "BAD_INPUT", "1 to 64 tensors, got 65"),
    ("T=2 with one tensor", b"\x02" + X, "BAD_INPUT", "Tensor 1 ends inside its name length"),
    ("rank 9", b"\x01" + tensor(b"x", 10, [1] * 9, bytes(4)), "BAD_INPUT", "rank to be at most 8, got 9"),
    ("huge dims, FP32", b"\x02" + tensor(b"x", 10, HUGE, bytes(16)) + WORDS, "BAD_INPUT", "data bytes for tensor `x`"),
    ("huge dims, BYTES", b"\x02" + X + tensor(b"words", 12, HUGE, bytes(16)), "BAD_INPUT", "a u32 length per element"),
    ("data_len past the end", b"\x02" + X + tensor(b"words", 12, [1], b"", data_len=2**31), "BAD_INPUT",
     "ends inside its data"),
    ("unknown datatype code", b"\x01" + tensor(b"x", 13, [1], b"\x00"), "BAD_INPUT", "datatype code to be 0 to 12, got 13"),
    ("BYTES element past the end", b"\x02" + X + tensor(b"words", 12, [1], struct.pack("<I", 9) + b"abc"), "BAD_INPUT",
     "element 0 declares 9 bytes; 3 are left"),
    ("trailing bytes", good() + b"\x00\x00", "BAD_INPUT", "2 more bytes"),
    ("wrong datatype", b"\x02" + tensor(b"x", 11, [1, 4], bytes(32)) + WORDS, "BAD_INPUT", "`x` to be FP32, got FP64"),
    ("wrong shape", b"\x02" + tensor(b"x", 10, [4], bytes(16)) + WORDS, "BAD_INPUT", "shape [-1, 4]"),
    ("missing input", b"\x01" + X, "BAD_INPUT", "Missing input `words`"),
    ("extra input", b"\x03" + X + WORDS + tensor(b"z", 1, [1], b"\x00"), "BAD_INPUT", "Unexpected input `z`"),
    ("duplicate input", b"\x03" + X + WORDS + X, "BAD_INPUT", "`x` twice"),
    ("model raises", good(fixture.RAISE), "MODEL_ERROR", "RuntimeError: the fixture refuses"),
    ("model returns a wrong output", good(fixture.WRONG_DTYPE), "MODEL_ERROR", "output `y` is FP64"),
    ("model leaves an output out", good(fixture.MISSING), "MODEL_ERROR", "output `lengths`"),
])
def test_bad_infer_requests_get_a_code_and_the_connection_keeps_serving(
        mixer: RunningSidecar, case: str, body: bytes, code: str, words: str) -> None:
    with connect(mixer.address) as sock:
        kind, reply = ask(sock, 7, body)
        assert kind == 255, case
        error = json.loads(reply)
        assert error["code"] == code and words in error["message"], (case, error)
        check_good(sock)
    with connect(mixer.address) as sock:
        check_good(sock)
    assert mixer.proc.poll() is None


def test_metadata_with_a_body_is_bad_input(mixer: RunningSidecar) -> None:
    with connect(mixer.address) as sock:
        kind, reply = ask(sock, 8, b"x")
        assert kind == 255 and json.loads(reply)["code"] == "BAD_INPUT"
        check_good(sock)


def test_a_model_without_tensors_answers_unsupported_op() -> None:
    sent: list[bytes] = []
    session = FramedSession(Core())
    for kind, body in ((7, good()), (7, b"garbage"), (8, b"")):
        session.on_frame(bytes([kind]) + body, lambda frames: sent.append(b"".join(frames)))
    assert [json.loads(s[5:])["code"] for s in sent] == ["UNSUPPORTED_OP"] * 3


def test_rank_0_bool_and_fp16_travel(tmp_path: Path) -> None:
    sidecar = start_sidecar("--model", f"{FIXTURE}:Scalar", "--transport", "framed", "--listen", f"unix:{tmp_path}/s.sock")
    try:
        with connect(sidecar.address) as sock:
            body = b"".join(encode_tensors({"flag": np.array(True), "h": np.array([0.5, -2], dtype=np.float16)}))
            kind, reply = ask(sock, 7, body)
            assert kind == 7, reply
            outputs, datatypes = decode_tensors(reply[8:])
            assert outputs["flag"].shape == () and outputs["flag"].item() is False
            assert outputs["h"].tolist() == [1.5, -1.0] and datatypes == {"flag": "BOOL", "h": "FP16"}
    finally:
        sidecar.stop()


@pytest.mark.skipif(not TEST_BATCH.is_file(), reason=f"CIFAR-10 test batch not found at {TEST_BATCH}")
def test_cifar_infer_labels_are_classify_labels(tmp_path: Path) -> None:
    _labels, images = cifar_data.load_records(TEST_BATCH, limit=64)
    sidecar = start_sidecar("--model", "cifar", "--device", "cpu", "--threads", "1", "--transport", "framed",
                            "--listen", f"unix:{tmp_path}/c.sock")
    try:
        assert sidecar.ready["metadata"]["inputs"] == [{"name": "images", "datatype": "UINT8", "shape": [-1, 3, 32, 32]}]
        with connect(sidecar.address, timeout=60) as sock:
            kind, classified = ask(sock, 2, images.tobytes())
            assert kind == 2 and len(classified) == 64
            kind, reply = ask(sock, 7, b"".join(encode_tensors({"images": images.reshape(64, 3, 32, 32)})))
            assert kind == 7, reply
            outputs, datatypes = decode_tensors(reply[8:])
            assert datatypes == {"labels": "UINT8", "logits": "FP32"} and outputs["logits"].shape == (64, 10)
            assert outputs["labels"].tobytes() == classified
            assert (outputs["logits"].argmax(axis=1) == outputs["labels"]).all()
            assert len(set(classified)) > 3  # real images, several classes: not a constant answer
            kind, reply = ask(sock, 7, b"".join(encode_tensors({"images": np.zeros((0, 3, 32, 32), np.uint8)})))
            assert kind == 255 and json.loads(reply)["code"] == "BAD_INPUT"
    finally:
        sidecar.stop()


def test_faults_reach_infer_and_metadata(tmp_path: Path) -> None:
    """The fault wrapper (--inject-delay-us, used by `ab` as a regression of known size) passes
    metadata through and delays infer like every other request."""
    import time

    sidecar = start_sidecar("--model", f"{FIXTURE}:Mixer", "--transport", "framed", "--listen",
                            f"unix:{tmp_path}/f.sock", "--inject-delay-us", "3000")
    try:
        assert [spec["name"] for spec in sidecar.ready["metadata"]["inputs"]] == ["x", "words"]
        with connect(sidecar.address) as sock:
            started = time.perf_counter()
            check_good(sock)
            assert time.perf_counter() - started >= 0.003
    finally:
        assert sidecar.stop() == 0
