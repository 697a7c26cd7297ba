"""The model-core contract every front-end drives.

A core is loaded once (`load()`), then serves operations from several front-end threads at once;
a core that is not thread-safe serialises itself. Operations a core does not implement raise
UNSUPPORTED_OP, which every front-end reports with the same code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import SidecarError

if TYPE_CHECKING:
    import numpy as np

IMAGE_BYTES = 3072  # 32x32 planar RGB, 1024 R then 1024 G then 1024 B


@dataclass(frozen=True)
class ClassifyResult:
    """Class indices (one byte per image) and the model's own compute time for the batch."""

    labels: bytes
    compute_ns: int


@dataclass(frozen=True)
class InferResult:
    """Named output tensors (sidecars/tensors.py datatypes) and the model's own compute time."""

    outputs: dict[str, "np.ndarray"]
    compute_ns: int


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    sampling_steps: int = 128
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None


@dataclass
class GenerateEvent:
    """One step of a generation: new text (possibly empty) and, on the last event, the totals."""

    text: str
    token_ids: list[int] = field(default_factory=list)
    done: bool = False
    stats: dict[str, Any] = field(default_factory=dict)


class Core:
    """Base class: every core echoes; other operations are opt-in."""

    name = "base"

    def load(self) -> None:
        """Load weights and warm up. Raises SidecarError with a clear message on failure."""

    def uses_cuda(self) -> bool:
        """Whether load() will put the model on a CUDA device, answered before load() and without
        initialising CUDA: a front-end that forks must then load the model in the child."""
        return False

    def info(self) -> dict[str, Any]:
        """Facts for the ready line and results (device, weights, config)."""
        return {}

    def class_names(self) -> list[str]:
        raise SidecarError("UNSUPPORTED_OP", f"Model `{self.name}` does not classify images")

    def echo(self, payload: bytes) -> bytes:
        return payload

    def metadata(self) -> dict[str, Any]:
        """The Open Inference Protocol's model metadata: `{"name", "versions", "platform",
        "inputs": [{"name", "datatype", "shape"}], "outputs": [...]}`, `-1` for a dimension of
        any size. Front-ends check every infer request against `inputs` (sidecars.ops.infer)."""
        raise SidecarError("UNSUPPORTED_OP", f"Model `{self.name}` has no tensor inputs (infer)")

    def infer(self, inputs: dict[str, "np.ndarray"]) -> InferResult:
        """Run the model on inputs already checked against metadata(); one array per output."""
        raise SidecarError("UNSUPPORTED_OP", f"Model `{self.name}` does not implement infer")

    def classify(self, images: bytes) -> ClassifyResult:
        """Classify len(images) // 3072 images; the caller has checked the size."""
        raise SidecarError("UNSUPPORTED_OP", f"Model `{self.name}` does not classify images")

    def generate(self, request: GenerateRequest) -> Iterator[GenerateEvent]:
        """Yield events as tokens are produced; the last one has done=True and stats.

        Validation errors should raise from this call, before any event. The iterator may also
        have `close()` (stop generating: front-ends call it once done with it) and
        `cancel_when(gone)` (stop once `gone()` says the client has left); the gemma core's
        Generation has both (generation.py). Front-ends reach them through sidecars.ops.
        """
        raise SidecarError("UNSUPPORTED_OP", f"Model `{self.name}` does not generate text")


def check_image_batch(images: bytes, max_images: int) -> int:
    """Validate a batch of planar images and return how many it holds."""
    size = len(images)
    if size == 0 or size % IMAGE_BYTES != 0:
        raise SidecarError(
            "BAD_INPUT",
            f"Expected the image batch to be a non-zero multiple of {IMAGE_BYTES} bytes, got {size}",
        )
    count = size // IMAGE_BYTES
    if count > max_images:
        raise SidecarError("BAD_INPUT", f"Expected at most {max_images} images in a batch, got {count}")
    return count
