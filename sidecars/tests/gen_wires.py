"""Generation clients for every wire, for tests that treat the wires alike: plain sockets for
framed, msgpack and http-json (HTTP/1.1 by hand, `Connection: close`), grpcio for grpc (gen_grpc.py).

Each client can ask for a whole generation, open a stream and leave it unread, send a unary
request and hang up, and echo. A failed request comes back as its stable code, never raised.
"""
from __future__ import annotations

import json
import re
import socket
from typing import Any, Protocol

import msgpack

from .gen_grpc import TIMEOUT_S, GrpcClient, Outcome
from .wire import connect, dechunk, framed, read_frame, stream_frame



class Unread(Protocol):
    def finish(self) -> tuple[list[str], str | None]:
        """Read it all now: the streamed texts, and the error code it ended with (None: done)."""
        ...

    def close(self) -> None: ...


class Client(Protocol):
    def generate(self, fields: dict[str, Any]) -> Outcome: ...

    def open_stream(self, fields: dict[str, Any]) -> Unread: ...

    def send_unary(self, fields: dict[str, Any]) -> Any:
        """Send a whole-generation request and read nothing; the result has close()."""
        ...

    def echo(self, payload: bytes) -> None: ...


def surrogate_safe(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate as its (invalid) UTF-8 bytes


# --- framed -------------------------------------------------------------------------------------
class FramedClient:
    def __init__(self, address: str) -> None:
        self.address = address

    def _send(self, kind: int, fields: dict[str, Any]) -> socket.socket:
        sock = connect(self.address, TIMEOUT_S)
        sock.sendall(framed(kind, json.dumps(fields).encode()))
        return sock

    def generate(self, fields: dict[str, Any]) -> Outcome:
        with self._send(3, fields) as sock:
            body = read_frame(sock)
        reply = json.loads(body[1:])
        return (reply["code"], reply) if body[0] == 255 else (None, reply)

    def open_stream(self, fields: dict[str, Any]) -> Unread:
        return FramedStream(self._send(4, fields))

    def send_unary(self, fields: dict[str, Any]) -> Any:
        return self._send(3, fields)

    def echo(self, payload: bytes) -> None:
        with connect(self.address, TIMEOUT_S) as sock:
            sock.sendall(framed(0, payload))
            assert read_frame(sock) == b"\x00" + payload


class FramedStream:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def finish(self) -> tuple[list[str], str | None]:
        texts: list[str] = []
        while True:
            body = read_frame(self.sock)
            if body[0] == 5:
                texts.append(body[1:].decode())
            else:
                return texts, json.loads(body[1:])["code"] if body[0] == 255 else None

    def close(self) -> None:
        self.sock.close()


# --- msgpack ------------------------------------------------------------------------------------
def msgpack_frame(message: dict[str, Any]) -> bytes:
    prompt = message.get("prompt")
    if isinstance(prompt, str):  # msgpack will not pack a lone surrogate: put its bytes in by hand
        raw = surrogate_safe(prompt)
        placeholder = "\x01" * len(raw)
        body = msgpack.packb({**message, "prompt": placeholder}, use_bin_type=True)
        body = body.replace(msgpack.packb(placeholder), msgpack.packb(placeholder)[:-len(raw)] + raw, 1)
    else:
        body = msgpack.packb(message, use_bin_type=True)
    return stream_frame(body)


def msgpack_reply(sock: socket.socket) -> dict[str, Any]:
    return msgpack.unpackb(read_frame(sock), raw=False)


class MsgpackClient:
    def __init__(self, address: str) -> None:
        self.address = address

    def _send(self, fields: dict[str, Any], stream: bool) -> socket.socket:
        sock = connect(self.address, TIMEOUT_S)
        sock.sendall(msgpack_frame({"id": 1, "op": "generate", **fields, "stream": stream}))
        return sock

    def generate(self, fields: dict[str, Any]) -> Outcome:
        with self._send(fields, False) as sock:
            reply = msgpack_reply(sock)
        return (reply["error"]["code"], reply) if "error" in reply else (None, reply)

    def open_stream(self, fields: dict[str, Any]) -> Unread:
        return MsgpackStream(self._send(fields, True))

    def send_unary(self, fields: dict[str, Any]) -> Any:
        return self._send(fields, False)

    def echo(self, payload: bytes) -> None:
        with connect(self.address, TIMEOUT_S) as sock:
            sock.sendall(msgpack_frame({"id": 2, "op": "echo", "payload": payload}))
            assert msgpack_reply(sock) == {"id": 2, "payload": payload}


class MsgpackStream(FramedStream):
    def finish(self) -> tuple[list[str], str | None]:
        texts: list[str] = []
        while True:
            reply = msgpack_reply(self.sock)
            if "token" in reply:
                texts.append(reply["token"])
            else:
                return texts, reply["error"]["code"] if "error" in reply else None


# --- http-json ----------------------------------------------------------------------------------
def http_request(path: str, fields: dict[str, Any]) -> bytes:
    body = json.dumps(fields).encode()  # ensure_ascii: a lone surrogate travels as \ud800
    head = (f"POST {path} HTTP/1.1\r\nHost: sidecar\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


def http_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of the one response on a `Connection: close` socket (chunks joined)."""
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    return status, body


class HttpClient:
    def __init__(self, address: str) -> None:
        self.address = address

    def _send(self, path: str, fields: dict[str, Any]) -> socket.socket:
        sock = connect(self.address, TIMEOUT_S)
        sock.sendall(http_request(path, fields))
        return sock

    def generate(self, fields: dict[str, Any]) -> Outcome:
        with self._send("/prompt", fields) as sock:
            status, body = http_response(sock)
        reply = json.loads(body)
        return (None, reply) if status == 200 else (reply["error"]["code"], {"status": status, **reply})

    def open_stream(self, fields: dict[str, Any]) -> Unread:
        return HttpStream(self._send("/prompt", {**fields, "stream": True}))

    def send_unary(self, fields: dict[str, Any]) -> Any:
        return self._send("/prompt", fields)

    def echo(self, payload: bytes) -> None:
        text = payload.decode("latin-1")
        with self._send("/echo", {"prompt": text}) as sock:
            status, body = http_response(sock)
        assert (status, json.loads(body)) == (200, {"echo_prompt": text})


class HttpStream(FramedStream):
    def finish(self) -> tuple[list[str], str | None]:
        _status, body = http_response(self.sock)
        events = [json.loads(e) for e in re.findall(rb"data: (.*?)\n\n", body)]
        texts = [e["token"] for e in events if "token" in e]
        last = events[-1]
        return texts, last["error"]["code"] if "error" in last else None


WIRES: dict[str, tuple[list[str], type]] = {
    "framed": (["--transport", "framed"], FramedClient),
    "msgpack": (["--transport", "msgpack"], MsgpackClient),
    "http-json": (["--transport", "http-json"], HttpClient),
    "grpc-thread": (["--transport", "grpc", "--grpc-server", "thread"], GrpcClient),
    "grpc-aio": (["--transport", "grpc", "--grpc-server", "aio"], GrpcClient),
}
