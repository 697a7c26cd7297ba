"""Every http-json server stack (`--http-stack`), serving test cores over real sockets, for tests that
run the same cases on each stack: `python -m sidecars.tests.http_stacks STACK LISTEN CORE OPTIONS_JSON`
serves one of CORES (stand-ins whose behaviour a test can predict) and prints the ready line.
`exchange` is a raw HTTP/1.1 client: one request on a fresh connection, read to the close.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any, Callable, Iterator

from sidecars.address import Address, parse_address
from sidecars.cores.base import ClassifyResult, Core, GenerateEvent, GenerateRequest
from sidecars.cores.echo import EchoCore
from sidecars.frontends.http_json import HTTP_STACKS, serve

from .conftest import RunningSidecar, start_module
from .wire import dechunk

STACKS = list(HTTP_STACKS)
# What gunicorn, not our code, answers: a request it cannot parse gets its own HTML page.
OWN_PAGES = ("gunicorn-sync", "gunicorn-gthread")


class FakeCore(Core):
    """Classifies every image as its first byte mod 10 and generates the prompt's words."""

    name = "fake"

    def class_names(self) -> list[str]:
        return [f"class{i}" for i in range(10)]

    def classify(self, images: bytes) -> ClassifyResult:
        return ClassifyResult(bytes(images[i] % 10 for i in range(0, len(images), 3072)), 1234)

    def generate(self, request: GenerateRequest) -> Iterator[GenerateEvent]:
        words = request.prompt.split()
        for word in words:
            if word == "boom":
                raise RuntimeError("exploded mid-stream")
            yield GenerateEvent(word + " ")
        yield GenerateEvent("", done=True, stats={"output_tokens": len(words), "finish_reason": "length"})


class BrokenCore(Core):
    name = "broken"

    def echo(self, payload: bytes) -> bytes:
        raise RuntimeError("the model fell over")


class StepsCore(Core):
    """Answers with the sampling_steps it was asked for."""

    name = "steps"

    def generate(self, request: GenerateRequest) -> Iterator[GenerateEvent]:
        yield GenerateEvent(str(request.sampling_steps), done=True)


CORES: dict[str, Callable[[], Core]] = {"echo": lambda: EchoCore({}), "fake": FakeCore, "broken": BrokenCore,
                                        "steps": StepsCore}


def start_stack(stack: str, listen: str, core: str = "echo", **options: Any) -> RunningSidecar:
    started = start_module("sidecars.tests.http_stacks", stack, listen, core, json.dumps(options))
    started.ready["http_stack"] = stack
    return started


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def code(self) -> str:
        return str(self.json()["error"]["code"])

    def events(self) -> list[Any]:
        """The SSE events of a streamed reply."""
        return [json.loads(chunk[len(b"data: "):]) for chunk in self.body.split(b"\n\n") if chunk]


def exchange(address: str, method: str, path: str, body: bytes = b"", *headers: str, timeout: float = 10.0) -> Reply:
    """One request (`Connection: close`) on a fresh connection; the reply, read to the close, chunks joined."""
    head = [f"{method} {path} HTTP/1.1", "Host: sidecar", "Connection: close", *headers]
    if method != "GET" and not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head.append(f"Content-Length: {len(body)}")
    family, target = (socket.AF_UNIX, address[len("unix:"):]) if address.startswith("unix:") else (
        socket.AF_INET, (address[len("tcp:"):].rsplit(":", 1)[0], int(address.rsplit(":", 1)[1])))
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(target)
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        data = bytearray()
        while chunk := sock.recv(65536):
            data += chunk
    raw_head, _, payload = bytes(data).partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    if fields.get("transfer-encoding", "").lower() == "chunked":
        payload = dechunk(payload)
    return Reply(int(lines[0].split()[1]), fields, payload)


def main(stack: str, listen: str, core_name: str, options_json: str) -> None:
    core = CORES[core_name]()
    core.load()

    def on_ready(bound: Address) -> None:
        print(json.dumps({"event": "ready", "address": str(bound), "pid": os.getpid()}), flush=True)

    serve(core, parse_address(listen), {**json.loads(options_json), "http_stack": stack}, on_ready)


if __name__ == "__main__":
    main(*sys.argv[1:5])
