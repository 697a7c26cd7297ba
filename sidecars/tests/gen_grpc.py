"""The grpc generation client of gen_wires.py (grpcio, raw request bytes so that a prompt may
carry what protobuf would refuse to serialize)."""
from __future__ import annotations

from typing import Any

import grpc

from sidecars.frontends.grpc_server import ERROR_KEY, load_messages

TIMEOUT_S = 20.0
Outcome = tuple[str | None, dict[str, Any]]  # (error code or None, the reply)

pb = load_messages()
# A client that grants little HTTP/2 window and never grows it: a stream it does not read fills
# up after a few kilobytes, as a client that stops reading does with any window in the end.
SMALL_WINDOW = [("grpc.http2.lookahead_bytes", 1024), ("grpc.http2.bdp_probe", 0)]


def grpc_request(fields: dict[str, Any]) -> bytes:
    """GenerateRequest bytes; a prompt with a lone surrogate goes in as its invalid UTF-8 bytes."""
    raw = fields["prompt"].encode("utf-8", "surrogatepass")
    placeholder = "\x01" * len(raw)
    message = pb.GenerateRequest(**{**fields, "prompt": placeholder}).SerializeToString()
    return message.replace(placeholder.encode(), raw, 1)


def grpc_code(error: Any) -> str:
    return dict(error.trailing_metadata() or ()).get(ERROR_KEY) or f"grpc {error.code().name}"


class GrpcClient:
    def __init__(self, address: str) -> None:
        self.address = address

    def _method(self, channel: grpc.Channel, name: str) -> Any:
        make = channel.unary_stream if name == "GenerateStream" else channel.unary_unary
        return make(f"/sidecar.v1.Sidecar/{name}", None, None)

    def generate(self, fields: dict[str, Any]) -> Outcome:
        with grpc.insecure_channel(self.address) as channel:
            try:
                reply = pb.GenerateReply.FromString(self._method(channel, "Generate")(grpc_request(fields),
                                                                                       timeout=TIMEOUT_S))
            except grpc.RpcError as error:
                return grpc_code(error), {}
        return None, {"response": reply.response, "stats": {"output_tokens": reply.stats.output_tokens}}

    def open_stream(self, fields: dict[str, Any]) -> GrpcStream:
        channel = grpc.insecure_channel(self.address, options=SMALL_WINDOW)
        return GrpcStream(channel, self._method(channel, "GenerateStream")(grpc_request(fields), timeout=60))

    def send_unary(self, fields: dict[str, Any]) -> Any:
        channel = grpc.insecure_channel(self.address)
        future = self._method(channel, "Generate").future(grpc_request(fields), timeout=60)
        return GrpcUnary(channel, future)

    def echo(self, payload: bytes) -> None:
        with grpc.insecure_channel(self.address) as channel:
            request = pb.EchoRequest(payload=payload).SerializeToString()
            reply = self._method(channel, "Echo")(request, timeout=TIMEOUT_S)
        assert pb.EchoReply.FromString(reply).payload == payload


class GrpcStream:
    def __init__(self, channel: grpc.Channel, call: Any) -> None:
        self.channel, self.call = channel, call

    def finish(self) -> tuple[list[str], str | None]:
        texts: list[str] = []
        try:
            for raw in self.call:
                chunk = pb.GenerateChunk.FromString(raw)
                if chunk.done:
                    return texts, None
                texts.append(chunk.text)
        except grpc.RpcError as error:
            return texts, grpc_code(error)
        return texts, None

    def close(self) -> None:
        self.channel.close()


class GrpcUnary:
    def __init__(self, channel: grpc.Channel, future: Any) -> None:
        self.channel, self.future = channel, future

    def close(self) -> None:
        self.channel.close()  # the client goes away: the call is cancelled
