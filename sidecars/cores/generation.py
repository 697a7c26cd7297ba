"""A generation decoupled from whoever reads it (docs/protocol.md, "Limits for generation").

The model steps on a producer thread of the generation's own and puts each event into a small
bounded queue; the front-end's thread takes events from it and sends them. So a client that stops
reading blocks only its own front-end thread, never the model:

- the producer holds the model lock while it computes and its queue has room (a client that
  keeps up has the model to itself from its first step to its last, as before);
- when the queue is full it lets go of the lock, so other requests are served, and waits for room;
- after `stall_timeout_s` of a full queue with nothing taken it gives up: the generation ends
  with TIMEOUT after the events already queued, and its KV cache is freed;
- it stops between steps once cancelled: the consumer closed it (or dropped it), or the `gone`
  check a front-end gives (`cancel_when`) says the client has left.
"""
from __future__ import annotations

import atexit
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from ..errors import SidecarError, to_sidecar_error
from .base import GenerateEvent

# Room for a client that reads a little late (a busy front-end thread, a slow hop through a pool) to
# never make its generation let go of the model mid-way: at 32, a reading client on a loaded 2-core
# machine could fall that far behind, and generations under concurrency then interleaved.
QUEUE_EVENTS = 256
POLL_S = 0.05  # how often a waiting producer looks at cancellation and the client
EXIT_JOIN_S = 10.0

# Producers still running, stopped and joined at exit: a daemon thread inside a torch op when the
# interpreter finalizes aborts the process ("terminate called without an active exception", exit
# 134), and a non-daemon one would hold the exit up for as long as a stalled client's timeout.
_running: dict[threading.Thread, _Producer] = {}
_running_lock = threading.Lock()


class _Producer:
    """The state the producer thread and the consumer share; only the thread refers to it strongly
    besides the consumer's handle, so dropping the handle can cancel the generation."""

    def __init__(self, steps: Iterator[GenerateEvent], lock: threading.Lock, stall_timeout_s: float,
                 capacity: int) -> None:
        self.steps = steps
        self.lock = lock
        self.stall_timeout_s = stall_timeout_s
        self.capacity = capacity
        self.cond = threading.Condition()
        self.events: deque[GenerateEvent] = deque()
        self.finished = False
        self.error: SidecarError | None = None
        self.cancelled: str | None = None
        self.gone: Callable[[], bool] | None = None

    def run(self) -> None:
        held = False
        try:
            while True:
                if not held:
                    held = self._acquire()
                    if not held:
                        return
                if self._stopping():
                    return
                event = next(self.steps, None)  # one model step, under the lock
                if event is None:
                    return
                if not self._offer(event):
                    self.lock.release()  # the client is behind: let others have the model meanwhile
                    held = False
                    if not self._wait_for_room():
                        return
                    self._offer(event)
        except Exception as exc:  # the model raised: the consumer gets it after what was queued
            self.finish(to_sidecar_error(exc))
        finally:
            try:
                self.steps.close()  # frees the KV cache now, not when the garbage collector gets to it
            finally:
                if held:
                    self.lock.release()
                self.finish(None)

    def cancel(self, reason: str) -> None:
        with self.cond:
            if self.cancelled is None:
                self.cancelled = reason
            self.cond.notify_all()

    def _stopping(self) -> bool:
        """Cancelled, or the client has left: then the generation ends here."""
        if self.cancelled is None and self.gone is not None and _left(self.gone):
            self.cancel("the client closed the connection")
        if self.cancelled is None:
            return False
        self.finish(SidecarError("INTERNAL", f"Generation cancelled: {self.cancelled}"))
        return True

    def _acquire(self) -> bool:
        while not self.lock.acquire(timeout=POLL_S):
            if self._stopping():
                return False
        return True

    def _offer(self, event: GenerateEvent) -> bool:
        with self.cond:
            if len(self.events) >= self.capacity:
                return False
            self.events.append(event)
            self.cond.notify_all()
            return True

    def _wait_for_room(self) -> bool:
        """Wait (without the model) until the consumer takes an event; False once the generation ends."""
        deadline = time.monotonic() + self.stall_timeout_s
        while not self._stopping():
            with self.cond:
                if len(self.events) < self.capacity:
                    return True
                left = deadline - time.monotonic()
                if left > 0:
                    self.cond.wait(min(left, POLL_S))
                    continue
            self.finish(SidecarError("TIMEOUT", f"Expected the client to read its stream, but it took nothing for "
                                                f"{self.stall_timeout_s:g} s (--client-stall-timeout-s) with "
                                                f"{self.capacity} events waiting: generation stopped"))
            return False
        return False

    def finish(self, error: SidecarError | None) -> None:
        with self.cond:
            if not self.finished:
                self.finished, self.error = True, error
            self.cond.notify_all()

    def take(self) -> GenerateEvent | None:
        """The next event, waiting for it; None at the end. Raises the error the generation ended with."""
        with self.cond:
            while not self.events and not self.finished:
                self.cond.wait()
            if self.events:
                event = self.events.popleft()
                self.cond.notify_all()
                return event
            error, self.error = self.error, None
        if error is not None:
            raise error
        return None


class Generation(Iterator[GenerateEvent]):
    """The consumer's handle: iterate it for events; close() (or dropping it) cancels the generation.

    The producer thread starts on the first next(), so a generation validated but never read costs
    nothing. Events after the last one the consumer takes are dropped.
    """

    def __init__(self, steps: Iterator[GenerateEvent], lock: threading.Lock, stall_timeout_s: float,
                 capacity: int = QUEUE_EVENTS) -> None:
        self._producer = _Producer(steps, lock, stall_timeout_s, capacity)
        self._thread: threading.Thread | None = None

    def cancel_when(self, gone: Callable[[], bool]) -> None:
        """Stop once `gone()` is true, checked between model steps and while waiting (any thread may
        call it, so it must be cheap and thread-safe: a poll of a socket, an RPC's state)."""
        self._producer.gone = gone

    def __next__(self) -> GenerateEvent:
        if self._thread is None:
            self._thread = threading.Thread(target=_run, args=(self._producer,), daemon=True, name="generate")
            with _running_lock:
                _running[self._thread] = self._producer
            self._thread.start()
        event = self._producer.take()
        if event is None:
            raise StopIteration
        return event

    def close(self) -> None:
        """Cancel: the producer stops before its next model step and lets go of the model."""
        if self._thread is None:
            self._producer.steps.close()
            self._producer.finish(None)
        else:
            self._producer.cancel("closed by the server")

    def __del__(self) -> None:
        if hasattr(self, "_producer"):
            self.close()


def _run(producer: _Producer) -> None:
    try:
        producer.run()
    finally:
        with _running_lock:
            _running.pop(threading.current_thread(), None)


@atexit.register
def _stop_all() -> None:
    with _running_lock:
        running = list(_running.items())
    for _thread, producer in running:
        producer.cancel("the sidecar is stopping")
    deadline = time.monotonic() + EXIT_JOIN_S
    for thread, _producer in running:
        thread.join(max(0.0, deadline - time.monotonic()))


def _left(gone: Callable[[], bool]) -> bool:
    try:
        return gone()
    except Exception:  # a check that cannot look (a socket already closed) means the client is gone
        return True
