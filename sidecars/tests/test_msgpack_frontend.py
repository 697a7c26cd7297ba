"""The msgpack front-end: its codec on a fake core, then every bad input on a real sidecar and socket.

After each bad input, a good request on a new connection must still be answered.
"""
from __future__ import annotations

import random
import socket
import struct
from pathlib import Path
from typing import Any, Iterator

import msgpack
import pytest

from sidecars.cores.base import ClassifyResult, Core, GenerateEvent, GenerateRequest
from sidecars.errors import SidecarError
from sidecars.frontends.msgpack_codec import MsgpackSession, bin_header

from .conftest import RunningSidecar, start_sidecar
from .wire import connect, is_closed, read_frame


def frame(value: Any) -> bytes:
    body = msgpack.packb(value)
    return struct.pack(">I", len(body)) + body


def reply(sock: socket.socket) -> dict[str, Any]:
    value = msgpack.unpackb(read_frame(sock))
    assert isinstance(value, dict)
    return value


def echo_ok(address: str, body: bytes = b"still alive", request_id: int = 1) -> None:
    with connect(address) as sock:
        sock.sendall(frame({"id": request_id, "op": "echo", "payload": body}))
        assert reply(sock) == {"id": request_id, "payload": body}


class FakeCore(Core):
    name = "fake"

    def classify(self, images: bytes) -> ClassifyResult:
        return ClassifyResult(bytes(i % 10 for i in range(len(images) // 3072)), compute_ns=5_000_000_000)

    def generate(self, request: GenerateRequest) -> Iterator[GenerateEvent]:
        if request.prompt == "fail":
            raise RuntimeError("the model broke")
        yield GenerateEvent("he")
        yield GenerateEvent("")
        yield GenerateEvent("llo")
        stats = {"prompt_tokens": 1, "output_tokens": 2, "finish_reason": "length", "top_k": request.top_k}
        yield GenerateEvent("", done=True, stats=stats)


def session_replies(message: Any, core: Core | None = None) -> list[dict[str, Any]]:
    sent: list[bytes] = []
    body = message if isinstance(message, bytes) else msgpack.packb(message)
    MsgpackSession(core or FakeCore()).on_frame(body, lambda frames: sent.append(b"".join(frames)))
    out = []
    for data in sent:
        (length,) = struct.unpack(">I", data[:4])
        assert length == len(data) - 4
        out.append(msgpack.unpackb(data[4:]))
    return out


@pytest.mark.parametrize("size", [0, 1, 255, 256, 65535, 65536, 70000, 1 << 20])
def test_echo_reply_is_plain_msgpack_at_every_bin_width(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    for request_id in (0, 127, 128, 65536, 2**32 - 1, 2**64 - 1):
        assert session_replies({"id": request_id, "op": "echo", "payload": payload}) == [
            {"id": request_id, "payload": payload}
        ]
    assert msgpack.unpackb(bin_header(size) + payload) == payload


def raw_replies(body: bytes, core: Core | None = None) -> list[bytes]:
    sent: list[bytes] = []
    MsgpackSession(core or FakeCore()).on_frame(body, lambda frames: sent.append(b"".join(frames)))
    return sent


@pytest.mark.parametrize("size", [0, 255, 256, 3072, 65536])
def test_the_echo_read_in_place_answers_byte_for_byte_as_the_general_path(size: int) -> None:
    # Our clients' key order (id, op, payload) is read in place; any other order goes through the
    # unpacker. Both must write the same reply, for every width of id and bin.
    payload = bytes(i % 253 for i in range(size))
    for request_id in (0, 127, 128, 256, 65536, 2**32 - 1, 2**64 - 1):
        in_place = raw_replies(msgpack.packb({"id": request_id, "op": "echo", "payload": payload}))
        general = raw_replies(msgpack.packb({"op": "echo", "payload": payload, "id": request_id}))
        assert in_place == general and len(in_place) == 1, request_id


@pytest.mark.parametrize(("case", "tail"), [("one byte more", b"\x00"), ("one byte short", None)])
def test_an_echo_frame_whose_bin_does_not_end_it_is_bad_input(case: str, tail: bytes | None) -> None:
    body = msgpack.packb({"id": 5, "op": "echo", "payload": bytes(300)})
    body = body + tail if tail is not None else body[:-1]
    [reply] = [msgpack.unpackb(r[4:]) for r in raw_replies(body)]
    assert reply["error"]["code"] == "BAD_INPUT", case


def test_an_echo_the_core_refuses_is_answered_with_its_id() -> None:
    class Refusing(FakeCore):
        def echo(self, payload: bytes) -> bytes:
            raise SidecarError("BAD_INPUT", "not this one")

    [reply] = [msgpack.unpackb(r[4:]) for r in raw_replies(msgpack.packb({"id": 300, "op": "echo", "payload": b"x"}), Refusing())]
    assert reply == {"id": 300, "error": {"code": "BAD_INPUT", "message": "not this one"}}


def test_an_echo_whose_reply_cannot_be_built_is_a_model_error_with_its_id() -> None:
    class Wrong(FakeCore):
        def echo(self, payload: bytes) -> bytes:
            return payload.decode("latin-1")  # type: ignore[return-value]  # not bytes

    for request in ({"id": 9, "op": "echo", "payload": b"abc"}, {"op": "echo", "id": 9, "payload": b"abc"}):  # read in place, and not
        [reply] = [msgpack.unpackb(r[4:]) for r in raw_replies(msgpack.packb(request), Wrong())]
        assert (reply["id"], reply["error"]["code"]) == (9, "MODEL_ERROR")


def test_classify_one_image_and_a_batch() -> None:
    assert session_replies({"id": 3, "op": "classify", "images": bytes(3072 * 3)}) == [
        {"id": 3, "labels": b"\x00\x01\x02", "compute_ns": 5_000_000_000}
    ]
    assert session_replies({"id": 4, "op": "classify", "images": bytes(3072)})[0]["labels"] == b"\x00"


def test_generate_whole_and_streamed() -> None:
    stats = {"prompt_tokens": 1, "output_tokens": 2, "finish_reason": "length", "top_k": 3}
    assert session_replies({"id": 5, "op": "generate", "prompt": "p", "top_k": 3}) == [
        {"id": 5, "response": "hello", "stats": stats}
    ]
    assert session_replies({"id": 6, "op": "generate", "prompt": "p", "top_k": 3, "stream": True}) == [
        {"id": 6, "token": "he"},
        {"id": 6, "token": "llo"},
        {"id": 6, "response": "hello", "stats": stats, "done": True},
    ]


@pytest.mark.parametrize(
    ("case", "message", "request_id", "code"),
    [
        ("invalid msgpack bytes", b"\xc1", None, "BAD_INPUT"),
        ("two values in one frame", msgpack.packb({"id": 1}) + b"\x01", None, "BAD_INPUT"),
        ("invalid UTF-8 in a string", b"\x81\xa2id\xa1\xff", None, "BAD_INPUT"),
        ("a non-map (array)", [1, "echo"], None, "BAD_INPUT"),
        ("map without id", {"op": "echo", "payload": b""}, None, "BAD_INPUT"),
        ("negative id", {"id": -1, "op": "echo", "payload": b""}, None, "BAD_INPUT"),
        ("boolean id", {"id": True, "op": "echo", "payload": b""}, None, "BAD_INPUT"),
        ("map without op", {"id": 9}, 9, "BAD_INPUT"),
        ("op not a string", {"id": 9, "op": 1}, 9, "BAD_INPUT"),
        ("unknown op", {"id": 9, "op": "dance"}, 9, "UNKNOWN_TYPE"),
        ("payload as a string", {"id": 9, "op": "echo", "payload": "text"}, 9, "BAD_INPUT"),
        ("images of 3071 bytes", {"id": 9, "op": "classify", "images": bytes(3071)}, 9, "BAD_INPUT"),
        ("no images", {"id": 9, "op": "classify", "images": b""}, 9, "BAD_INPUT"),
        ("too many images", {"id": 9, "op": "classify", "images": bytes(3072 * 4097)}, 9, "BAD_INPUT"),
        ("prompt not a string", {"id": 9, "op": "generate", "prompt": 5}, 9, "BAD_INPUT"),
        ("stream not a boolean", {"id": 9, "op": "generate", "prompt": "p", "stream": 1}, 9, "BAD_INPUT"),
        ("top_k negative", {"id": 9, "op": "generate", "prompt": "p", "top_k": -1}, 9, "BAD_INPUT"),
        ("the model raises", {"id": 9, "op": "generate", "prompt": "fail"}, 9, "MODEL_ERROR"),
    ],
)
def test_bad_requests_get_one_error_reply(case: str, message: Any, request_id: int | None, code: str) -> None:
    replies = session_replies(message)
    assert len(replies) == 1, case
    assert replies[0]["id"] == request_id, case
    assert replies[0]["error"]["code"] == code, case
    assert replies[0]["error"]["message"], case


def test_operations_the_core_lacks_are_unsupported() -> None:
    for message in ({"id": 1, "op": "classify", "images": bytes(3072)}, {"id": 2, "op": "generate", "prompt": "p"}):
        assert session_replies(message, Core())[0]["error"]["code"] == "UNSUPPORTED_OP"


def test_stream_error_names_no_id() -> None:
    last = MsgpackSession(FakeCore()).on_stream_error(SidecarError("FRAME_TOO_LARGE", "too big"))
    assert last is not None
    assert msgpack.unpackb(last[4:]) == {"id": None, "error": {"code": "FRAME_TOO_LARGE", "message": "too big"}}


# The same cases over a real socket: errors in sync keep the connection, the rest close it.


@pytest.fixture(scope="module")
def msgpack_unix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSidecar]:
    path = tmp_path_factory.mktemp("sock") / "m.sock"
    sidecar = start_sidecar("--model", "echo", "--transport", "msgpack", "--listen", f"unix:{path}",
                            "--max-frame-bytes", str(1024 * 1024))
    yield sidecar
    assert sidecar.stop() == 0


def test_ready_line_and_echo_fidelity(msgpack_unix: RunningSidecar) -> None:
    assert msgpack_unix.ready["transport"] == "msgpack"
    for size in (0, 1, 3072, 65536):
        echo_ok(msgpack_unix.address, bytes(i % 256 for i in range(size)))
    echo_ok(msgpack_unix.address, bytes(range(256)), request_id=2**32 - 1)


@pytest.mark.parametrize(
    ("case", "wire", "request_id", "code"),
    [
        ("invalid msgpack bytes", struct.pack(">I", 1) + b"\xc1", None, "BAD_INPUT"),
        ("a non-map (array)", frame([1, 2]), None, "BAD_INPUT"),
        ("empty frame", struct.pack(">I", 0), None, "BAD_INPUT"),
        ("map without id", frame({"op": "echo", "payload": b"x"}), None, "BAD_INPUT"),
        ("map without op", frame({"id": 4}), 4, "BAD_INPUT"),
        ("unknown op", frame({"id": 4, "op": "nope"}), 4, "UNKNOWN_TYPE"),
        ("payload as a string", frame({"id": 4, "op": "echo", "payload": "x"}), 4, "BAD_INPUT"),
        ("images of 3071 bytes", frame({"id": 4, "op": "classify", "images": bytes(3071)}), 4, "BAD_INPUT"),
        ("classify on the echo model", frame({"id": 4, "op": "classify", "images": bytes(3072)}), 4, "UNSUPPORTED_OP"),
        ("generate on the echo model", frame({"id": 4, "op": "generate", "prompt": "p"}), 4, "UNSUPPORTED_OP"),
    ],
)
def test_bad_input_in_sync_is_answered_and_the_connection_kept(
    msgpack_unix: RunningSidecar, case: str, wire: bytes, request_id: int | None, code: str
) -> None:
    with connect(msgpack_unix.address) as sock:
        sock.sendall(wire)
        answer = reply(sock)
        assert (answer["id"], answer["error"]["code"]) == (request_id, code), case
        sock.sendall(frame({"id": 5, "op": "echo", "payload": b"same connection"}))
        assert reply(sock) == {"id": 5, "payload": b"same connection"}
    echo_ok(msgpack_unix.address)


@pytest.mark.parametrize("declared", [1024 * 1024 + 1, 0xFFFFFFF0])
def test_length_over_the_limit_is_answered_then_closed(msgpack_unix: RunningSidecar, declared: int) -> None:
    with connect(msgpack_unix.address) as sock:
        sock.sendall(struct.pack(">I", declared))
        answer = reply(sock)
        assert (answer["id"], answer["error"]["code"]) == (None, "FRAME_TOO_LARGE")
        assert is_closed(sock)
    echo_ok(msgpack_unix.address)


def test_disconnect_mid_frame(msgpack_unix: RunningSidecar) -> None:
    whole = frame({"id": 1, "op": "echo", "payload": bytes(1000)})
    for cut in (1, 3, 4, 5, 20, len(whole) - 1):
        sock = connect(msgpack_unix.address)
        sock.sendall(whole[:cut])
        sock.close()
    echo_ok(msgpack_unix.address)


def test_random_garbage(msgpack_unix: RunningSidecar) -> None:
    rng = random.Random(11)
    for _ in range(20):
        with connect(msgpack_unix.address) as sock:
            sock.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 600))))
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):  # whatever it answers, it must end the conversation
                pass
    echo_ok(msgpack_unix.address)


def test_pipelined_requests_keep_their_ids(msgpack_unix: RunningSidecar) -> None:
    with connect(msgpack_unix.address) as sock:
        sock.sendall(b"".join(frame({"id": 100 + i, "op": "echo", "payload": bytes([i]) * i}) for i in range(30)))
        for i in range(30):
            assert reply(sock) == {"id": 100 + i, "payload": bytes([i]) * i}


def test_tcp_and_sigterm(tmp_path: Path) -> None:
    sidecar = start_sidecar("--transport", "msgpack", "--listen", "tcp:127.0.0.1:0")
    try:
        assert int(sidecar.address.rsplit(":", 1)[1]) > 0
        echo_ok(sidecar.address)
    finally:
        assert sidecar.stop() == 0
    path = tmp_path / "t.sock"
    sidecar = start_sidecar("--transport", "msgpack", "--listen", f"unix:{path}")
    held = connect(sidecar.address)  # an idle open connection must not block shutdown
    assert sidecar.stop() == 0
    assert not path.exists()
    held.close()
