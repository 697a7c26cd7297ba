"""What the `grpc` front-end holds for calls it has taken, bounded (docs/protocol.md, "Limits").

gRPC accepts every reply a handler returns and keeps it until the client's HTTP/2 window lets it
out; a client that stops reading (grants no window) makes the server hold every reply it asks for.
So a call counts from the moment its handler starts until gRPC ends it (the reply delivered, or
the call cancelled when the client goes), with the request and reply bytes it holds; over either
limit a new call is refused with OVERLOADED before anything is computed. After a peak of at least
three quarters of the budget, once no call is left, the memory is handed back (`release_memory`).
"""
from __future__ import annotations

import ctypes
import gc
import inspect
import logging
import sys
import threading
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

from ..errors import SidecarError

DEFAULT_INFLIGHT_BYTES = 128 * 1024 * 1024
INFLIGHT_CALLS = 1024
AIO_COPIES = 2  # see budget_aio

log = logging.getLogger("sidecars.grpc")


class Ticket:
    """One admitted call's share of the budget; `release` is idempotent."""

    def __init__(self, budget: InflightBudget, size: int) -> None:
        self.budget = budget
        self.size = size
        self.released = False

    def add(self, size: int) -> None:
        self.budget.add(self, size)

    def release(self, *_args: object) -> None:
        self.budget.release(self)


class InflightBudget:
    def __init__(self, max_bytes: int = DEFAULT_INFLIGHT_BYTES, max_calls: int = INFLIGHT_CALLS) -> None:
        self.max_bytes = max_bytes
        self.max_calls = max_calls
        self.bytes = 0
        self.calls = 0
        self._peak = 0  # the most bytes held since memory was last released
        self._lock = threading.Lock()

    def admit(self, size: int) -> Ticket | None:
        """A ticket for a new call of `size` request bytes, or None when over either limit."""
        with self._lock:
            if self.calls >= self.max_calls or self.bytes >= self.max_bytes:
                return None
            self.calls += 1
            self.bytes += size
            self._peak = max(self._peak, self.bytes)
            return Ticket(self, size)

    def refusal(self) -> SidecarError:
        return SidecarError(
            "OVERLOADED",
            f"Expected at most {self.max_calls} calls and {self.max_bytes} bytes in flight, got {self.calls} "
            f"calls holding {self.bytes} bytes (replies their clients have not read): try again later")

    def add(self, ticket: Ticket, size: int) -> None:
        with self._lock:
            if not ticket.released:
                ticket.size += size
                self.bytes += size
                self._peak = max(self._peak, self.bytes)

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket.released:
                return
            ticket.released = True
            self.calls -= 1
            self.bytes -= ticket.size
            drained = self.calls == 0 and self._peak >= self.max_bytes * 3 // 4
            if drained:
                self._peak = 0
        if drained:
            release_memory()


def release_memory() -> None:
    """Free what ended calls left behind and give it back to the system.

    A cancelled or aborted call's exception keeps its frames, and the request bytes they hold,
    alive in reference cycles until a full collection; and glibc keeps freed megabyte blocks in
    its heap once its mmap threshold has grown, until malloc_trim. Only after a large peak, so a
    benchmark's ordinary traffic never pays for it.
    """
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except (OSError, AttributeError) as exc:  # not glibc
            log.debug("malloc_trim unavailable: %s", exc)


def _size(message: Any) -> int:
    return int(message.ByteSize()) if message is not None else 0


def budget_thread(behaviours: dict[str, Callable[..., Any]], budget: InflightBudget,
                  refuse: Callable[[Any, SidecarError], None]) -> dict[str, Callable[..., Any]]:
    """grpc.server handlers counted against `budget`; `refuse(context, error)` aborts the call.

    A refused call drops its request bytes before it aborts: the abort's exception keeps the
    handler's frame alive (see release_memory), and with it anything the frame still holds.
    """

    def admit(size: int, context: Any) -> Ticket | None:
        ticket = budget.admit(size)
        if ticket is not None and not context.add_callback(ticket.release):  # the call has already ended
            ticket.release()
        return ticket

    def unary(behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def handle(raw: bytes, context: Any) -> Any:
            ticket = admit(len(raw), context)
            if ticket is None:
                del raw
                return refuse(context, budget.refusal())
            reply = behaviour(raw, context)
            ticket.add(_size(reply))
            return reply
        return handle

    def stream(behaviour: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def handle(raw: bytes, context: Any) -> Iterator[Any]:
            ticket = admit(len(raw), context)
            if ticket is None:
                del raw
                refuse(context, budget.refusal())
                return
            for chunk in behaviour(raw, context):
                ticket.add(_size(chunk))
                yield chunk
        return handle

    return {name: (stream if inspect.isgeneratorfunction(fn) else unary)(fn) for name, fn in behaviours.items()}


def budget_aio(behaviours: dict[str, Callable[..., Any]], budget: InflightBudget,
               refuse: Callable[[Any, SidecarError], Awaitable[None]]) -> dict[str, Callable[..., Any]]:
    """grpc.aio handlers counted against `budget`; `await refuse(context, error)` aborts the call.

    grpc.aio keeps a call's request and reply objects, and the reply's serialized copy, until the
    reply is sent (the thread server lets go of them once the handler returns): measured, a call
    held about twice what it does on the thread server, so it counts twice.
    """

    def admit(size: int, context: Any) -> Ticket | None:
        ticket = budget.admit(AIO_COPIES * size)
        if ticket is not None:
            context.add_done_callback(ticket.release)
        return ticket

    def unary(behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def handle(raw: bytes, context: Any) -> Any:
            ticket = admit(len(raw), context)
            if ticket is None:
                del raw
                return await refuse(context, budget.refusal())
            reply = await behaviour(raw, context)
            ticket.add(AIO_COPIES * _size(reply))
            return reply
        return handle

    def stream(behaviour: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def handle(raw: bytes, context: Any) -> AsyncIterator[Any]:
            ticket = admit(len(raw), context)
            if ticket is None:
                del raw
                await refuse(context, budget.refusal())
                return
            async for chunk in behaviour(raw, context):
                ticket.add(AIO_COPIES * _size(chunk))
                yield chunk
        return handle

    return {name: (stream if inspect.isasyncgenfunction(fn) else unary)(fn) for name, fn in behaviours.items()}
