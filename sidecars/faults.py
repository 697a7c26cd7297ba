"""Fault injection for tests: a core that stalls on every request (a hung model)."""
from __future__ import annotations

import time
from typing import Any

from .cores.base import Core


class _Stalling(Core):
    def __init__(self, inner: Core, stall_ms: int) -> None:
        self._inner = inner
        self._stall_s = stall_ms / 1000
        self.name = inner.name

    def info(self) -> dict[str, Any]:
        return {**self._inner.info(), "stall_ms": int(self._stall_s * 1000)}

    def echo(self, payload: bytes) -> bytes:
        time.sleep(self._stall_s)
        return self._inner.echo(payload)

    def classify(self, images: bytes):  # type: ignore[no-untyped-def]
        time.sleep(self._stall_s)
        return self._inner.classify(images)

    def generate(self, request):  # type: ignore[no-untyped-def]
        time.sleep(self._stall_s)
        return self._inner.generate(request)


def stalling(core: Core, stall_ms: int) -> Core:
    return _Stalling(core, stall_ms)
