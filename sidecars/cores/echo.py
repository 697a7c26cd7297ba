"""The echo core: no model at all, so a round trip measures the IPC alone."""
from __future__ import annotations

from typing import Any

from .base import Core


class EchoCore(Core):
    name = "echo"

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options

    def info(self) -> dict[str, Any]:
        return {"device": "none"}
