"""Fault injection, to test the harness: a model that hangs, dies, or is a little slower.

`--stall-ms MS` sleeps before every request (a slow or hung model). `--crash-after N` kills the
process, without cleanup, on request N+1 (a segfaulting extension, an OOM kill).
`--inject-delay-us N` busy-waits N microseconds in every request, holding the CPU as real work
would: a regression of known size, for testing a regression gate (`sidecar-bench ab`).
"""
from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any, Iterator

from .cores.base import ClassifyResult, Core, GenerateEvent, GenerateRequest, InferResult


class _Faulty(Core):
    def __init__(self, inner: Core, stall_ms: int, crash_after: int, delay_us: float = 0) -> None:
        self._inner = inner
        self._stall_s = stall_ms / 1000
        self._crash_after = crash_after
        self._delay_ns = int(delay_us * 1000)
        self._served = 0
        self._lock = threading.Lock()
        self.name = inner.name

    def load(self) -> None:
        self._inner.load()

    def uses_cuda(self) -> bool:
        return self._inner.uses_cuda()

    def info(self) -> dict[str, Any]:
        faults = {"stall_ms": int(self._stall_s * 1000), "crash_after": self._crash_after,
                  "inject_delay_us": self._delay_ns / 1000}
        return {**self._inner.info(), "faults": {k: v for k, v in faults.items() if v}}

    def class_names(self) -> list[str]:
        return self._inner.class_names()

    def metadata(self) -> dict[str, Any]:
        return self._inner.metadata()

    def _before(self) -> None:
        with self._lock:
            self._served += 1
            served = self._served
        if self._crash_after and served > self._crash_after:
            os.kill(os.getpid(), signal.SIGKILL)
        if self._stall_s:
            time.sleep(self._stall_s)
        if self._delay_ns:
            until = time.perf_counter_ns() + self._delay_ns
            while time.perf_counter_ns() < until:
                pass

    def echo(self, payload: bytes) -> bytes:
        self._before()
        return self._inner.echo(payload)

    def classify(self, images: bytes) -> ClassifyResult:
        self._before()
        return self._inner.classify(images)

    def infer(self, inputs: dict[str, Any]) -> InferResult:
        self._before()
        return self._inner.infer(inputs)

    def generate(self, request: GenerateRequest) -> Iterator[GenerateEvent]:
        self._before()
        return self._inner.generate(request)


def with_faults(core: Core, stall_ms: int, crash_after: int, delay_us: float = 0) -> Core:
    return _Faulty(core, stall_ms, crash_after, delay_us) if stall_ms or crash_after or delay_us else core
