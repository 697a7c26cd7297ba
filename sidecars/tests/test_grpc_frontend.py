"""The grpc front-end, both servers (`--grpc-server aio|thread`), on real sidecars over real sockets.

The echo model covers the wire and every bad input (after each, a new connection must still be
served); a fake generating and classifying core covers the replies' shapes. Run as a module, this
file serves that fake core: `python -m sidecars.tests.test_grpc_frontend LISTEN SERVER`.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import grpc
import pytest

from sidecars.address import Address, parse_address
from sidecars.cores.base import ClassifyResult, Core, GenerateEvent, GenerateRequest
from sidecars.frontends.grpc_server import ERROR_KEY, load_messages, serve

from .conftest import REPO_ROOT, RunningSidecar, start_sidecar

pb = load_messages()
SERVERS = ["aio", "aio-uvloop", "thread"]
LIMIT = 1024 * 1024


class FakeCore(Core):
    name = "fake"

    def class_names(self) -> list[str]:
        return [f"class{i}" for i in range(10)]

    def classify(self, images: bytes) -> ClassifyResult:
        return ClassifyResult(bytes((7 + i) % 10 for i in range(len(images) // 3072)), compute_ns=5_000_000_000)

    def generate(self, request: GenerateRequest) -> Iterator[GenerateEvent]:
        if request.prompt == "fail":
            raise RuntimeError("the model broke")
        yield GenerateEvent("he")
        yield GenerateEvent("llo")
        seen = 0 if request.temperature is None else int(request.temperature * 10)
        stats = {"prompt_tokens": len(request.prompt), "output_tokens": request.top_k, "decode_ns": 2**40,
                 "ttft_ns": seen, "finish_reason": "length", "ignored": [1]}
        yield GenerateEvent("", done=True, stats=stats)


def _serve_fake(listen: str, server: str) -> None:
    def on_ready(bound: Address) -> None:
        print(json.dumps({"event": "ready", "address": str(bound)}), flush=True)

    serve(FakeCore(), parse_address(listen), {"grpc_server": server, "max_frame_bytes": LIMIT}, on_ready)


def start_fake(listen: str, server: str) -> RunningSidecar:
    proc = subprocess.Popen([sys.executable, "-m", "sidecars.tests.test_grpc_frontend", listen, server],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return RunningSidecar(proc, json.loads(proc.stdout.readline()))


def target(address: str) -> str:
    return address if address.startswith("unix:") else address[len("tcp:"):]


def call(address: str, method: str, request: Any, reply_type: Any = None, send_limit: int = LIMIT) -> Any:
    options = [("grpc.max_send_message_length", send_limit), ("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(target(address), options=options) as channel:
        serialize = request.SerializeToString if hasattr(request, "SerializeToString") else None
        deserialize = reply_type.FromString if reply_type is not None else None
        path = f"/sidecar.v1.Sidecar/{method}"
        if method == "GenerateStream":
            return list(channel.unary_stream(path, serialize, deserialize)(request, timeout=10))
        return channel.unary_unary(path, serialize, deserialize)(request, timeout=10)


def failure(address: str, method: str, request: Any, **kwargs: Any) -> tuple[grpc.StatusCode, str | None]:
    with pytest.raises(grpc.RpcError) as info:
        call(address, method, request, **kwargs)
    error: Any = info.value
    sent = dict(error.trailing_metadata() or ()).get(ERROR_KEY)
    return error.code(), sent


def echo_ok(address: str, payload: bytes = b"still alive") -> None:
    assert call(address, "Echo", pb.EchoRequest(payload=payload), pb.EchoReply).payload == payload


@pytest.fixture(scope="module", params=SERVERS)
def echo_sidecar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSidecar]:
    path = tmp_path_factory.mktemp("sock") / "g.sock"
    sidecar = start_sidecar("--model", "echo", "--transport", "grpc", "--grpc-server", request.param,
                            "--listen", f"unix:{path}", "--max-frame-bytes", str(LIMIT))
    yield sidecar
    assert sidecar.stop() == 0
    assert not path.exists()


@pytest.fixture(scope="module", params=SERVERS)
def fake_sidecar(request: pytest.FixtureRequest) -> Iterator[RunningSidecar]:
    sidecar = start_fake("tcp:127.0.0.1:0", request.param)
    yield sidecar
    assert sidecar.stop() == 0


def test_echo_fidelity_and_a_private_socket(echo_sidecar: RunningSidecar) -> None:
    for size in (0, 1, 3072, LIMIT - 16):
        echo_ok(echo_sidecar.address, os.urandom(size))
    echo_ok(echo_sidecar.address, bytes(range(256)))
    mode = os.stat(echo_sidecar.address[len("unix:"):]).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


@pytest.mark.parametrize(
    ("case", "method", "request_", "status", "code"),
    [
        ("Classify with 3071 bytes", "Classify", pb.ClassifyRequest(image=bytes(3071)), "INVALID_ARGUMENT",
         "BAD_INPUT"),
        ("ClassifyBatch of no images", "ClassifyBatch", pb.ClassifyBatchRequest(), "INVALID_ARGUMENT", "BAD_INPUT"),
        ("ClassifyBatch not a multiple", "ClassifyBatch", pb.ClassifyBatchRequest(images=bytes(3073)),
         "INVALID_ARGUMENT", "BAD_INPUT"),
        ("Classify on the echo model", "Classify", pb.ClassifyRequest(image=bytes(3072)), "UNIMPLEMENTED",
         "UNSUPPORTED_OP"),
        ("Generate on the echo model", "Generate", pb.GenerateRequest(prompt="p"), "UNIMPLEMENTED", "UNSUPPORTED_OP"),
        ("GenerateStream on the echo model", "GenerateStream", pb.GenerateRequest(prompt="p"), "UNIMPLEMENTED",
         "UNSUPPORTED_OP"),
        ("Generate with negative top_k", "Generate", pb.GenerateRequest(prompt="p", top_k=-1), "INVALID_ARGUMENT",
         "BAD_INPUT"),
        ("bytes that are no EchoRequest", "Echo", b"\xff\xff\xff", "INVALID_ARGUMENT", "BAD_INPUT"),
        ("unknown method", "Nope", b"", "UNIMPLEMENTED", None),
        ("message over the size limit", "Echo", pb.EchoRequest(payload=bytes(LIMIT + 1)), "RESOURCE_EXHAUSTED", None),
    ],
)
def test_bad_requests_get_a_status_and_the_sidecar_serves_on(
    echo_sidecar: RunningSidecar, case: str, method: str, request_: Any, status: str, code: str | None
) -> None:
    got = failure(echo_sidecar.address, method, request_, send_limit=4 * LIMIT)
    assert got == (grpc.StatusCode[status], code), case
    echo_ok(echo_sidecar.address)


@pytest.mark.parametrize(
    ("case", "wire"),
    [
        ("garbage instead of the HTTP/2 preface", os.urandom(300)),
        ("preface then a truncated frame", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x06\x04\x00"),
        ("preface then a frame of garbage", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(200)),
    ],
)
def test_raw_socket_abuse(echo_sidecar: RunningSidecar, case: str, wire: bytes) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(echo_sidecar.address[len("unix:"):])
        sock.sendall(wire)  # then hang up mid-conversation
    echo_ok(echo_sidecar.address)


def test_cancelled_mid_request(echo_sidecar: RunningSidecar) -> None:
    with grpc.insecure_channel(target(echo_sidecar.address)) as channel:
        echo = channel.unary_unary("/sidecar.v1.Sidecar/Echo")
        echo.future(pb.EchoRequest(payload=bytes(LIMIT // 2)).SerializeToString()).cancel()
    echo_ok(echo_sidecar.address)


def test_classify_replies(fake_sidecar: RunningSidecar) -> None:
    one = call(fake_sidecar.address, "Classify", pb.ClassifyRequest(image=bytes(3072)), pb.ClassifyReply)
    assert (one.label, one.compute_ns, one.class_name) == (7, 5_000_000_000, "class7")
    batch = call(fake_sidecar.address, "ClassifyBatch", pb.ClassifyBatchRequest(images=bytes(3 * 3072)),
                 pb.ClassifyBatchReply)
    assert (batch.labels, batch.compute_ns) == (bytes([7, 8, 9]), 5_000_000_000)


def test_generate_whole_and_streamed(fake_sidecar: RunningSidecar) -> None:
    request = pb.GenerateRequest(prompt="four", top_k=3, temperature=0.5)
    whole = call(fake_sidecar.address, "Generate", request, pb.GenerateReply)
    assert whole.response == "hello"
    stats = whole.stats
    assert (stats.prompt_tokens, stats.output_tokens, stats.decode_ns, stats.ttft_ns, stats.finish_reason) == (
        4, 3, 2**40, 5, "length")
    assert not stats.HasField("prefill_ns")
    chunks = call(fake_sidecar.address, "GenerateStream", request, pb.GenerateChunk)
    assert [(c.text, c.done) for c in chunks] == [("he", False), ("llo", False), ("", True)]
    assert chunks[-1].stats == stats


def test_a_failing_model_is_internal_with_its_code(fake_sidecar: RunningSidecar) -> None:
    for method in ("Generate", "GenerateStream"):
        got = failure(fake_sidecar.address, method, pb.GenerateRequest(prompt="fail"))
        assert got == (grpc.StatusCode.INTERNAL, "MODEL_ERROR")


@pytest.mark.parametrize("server", SERVERS)
def test_tcp_port_zero_and_sigterm(server: str, tmp_path: Path) -> None:
    sidecar = start_sidecar("--transport", "grpc", "--grpc-server", server, "--listen", "tcp:127.0.0.1:0")
    try:
        assert int(sidecar.address.rsplit(":", 1)[1]) > 0
        echo_ok(sidecar.address)
    finally:
        assert sidecar.stop() == 0
    path = tmp_path / "t.sock"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(path))  # a stale socket from a crashed run must not stop the bind
    leftover.close()
    sidecar = start_sidecar("--transport", "grpc", "--grpc-server", server, "--listen", f"unix:{path}")
    with grpc.insecure_channel(target(sidecar.address)) as held:  # an open connection must not block shutdown
        grpc.channel_ready_future(held).result(timeout=5)
        sidecar.proc.send_signal(signal.SIGINT)
        assert sidecar.proc.wait(timeout=10) == 0
    assert not path.exists()


if __name__ == "__main__":
    _serve_fake(sys.argv[1], sys.argv[2])
