"""Fault injection for tests of the harness's reliability: a model that hangs or dies.

`--stall-ms MS` sleeps before every request (a slow or hung model). `--crash-after N` kills the
process, without cleanup, on request N+1 (a segfaulting extension, an OOM kill).
"""
from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any, Iterator

from .cores.base import ClassifyResult, Core, GenerateEvent, GenerateRequest


class _Faulty(Core):
    def __init__(self, inner: Core, stall_ms: int, crash_after: int) -> None:
        self._inner = inner
        self._stall_s = stall_ms / 1000
        self._crash_after = crash_after
        self._served = 0
        self._lock = threading.Lock()
        self.name = inner.name

    def info(self) -> dict[str, Any]:
        faults = {"stall_ms": int(self._stall_s * 1000), "crash_after": self._crash_after}
        return {**self._inner.info(), "faults": {k: v for k, v in faults.items() if v}}

    def class_names(self) -> list[str]:
        return self._inner.class_names()

    def _before(self) -> None:
        with self._lock:
            self._served += 1
            served = self._served
        if self._crash_after and served > self._crash_after:
            os.kill(os.getpid(), signal.SIGKILL)
        if self._stall_s:
            time.sleep(self._stall_s)

    def echo(self, payload: bytes) -> bytes:
        self._before()
        return self._inner.echo(payload)

    def classify(self, images: bytes) -> ClassifyResult:
        self._before()
        return self._inner.classify(images)

    def generate(self, request: GenerateRequest) -> Iterator[GenerateEvent]:
        self._before()
        return self._inner.generate(request)


def with_faults(core: Core, stall_ms: int, crash_after: int) -> Core:
    return _Faulty(core, stall_ms, crash_after) if stall_ms or crash_after else core
