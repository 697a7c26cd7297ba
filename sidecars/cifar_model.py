"""The CIFAR-10 CNN (the Keras CIFAR tutorial's layers, 'valid' padding), its input decoding and safe loading.

Shared by the sidecar core, the in-process baseline and the training script, so all three run exactly
the same network on exactly the same tensor layout.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable, Union

import numpy as np
import torch
from torch import nn

IMAGE_BYTES = 3072  # 32x32 planar RGB: 1024 R, 1024 G, 1024 B, each plane row-major
NUM_CLASSES = 10

BufferLike = Union[bytes, bytearray, memoryview]


class WeightsError(Exception):
    """The weights file is missing, unreadable, or does not fit the architecture."""


def build_model() -> nn.Sequential:
    """Conv(3->32) Pool Conv(32->64) Pool Conv(64->64) Dense(1024->64) Dense(64->10), logits out."""
    return nn.Sequential(
        nn.Conv2d(3, 32, kernel_size=3),  # 32 -> 30
        nn.ReLU(),
        nn.MaxPool2d(2),  # 30 -> 15
        nn.Conv2d(32, 64, kernel_size=3),  # 15 -> 13
        nn.ReLU(),
        nn.MaxPool2d(2),  # 13 -> 6
        nn.Conv2d(64, 64, kernel_size=3),  # 6 -> 4
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, NUM_CLASSES),
    )


class StagingBuffer:
    """A reusable host buffer that batches are copied into before an upload to the GPU.

    Pinned (page-locked) memory is what lets a host-to-device copy run with non_blocking=True, and
    pinning is slow (cudaHostAlloc), so the buffer is allocated once and grown only for a larger batch.
    Not thread-safe, and a staged view must not be overwritten while its upload may still be running:
    the owner holds one lock from stage() until after a synchronize (the CIFAR core's forward-pass lock).
    `allocate` is injectable so the staging and reuse logic runs, unpinned, in CPU-only tests.
    """

    def __init__(self, allocate: Callable[[int], torch.Tensor] | None = None) -> None:
        self._allocate = allocate or _pinned_bytes
        self._buffer = torch.empty(0, dtype=torch.uint8)
        self.allocations = 0

    @property
    def capacity(self) -> int:
        return self._buffer.numel()

    def stage(self, pixels: np.ndarray) -> torch.Tensor:
        """A uint8 view of the buffer holding `pixels`, valid until the next stage()."""
        size = pixels.size
        if size > self.capacity:
            # At least doubling, so a run of slowly growing batches re-pins a handful of times, not each time.
            self._buffer = self._allocate(max(size, 2 * self.capacity))
            self.allocations += 1
        view = self._buffer[:size]
        view.numpy()[:] = pixels
        return view


def _pinned_bytes(size: int) -> torch.Tensor:
    return torch.empty(size, dtype=torch.uint8, pin_memory=True)


def images_to_tensor(data: BufferLike, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                     staging: StagingBuffer | None = None) -> torch.Tensor:
    """Decode K*3072 planar uint8 bytes into a (K,3,32,32) tensor of `dtype` in [0,1].

    The planar layout is already NCHW, so decoding is a reshape plus one cast, no per-pixel loop;
    the caller guarantees the size is a non-zero multiple of IMAGE_BYTES. With `staging` the bytes go
    through that buffer and are uploaded with non_blocking=True: the caller must synchronize before
    it stages the next batch (see StagingBuffer).
    """
    view = memoryview(data).cast("B")
    count = len(view) // IMAGE_BYTES
    pixels = np.frombuffer(view, dtype=np.uint8, count=count * IMAGE_BYTES)
    device = torch.device(device)
    # Torch warns about read-only arrays (the bytes a front-end hands over), so every path goes
    # through a fresh array or the staging buffer: on CPU the float cast is that copy; elsewhere the
    # uint8 copy is small and the cast runs on the device after a 4x smaller upload.
    if staging is not None:
        floats = staging.stage(pixels).to(device, non_blocking=True).to(torch.float32)
    elif device.type == "cpu":
        floats = torch.from_numpy(pixels.astype(np.float32))
    else:
        floats = torch.from_numpy(pixels.copy()).to(device).to(torch.float32)
    # Scaled in float32 whatever the model's dtype, so bfloat16 and float16 see the same rounded inputs.
    return floats.view(count, 3, 32, 32).div_(255.0).to(dtype)


def _torch_load(path: Path, device: torch.device) -> object:
    # weights_only refuses arbitrary pickled objects, so a planted file cannot run code on load.
    if "weights_only" in inspect.signature(torch.load).parameters:
        return torch.load(path, map_location=device, weights_only=True)
    raise WeightsError(
        f"torch {torch.__version__} cannot load weights safely (no weights_only); refusing {path}"
    )


def load_model(path: str | Path, device: torch.device, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """Build the network, fill it from a float32 state dict and cast it to `dtype`; any mismatch is a WeightsError."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"CIFAR weights file {path} does not exist")
    try:
        state = _torch_load(path, device)
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"CIFAR weights file {path} could not be read: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"CIFAR weights file {path} does not hold a state dict of tensors")
    model = build_model()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise WeightsError(
            f"CIFAR weights file {path} does not fit the architecture: {' '.join(first[:4])}"
        ) from exc
    return model.to(device=device, dtype=dtype).eval()
