"""The CIFAR-10 core: the small CNN from sidecars.cifar_model behind the Core contract."""
from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import cifar_data
from ..cifar_model import StagingBuffer, images_to_tensor, load_model
from ..device import describe_device, dtype_name, gpu_facts, resolve_dtype, select_device, synchronize, wants_cuda
from ..errors import SidecarError
from .base import ClassifyResult, Core, InferResult, check_image_batch

DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "cifar10-cnn.pt"
METADATA: dict[str, Any] = {
    "name": "cifar", "versions": [], "platform": "pytorch",
    "inputs": [{"name": "images", "datatype": "UINT8", "shape": [-1, 3, 32, 32]}],  # planar RGB, as classify takes
    "outputs": [{"name": "labels", "datatype": "UINT8", "shape": [-1]},
                {"name": "logits", "datatype": "FP32", "shape": [-1, 10]}],
}
DEFAULTS: dict[str, Any] = {"weights": str(DEFAULT_WEIGHTS), "device": "auto", "dtype": None, "max_batch": 1024}


def _sha256_prefix(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


class CifarCore(Core):
    """Serves classify from several front-end threads; the lock makes one forward pass run at a time,
    so compute_ns measures the model alone and torch's intra-op threads are not oversubscribed. On
    CUDA it also guards the pinned staging buffer, which one batch's upload uses at a time."""

    name = "cifar"

    def __init__(self, options: dict[str, Any]) -> None:
        opts = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
        self._weights = Path(opts["weights"])
        self._device_name = str(opts["device"])
        self._dtype_name: str | None = opts["dtype"]
        self._max_batch = int(opts["max_batch"])
        if self._max_batch < 1:
            raise ValueError(f"Expected `max_batch` to be a positive integer, got {opts['max_batch']!r}")
        self._threads: int | None = int(opts["threads"]) if opts.get("threads") else None
        self._names = cifar_data.class_names(opts.get("data"))
        self._lock = threading.Lock()
        self._model: torch.nn.Module | None = None
        self._device = torch.device("cpu")
        self._dtype = resolve_dtype(self._dtype_name, self._device)  # checks the name now, before any load
        self._staging: StagingBuffer | None = None
        self._sha = ""

    def uses_cuda(self) -> bool:
        return wants_cuda(self._device_name)

    def load(self) -> None:
        if self._threads:
            torch.set_num_threads(self._threads)
        self._device = select_device(self._device_name)
        self._dtype = resolve_dtype(self._dtype_name, self._device)
        self._model = load_model(self._weights, self._device, self._dtype)
        self._staging = StagingBuffer() if self._device.type == "cuda" else None
        self._sha = _sha256_prefix(self._weights)
        # A large and a single-image pass allocate buffers and pick kernels before the first timed call.
        try:
            self.classify(bytes(cifar_data.IMAGE_BYTES * min(self._max_batch, 256)))
        except RuntimeError as exc:  # e.g. float16 convolutions on a CPU torch 1.13 cannot run
            if self._dtype == torch.float32:
                raise
            raise ValueError(f"Expected a `dtype` that torch {torch.__version__} runs this CNN in on "
                             f"{self._device.type}, got {dtype_name(self._dtype)!r}: {exc}") from exc
        self.classify(bytes(cifar_data.IMAGE_BYTES))

    def info(self) -> dict[str, Any]:
        return {
            "device": describe_device(self._device),
            **gpu_facts(self._device),
            "dtype": dtype_name(self._dtype),
            "weights": str(self._weights),
            "weights_sha256": self._sha,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "max_batch": self._max_batch,
        }

    def class_names(self) -> list[str]:
        return list(self._names)

    def metadata(self) -> dict[str, Any]:
        return METADATA

    def classify(self, images: bytes) -> ClassifyResult:
        labels, _logits, compute_ns = self._forward(images, want_logits=False)
        return ClassifyResult(labels=labels.tobytes(), compute_ns=compute_ns)

    def infer(self, inputs: dict[str, np.ndarray]) -> InferResult:
        """`images` (N, 3, 32, 32) planar uint8 is classify's byte layout: the same pass, plus the logits."""
        images = np.ascontiguousarray(inputs["images"])
        if images.shape[0] == 0:
            raise SidecarError("BAD_INPUT", f"Expected at least one image in `images`, got shape {list(images.shape)}")
        labels, logits, compute_ns = self._forward(memoryview(images).cast("B"), want_logits=True)
        assert logits is not None
        return InferResult(outputs={"labels": labels, "logits": logits}, compute_ns=compute_ns)

    def _forward(self, images: bytes | memoryview, want_logits: bool) -> tuple[np.ndarray, np.ndarray | None, int]:
        """Labels (uint8) and optionally float32 logits of a planar batch, and the forward pass's compute time."""
        check_image_batch(images, self._max_batch)
        model = self._model
        if model is None:
            raise SidecarError("INTERNAL", "CIFAR core used before load()")
        with self._lock, torch.inference_mode():
            batch = images_to_tensor(images, self._device, self._dtype, self._staging)
            # Keeps the upload and cast out of compute_ns, and frees the staging buffer for the next batch.
            synchronize(self._device)
            start = time.perf_counter_ns()
            scores = model(batch)
            labels = scores.argmax(dim=1)
            synchronize(self._device)
            compute_ns = time.perf_counter_ns() - start
            out = labels.to(torch.uint8).cpu().numpy()
            logits = scores.to(torch.float32).cpu().numpy() if want_logits else None
        return out, logits, compute_ns
