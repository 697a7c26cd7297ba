"""The echo core: no model at all, so a round trip measures the IPC alone."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Core, InferResult

if TYPE_CHECKING:
    import numpy as np

METADATA: dict[str, Any] = {
    "name": "echo", "versions": [], "platform": "none",
    "inputs": [{"name": "payload", "datatype": "UINT8", "shape": [-1]}],
    "outputs": [{"name": "payload", "datatype": "UINT8", "shape": [-1]}],
}


class EchoCore(Core):
    name = "echo"

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options

    def info(self) -> dict[str, Any]:
        return {"device": "none"}

    def metadata(self) -> dict[str, Any]:
        return METADATA

    def infer(self, inputs: dict[str, "np.ndarray"]) -> InferResult:
        """The payload back as it came (the front-end's encoding is the only copy); no compute."""
        return InferResult(outputs={"payload": inputs["payload"]}, compute_ns=0)
