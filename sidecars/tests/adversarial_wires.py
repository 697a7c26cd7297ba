"""The sidecars and raw clients of test_adversarial.py: one real sidecar per (wire, model), started
on first use and kept for the module, and for each wire a way to send bytes on a fresh connection
and read back the stable code, and a correct request that proves the sidecar still serves.
"""
from __future__ import annotations

import base64
import json
import socket
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

import grpc
import msgpack

from sidecars import cifar_data
from sidecars.llm.paths import models_dir

from .conftest import RunningSidecar, start_sidecar
from .deaf_h2 import END_HEADERS, END_STREAM, HEADERS, PREFACE, RST_STREAM, SETTINGS, frame, request_headers
from .gen_grpc import GrpcClient, grpc_code, pb
from .gen_wires import Client, FramedClient, HttpClient, MsgpackClient
from .wire import children, connect, framed, read_frame, recv_exact, stream_frame

LIMIT = 1024 * 1024  # --max-frame-bytes of every sidecar here: oversized requests stay cheap
MAX_CONNECTIONS = 32  # framed, msgpack: small, so that a burst of refusals is quick
READ_TIMEOUT_S = 1.0  # http-json's read deadline
MODELS = models_dir()
TEST_BATCH = cifar_data.default_dir() / cifar_data.TEST_FILE
QUICK = {"prompt": "Tom", "sampling_steps": 8}  # a short greedy generation

WIRE_FLAGS: dict[str, list[str]] = {
    "framed": ["--transport", "framed", "--max-connections", str(MAX_CONNECTIONS)],
    "msgpack": ["--transport", "msgpack", "--max-connections", str(MAX_CONNECTIONS)],
    "http-sync": ["--transport", "http-json", "--http-stack", "gunicorn-sync", "--read-timeout-s", str(READ_TIMEOUT_S)],
    # --http-worker: the old spelling of --http-stack gunicorn-gthread, kept working
    "http-gthread": ["--transport", "http-json", "--http-worker", "gthread", "--read-timeout-s", str(READ_TIMEOUT_S)],
    "http-uvicorn": ["--transport", "http-json", "--http-stack", "uvicorn", "--read-timeout-s", str(READ_TIMEOUT_S)],
    "http-lean": ["--transport", "http-json", "--http-stack", "lean", "--read-timeout-s", str(READ_TIMEOUT_S)],
    "grpc-thread": ["--transport", "grpc", "--grpc-server", "thread"],
    "grpc-aio": ["--transport", "grpc", "--grpc-server", "aio"],
    "grpc-aio-uvloop": ["--transport", "grpc", "--grpc-server", "aio-uvloop"],
}
HTTP_WIRES = ["http-sync", "http-gthread", "http-uvicorn", "http-lean"]
MODEL_FLAGS: dict[str, list[str]] = {
    "echo": ["--model", "echo"],
    "cifar": ["--model", "cifar", "--device", "cpu", "--threads", "1"],
    # As test_generation_limits.py: stories260K runs for more than a thousand tokens on "Tom".
    "gemma": ["--model", "gemma", "--checkpoint", f"{MODELS}/stories260K.bin", "--device", "cpu", "--threads", "1",
              "--cache-size", "2048"],
}
CLIENTS: dict[str, Callable[[str], Client]] = {
    "framed": FramedClient, "msgpack": MsgpackClient, **{wire: HttpClient for wire in HTTP_WIRES},
    "grpc-thread": GrpcClient, "grpc-aio": GrpcClient, "grpc-aio-uvloop": GrpcClient,
}


def missing(model: str) -> str | None:
    """Why `model` cannot be served here, or None."""
    if model == "gemma" and MODELS is None:
        return "shared models directory not found (stories260K, tokenizers)"
    if model == "cifar" and not TEST_BATCH.is_file():
        return f"CIFAR-10 test batch not found at {TEST_BATCH} (its first image is the known-good request)"
    return None


def real_image() -> tuple[bytes, int]:
    """The test batch's first image (a cat, which the committed weights classify right) and its label."""
    labels, images = cifar_data.load_records(TEST_BATCH, limit=1)
    return images[0].tobytes(), int(labels[0])


@dataclass
class Served:
    wire: str
    model: str
    sidecar: RunningSidecar
    client: Client
    workers: list[int] = field(default_factory=list)
    reference: str = ""  # gemma: QUICK's greedy text, taken when it started

    @property
    def address(self) -> str:
        return self.sidecar.address

    @property
    def pids(self) -> list[int]:
        return [self.sidecar.proc.pid, *self.workers]


def serve(wire: str, model: str, sock_path: str) -> Served:
    sidecar = start_sidecar(*MODEL_FLAGS[model], *WIRE_FLAGS[wire], "--max-frame-bytes", str(LIMIT),
                            "--listen", f"unix:{sock_path}")
    served = Served(wire, model, sidecar, CLIENTS[wire](sidecar.address))
    if model == "gemma":
        code, reply = served.client.generate(QUICK)
        assert code is None and reply["response"], (code, reply)
        served.reference = reply["response"]
    else:
        still_serving(served)  # http-json: the forked worker is up once this is answered
    served.workers = sorted(children(sidecar.proc.pid)) if wire.startswith("http") else []
    return served


def still_serving(served: Served) -> None:
    """A correct request on a fresh connection is answered correctly, by the same processes."""
    assert served.sidecar.proc.poll() is None, f"the sidecar exited with {served.sidecar.proc.returncode}"
    if served.workers:  # gunicorn's master would replace a worker that died: that is a crash too
        assert sorted(children(served.sidecar.proc.pid)) == served.workers, "the http-json worker was replaced"
    if served.model == "echo":
        served.client.echo(b"still serving \x00\xff" + bytes(range(256)))
    elif served.model == "cifar":
        image, label = real_image()
        assert classify(served, image) == (label, cifar_data.DEFAULT_CLASS_NAMES[label])
    else:
        code, reply = served.client.generate(QUICK)
        assert (code, reply.get("response")) == (None, served.reference), reply


def classify(served: Served, image: bytes) -> tuple[int, str]:
    """(label, class name) of one image, on the served wire."""
    if served.wire == "framed":
        with connect(served.address) as sock:
            sock.sendall(framed(1, image))
            body = read_frame(sock)
        assert body[0] == 1, body[:200]
        name = body[1:].decode()
        return cifar_data.DEFAULT_CLASS_NAMES.index(name), name
    if served.wire == "msgpack":
        with connect(served.address) as sock:
            sock.sendall(stream_frame(msgpack.packb({"id": 9, "op": "classify", "images": image})))
            reply = msgpack.unpackb(read_frame(sock))
        assert "labels" in reply, reply  # an error reply (e.g. OVERLOADED while a slot frees) is a failed check
        label = reply["labels"][0]
        return label, cifar_data.DEFAULT_CLASS_NAMES[label]
    if served.wire.startswith("http"):
        status, body = http_exchange(served.address, post("/classify", json.dumps(
            {"image": base64.b64encode(image).decode()}).encode()))
        assert status == 200, body[:200]
        reply = json.loads(body)
        return reply["label"], reply["class"]
    with grpc.insecure_channel(served.address) as channel:
        raw = channel.unary_unary("/sidecar.v1.Sidecar/Classify")(
            pb.ClassifyRequest(image=image).SerializeToString(), timeout=10)
    reply = pb.ClassifyReply.FromString(raw)
    return reply.label, reply.class_name


# --- framed and msgpack ---------------------------------------------------------------------------


def stream_error(wire: str, body: bytes) -> tuple[Any, str]:
    """(the reply's id, None on framed; its error code) of an error reply."""
    if wire == "framed":
        assert body[0] == 255, f"expected an error frame, got type {body[0]}: {body[:200]!r}"
        return None, json.loads(body[1:])["code"]
    value = msgpack.unpackb(body)
    assert "error" in value, value
    return value["id"], value["error"]["code"]


def echo_on(wire: str, sock: socket.socket) -> None:
    """An echo on the same connection is answered: the stream is still in sync."""
    if wire == "framed":
        sock.sendall(framed(0, b"in sync"))
        assert read_frame(sock) == b"\x00in sync"
    else:
        sock.sendall(stream_frame(msgpack.packb({"id": 3, "op": "echo", "payload": b"in sync"})))
        assert msgpack.unpackb(read_frame(sock)) == {"id": 3, "payload": b"in sync"}


# --- http-json ------------------------------------------------------------------------------------
def post(path: str, body: bytes, *headers: str, method: str = "POST") -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: sidecar", "Connection: close", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def http_exchange(address: str, request: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send `request` on a fresh connection; the status and body of the reply, read to the close."""
    with connect(address, timeout) as sock:
        sock.sendall(request)
        data = bytearray()
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass  # a reply sent before the request was read whole, then a reset: the reply counts
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1."), f"no HTTP reply: {bytes(data[:200])!r}"
    return int(head.split(b" ", 2)[1]), body


def http_code(body: bytes) -> str | None:
    """The error object's code, or None for a body without one (gunicorn's own HTML page)."""
    try:
        return str(json.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


# --- grpc -----------------------------------------------------------------------------------------
def grpc_call(address: str, method: str, request: bytes) -> tuple[str, str | None]:
    """(status name, sidecar-error-code or None) of a call that must fail."""
    options = [("grpc.max_send_message_length", 4 * LIMIT)]
    with grpc.insecure_channel(address, options=options) as channel:
        try:
            channel.unary_unary(f"/sidecar.v1.Sidecar/{method}")(request, timeout=10)
        except grpc.RpcError as error:
            code = grpc_code(error)
            return error.code().name, None if code.startswith("grpc ") else code
    raise AssertionError(f"{method} succeeded")


def h2_call_ends(address: str, path: str, message: bytes) -> int:
    """Send one call on a raw HTTP/2 connection; the type of the frame that ended its stream
    (HEADERS with END_STREAM: a status in trailers; RST_STREAM), or -1 when the connection closed."""
    with connect(address, timeout=2.0) as sock:
        sock.sendall(PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, END_HEADERS, 1, request_headers(path))
                     + frame(0, END_STREAM, 1, message))
        try:
            while True:
                length, kind, flags, stream = struct.unpack(">IBBI", b"\x00" + recv_exact(sock, 9))
                recv_exact(sock, length)
                if stream == 1 and (kind == RST_STREAM or (kind == HEADERS and flags & END_STREAM)):
                    return kind
        except (ConnectionError, socket.timeout):
            return -1
