"""The least a grpcio server can do for one unary echo: `/sidecar.v1.Sidecar/Echo` as a generic
handler with no (de)serialiser, which returns the request's bytes (EchoRequest and EchoReply are
both `bytes payload = 1`, so the bytes are a valid reply). No budget, no metadata, no model: what
is left is grpcio's own server path. transports/bench/grpc-clients.bench.ts measures it beside our
sidecar (BARE=1).

Usage: python scripts/bench/bare_grpcio_server.py unix:/path.sock|tcp:127.0.0.1:0 [thread|aio|aio-uvloop] [MAX_BYTES]
The server API as the sidecar's `--grpc-server`, and its message limits (sidecars/frontends/
grpc_server.server_options). Prints one JSON ready line with the address it listens on, then
serves until SIGTERM.
"""
from __future__ import annotations

import asyncio
import json
import signal
import sys
from concurrent import futures

import grpc

SERVICE, METHOD = "sidecar.v1.Sidecar", "Echo"
MAX_BYTES = int(sys.argv[3]) if len(sys.argv) > 3 else 64 * 1024 * 1024
OPTIONS = [("grpc.max_send_message_length", MAX_BYTES), ("grpc.max_receive_message_length", MAX_BYTES), ("grpc.so_reuseport", 0)]


def ready(address: str, port: int) -> None:
    listen = address if address.startswith("unix:") else f"tcp:127.0.0.1:{port}"
    print(json.dumps({"event": "ready", "listen": listen}), flush=True)


def serve_thread(address: str) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=OPTIONS)
    handler = grpc.unary_unary_rpc_method_handler(lambda request, _context: request)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler}),))
    port = server.add_insecure_port(address.replace("tcp:", "", 1))
    server.start()
    ready(address, port)
    signal.signal(signal.SIGTERM, lambda *_: server.stop(0))
    server.wait_for_termination()


async def serve_aio(address: str) -> None:
    async def echo(request: bytes, _context: object) -> bytes:
        return request

    server = grpc.aio.server(options=OPTIONS)
    handler = grpc.unary_unary_rpc_method_handler(echo)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler}),))
    port = server.add_insecure_port(address.replace("tcp:", "", 1))
    await server.start()
    ready(address, port)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(server.stop(0)))
    await server.wait_for_termination()


if __name__ == "__main__":
    where, kind = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "thread")
    if kind == "thread":
        serve_thread(where)
    elif kind == "aio":
        asyncio.run(serve_aio(where))
    else:
        import uvloop

        uvloop.install()
        asyncio.run(serve_aio(where))
