"""The `grpc` wire: service `sidecar.v1.Sidecar` from sidecars/proto/sidecar.proto (docs/protocol.md),
and on the same server the Open Inference Protocol's `inference.GRPCInferenceService` (oip_grpc.py).

The .proto is compiled at start-up (grpc_tools), so no generated code is kept. Two servers sit
behind `--grpc-server`: `aio` (grpc.aio on one event loop; blocking core calls go to a thread pool),
`aio-uvloop` (the same on uvloop's event loop) and `thread` (grpc.server on a thread pool). Errors are statuses with the stable sidecar code in
the trailing metadata key `sidecar-error-code`. Both servers live in this one file, over the
soft size limit, so that they share `GrpcOps` and stay in step.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

import grpc

from ..address import Address, ListenError, numeric_host, remove_stale_socket
from ..cores.base import IMAGE_BYTES, Core, GenerateEvent, GenerateRequest, check_image_batch
from ..errors import SidecarError, to_sidecar_error
from ..ops import MAX_BATCH_IMAGES, close_events, generate_request, start_generation
from .framing import DEFAULT_MAX_FRAME_BYTES
from .grpc_budget import DEFAULT_INFLIGHT_BYTES, INFLIGHT_CALLS, InflightBudget, budget_aio, budget_thread
from .oip_rest import UnknownModel

PROTO = "sidecars/proto/sidecar.proto"  # relative to the repository root, which must be on sys.path
ERROR_KEY = "sidecar-error-code"
GRACE_S = 2.0
WORKERS = 8
# Measured against the TS client on 2 cores (3072-byte echo, interleaved runs): the thread server's
# p50 was 3-7% lower than aio's and its p90 clearly lower, over unix and tcp alike.
DEFAULT_SERVER = "thread"
SERVERS = ("thread", "aio", "aio-uvloop")  # aio-uvloop: the aio server on uvloop's event loop
STATUS = {
    "BAD_INPUT": grpc.StatusCode.INVALID_ARGUMENT,
    "UNSUPPORTED_OP": grpc.StatusCode.UNIMPLEMENTED,
    "UNKNOWN_TYPE": grpc.StatusCode.UNIMPLEMENTED,
    "FRAME_TOO_LARGE": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "TIMEOUT": grpc.StatusCode.DEADLINE_EXCEEDED,
    "OVERLOADED": grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_OPTIONAL_FIELDS = ("sampling_steps", "temperature", "top_k", "top_p", "seed")
_STAT_INTS = ("prompt_tokens", "output_tokens", "prefill_ns", "decode_ns", "ttft_ns")


def load_messages(proto: str = PROTO) -> Any:
    """The message module compiled from `proto` (on first use; later calls get the same module)."""
    # grpc_tools resolves the .proto against sys.path, like an import.
    root = str(Path(__file__).resolve().parents[2])
    if not any(os.path.abspath(entry or ".") == root for entry in sys.path):
        sys.path.append(root)
    return grpc.protos(proto)


class GrpcOps:
    """Request bytes in, core call, proto message out: the logic both servers share (blocking).

    Requests arrive undecoded so that bytes which do not parse are answered as BAD_INPUT, with the
    error code, rather than as grpc's own status for a failed deserializer.
    """

    def __init__(self, core: Core, pb: Any) -> None:
        self.core = core
        self.pb = pb
        self._names: list[str] | None = None

    def echo(self, raw: bytes) -> Any:
        return self.pb.EchoReply(payload=self.core.echo(_parse(self.pb.EchoRequest, raw).payload))

    def classify(self, raw: bytes) -> Any:
        image = _parse(self.pb.ClassifyRequest, raw).image
        if len(image) != IMAGE_BYTES:
            raise SidecarError("BAD_INPUT", f"Expected a {IMAGE_BYTES}-byte image, got {len(image)} bytes")
        result = self.core.classify(image)
        label = result.labels[0]
        return self.pb.ClassifyReply(label=label, compute_ns=result.compute_ns, class_name=self._class_name(label))

    def classify_batch(self, raw: bytes) -> Any:
        images = _parse(self.pb.ClassifyBatchRequest, raw).images
        check_image_batch(images, MAX_BATCH_IMAGES)
        result = self.core.classify(images)
        return self.pb.ClassifyBatchReply(labels=bytes(result.labels), compute_ns=result.compute_ns)

    def generate_request(self, raw: bytes) -> GenerateRequest:
        request = _parse(self.pb.GenerateRequest, raw)
        fields: dict[str, Any] = {"prompt": request.prompt}
        for name in _OPTIONAL_FIELDS:
            if request.HasField(name):
                fields[name] = getattr(request, name)
        return generate_request(fields)

    def start_generate(self, raw: bytes, gone: Callable[[], bool] | None = None) -> Iterator[GenerateEvent]:
        """The generation's events (close them when done); `gone` cancels it once the call is over."""
        return start_generation(self.core, self.generate_request(raw), gone)

    def reply(self, events: Iterator[GenerateEvent]) -> Any:
        """A unary Generate's reply: every event taken."""
        text: list[str] = []
        stats: dict[str, Any] = {}
        for event in events:
            text.append(event.text)
            if event.done:
                stats = event.stats
        return self.pb.GenerateReply(response="".join(text), stats=self.stats(stats))

    def chunk(self, event: GenerateEvent) -> Any:
        if event.done:
            return self.pb.GenerateChunk(text=event.text, done=True, stats=self.stats(event.stats))
        return self.pb.GenerateChunk(text=event.text)

    def last_chunk(self) -> Any:
        """Ends a stream whose core stopped without a done event, so the client still sees done."""
        return self.pb.GenerateChunk(done=True, stats=self.pb.GenerateStats())

    def stats(self, stats: dict[str, Any]) -> Any:
        fields: dict[str, Any] = {name: int(stats[name]) for name in _STAT_INTS if stats.get(name) is not None}
        if stats.get("finish_reason") is not None:
            fields["finish_reason"] = str(stats["finish_reason"])
        return self.pb.GenerateStats(**fields)

    def _class_name(self, label: int) -> str:
        if self._names is None:
            try:
                self._names = list(self.core.class_names())
            except SidecarError:
                self._names = []
        return self._names[label] if label < len(self._names) else ""


def _parse(message_type: Any, raw: bytes) -> Any:
    try:
        return message_type.FromString(raw)
    except Exception as exc:  # protobuf's DecodeError and friends
        name = message_type.DESCRIPTOR.full_name
        raise SidecarError("BAD_INPUT", f"Expected a {name} message, got {len(raw)} bytes that do not parse") from exc


def handlers(behaviours: dict[str, Callable[..., Any]], pb: Any) -> grpc.GenericRpcHandler:
    """The service's method handlers, one per rpc of the .proto (a missing one fails at start-up)."""
    service = pb.DESCRIPTOR.services_by_name["Sidecar"]
    methods: dict[str, grpc.RpcMethodHandler] = {}
    for method in service.methods:
        make = grpc.unary_stream_rpc_method_handler if method.server_streaming else grpc.unary_unary_rpc_method_handler
        methods[method.name] = make(behaviours[method.name], response_serializer=_serialize)
    return grpc.method_handlers_generic_handler(service.full_name, methods)


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str], ...]]:
    error = to_sidecar_error(exc)
    # An unknown model is NOT_FOUND, as OIP servers answer it; other UNKNOWN_TYPEs are unknown methods.
    status = STATUS.get(error.code, grpc.StatusCode.INTERNAL)
    if isinstance(error, UnknownModel):
        status = grpc.StatusCode.NOT_FOUND
    return status, error.message, ((ERROR_KEY, error.code),)


def _unary_ops(ops: GrpcOps) -> dict[str, Callable[[bytes], Any]]:
    return {"Echo": ops.echo, "Classify": ops.classify, "ClassifyBatch": ops.classify_batch}


def thread_unary(op: Callable[[bytes], Any]) -> Callable[[bytes, grpc.ServicerContext], Any]:
    """A grpc.server handler for a unary op (request bytes -> reply): a failure becomes its status."""
    def handle(raw: bytes, context: grpc.ServicerContext) -> Any:
        try:
            return op(raw)
        except Exception as exc:  # a bad request is answered, never fatal to the sidecar
            _abort(context, exc)

    return handle


def aio_unary(op: Callable[[bytes], Any], pool: futures.Executor, inline: bool) -> Callable[[bytes, grpc.aio.ServicerContext], Any]:
    """A grpc.aio handler for a unary op: on `pool` unless `inline` (cheap, cannot block the loop)."""
    async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            return op(raw) if inline else await asyncio.get_running_loop().run_in_executor(pool, op, raw)
        except Exception as exc:  # a bad request is answered, never fatal to the sidecar
            failure = exc
        code, message, trailing = status_of(failure)
        await context.abort(code, message, trailing_metadata=trailing)

    return handle


def thread_behaviours(ops: GrpcOps) -> dict[str, Callable[..., Any]]:
    """For grpc.server: every handler runs on a pool thread, so blocking core calls are fine."""

    # A generation stops between model steps once its call is over (the client cancelled or left).
    def generate(raw: bytes, context: grpc.ServicerContext) -> Any:
        try:
            events = ops.start_generate(raw, lambda: not context.is_active())
            try:
                return ops.reply(events)
            finally:
                close_events(events)
        except Exception as exc:  # a bad request is answered, never fatal to the sidecar
            _abort(context, exc)

    def stream(raw: bytes, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            done = False
            events = ops.start_generate(raw, lambda: not context.is_active())
            try:
                for event in events:
                    if event.text or event.done:
                        yield ops.chunk(event)
                    done = done or event.done
            finally:
                close_events(events)
            if not done:
                yield ops.last_chunk()
        except Exception as exc:  # a bad request is answered, never fatal to the sidecar
            _abort(context, exc)

    unaries = {name: thread_unary(op) for name, op in _unary_ops(ops).items()}
    return {**unaries, "Generate": generate, "GenerateStream": stream}


def _abort(context: grpc.ServicerContext, exc: BaseException) -> None:
    code, message, trailing = status_of(exc)
    context.set_trailing_metadata(trailing)
    context.abort(code, message)


async def _abort_aio(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    code, message, trailing = status_of(exc)
    await context.abort(code, message, trailing_metadata=trailing)


_END = GenerateEvent(text="")  # the sentinel `next` returns once the core's iterator is exhausted


def aio_behaviours(ops: GrpcOps, pool: futures.Executor) -> dict[str, Callable[..., Any]]:
    """For grpc.aio: blocking core calls go to `pool`; echo stays on the loop when it cannot block."""

    # A call the client cancels or leaves is cancelled here (CancelledError at an await), and the
    # `finally` that closes the events stops its generation between model steps.
    async def generate(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        loop = asyncio.get_running_loop()
        try:
            events = iter(await loop.run_in_executor(pool, ops.start_generate, raw))
            try:
                return await loop.run_in_executor(pool, ops.reply, events)
            finally:
                close_events(events)
        except Exception as exc:  # a bad request is answered, never fatal to the sidecar
            failure = exc
        code, message, trailing = status_of(failure)
        await context.abort(code, message, trailing_metadata=trailing)

    async def stream(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        loop = asyncio.get_running_loop()
        failure: Exception | None = None
        try:
            events = iter(await loop.run_in_executor(pool, ops.start_generate, raw))
            done = False
            try:
                while (event := await loop.run_in_executor(pool, next, events, _END)) is not _END:
                    if event.text or event.done:
                        yield ops.chunk(event)
                    done = done or event.done
            finally:
                close_events(events)
            if not done:
                yield ops.last_chunk()
        except Exception as exc:  # a bad request is answered, never fatal to the sidecar
            failure = exc
        if failure is not None:
            code, message, trailing = status_of(failure)
            await context.abort(code, message, trailing_metadata=trailing)

    inline_echo = type(ops.core).echo is Core.echo  # the base echo returns its input: nothing to block on
    behaviours = {name: aio_unary(op, pool, inline_echo and name == "Echo") for name, op in _unary_ops(ops).items()}
    return {**behaviours, "Generate": generate, "GenerateStream": stream}


def server_options(max_bytes: int) -> list[tuple[str, int]]:
    # so_reuseport off: a second sidecar on the same explicit port must fail, not share it.
    return [
        ("grpc.max_send_message_length", max_bytes),
        ("grpc.max_receive_message_length", max_bytes),
        ("grpc.so_reuseport", 0),
    ]


def bind(server: Any, address: Address) -> Address:
    """Add the listening port; returns the address actually bound (the real port for port 0).

    TCP binds exactly the address the stream front-ends bind for the same host: gRPC would bind
    every address a name resolves to, and [::] (IPv6 too) for 0.0.0.0, which it cannot bind alone.
    """
    if address.family == "unix":
        remove_stale_socket(address.path)
        previous = os.umask(0o177)  # the socket file is created 0600
        try:
            server.add_insecure_port(f"unix:{address.path}")
        finally:
            os.umask(previous)
        return address
    ip = numeric_host(address.host)
    if ip == "0.0.0.0":
        raise ListenError(f"Expected a gRPC `--listen` host other than 0.0.0.0, got {str(address)!r}: gRPC listens on "
                          "[::] (IPv6 too) for it; give one address, or tcp:[::]:PORT for every IPv4 and IPv6 address")
    host = f"[{ip}]" if ":" in ip else ip
    port = server.add_insecure_port(f"{host}:{address.port}")
    if not port:
        raise OSError(f"gRPC could not bind tcp:{host}:{address.port}")
    return Address("tcp", host=address.host, port=port)


def _after_start(bound: Address) -> None:
    if bound.family == "unix" and os.path.exists(bound.path):
        os.chmod(bound.path, 0o600)


def _cleanup(bound: Address) -> None:
    if bound.family == "unix" and os.path.exists(bound.path):
        os.unlink(bound.path)


OnReady = Callable[[Address], None]


def serve_thread(ops: GrpcOps, address: Address, max_bytes: int, on_ready: OnReady,
                 budget: InflightBudget | None = None) -> None:
    budget = budget or InflightBudget()
    pool = futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="grpc")
    # maximum_concurrent_rpcs bounds the calls queued for the pool, which the budget (counted from
    # a handler's start) does not see; grpc refuses past it with RESOURCE_EXHAUSTED of its own.
    server = grpc.server(pool, options=server_options(max_bytes), maximum_concurrent_rpcs=INFLIGHT_CALLS)
    from . import oip_grpc  # it builds on this module's helpers

    server.add_generic_rpc_handlers((handlers(budget_thread(thread_behaviours(ops), budget, _abort), ops.pb),
                                     oip_grpc.thread_handler(ops.core, budget)))
    bound = bind(server, address)
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda _signum, _frame: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        _after_start(bound)
        on_ready(bound)
        stop.wait()
    finally:
        server.stop(GRACE_S).wait()
        pool.shutdown(wait=False)
        for s, handler in previous.items():
            signal.signal(s, handler)
        _cleanup(bound)


async def serve_aio(ops: GrpcOps, address: Address, max_bytes: int, on_ready: OnReady,
                    budget: InflightBudget | None = None) -> None:
    budget = budget or InflightBudget()
    pool = futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="core")
    server = grpc.aio.server(options=server_options(max_bytes), maximum_concurrent_rpcs=INFLIGHT_CALLS)
    from . import oip_grpc  # it builds on this module's helpers

    server.add_generic_rpc_handlers((handlers(budget_aio(aio_behaviours(ops, pool), budget, _abort_aio), ops.pb),
                                     oip_grpc.aio_handler(ops.core, budget, pool)))
    bound = bind(server, address)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    try:
        await server.start()
        _after_start(bound)
        on_ready(bound)
        await stop.wait()
    finally:
        await server.stop(GRACE_S)
        pool.shutdown(wait=False)
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(s)
        _cleanup(bound)


def serve(core: Core, address: Address, options: dict[str, Any], on_ready: OnReady) -> None:
    ops = GrpcOps(core, load_messages())
    max_bytes = int(options.get("max_frame_bytes") or DEFAULT_MAX_FRAME_BYTES)
    budget = InflightBudget(int(options.get("max_inflight_bytes") or DEFAULT_INFLIGHT_BYTES))
    server = options.get("grpc_server") or DEFAULT_SERVER
    if server not in SERVERS:
        raise ValueError(f"Expected `grpc_server` to be one of {list(SERVERS)}, got {server!r}")
    if server == "aio-uvloop":
        import uvloop  # only where chosen: the other servers need no uvloop installed

        # grpc.aio polls its completion queue from a thread of its own and wakes whichever loop
        # runs it, so the same server runs unchanged on uvloop's loop.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve_aio(ops, address, max_bytes, on_ready, budget))
    elif server == "aio":
        asyncio.run(serve_aio(ops, address, max_bytes, on_ready, budget))
    else:
        serve_thread(ops, address, max_bytes, on_ready, budget)
