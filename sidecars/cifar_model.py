"""The CIFAR-10 CNN (the Keras CIFAR tutorial's layers, 'valid' padding), its input decoding and safe loading.

Shared by the sidecar core, the in-process baseline and the training script, so all three run exactly
the same network on exactly the same tensor layout.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Union

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


def images_to_tensor(data: BufferLike, device: torch.device | str = "cpu") -> torch.Tensor:
    """Decode K*3072 planar uint8 bytes into a float (K,3,32,32) tensor in [0,1].

    The planar layout is already NCHW, so decoding is a reshape plus one cast, no per-pixel loop;
    the caller guarantees the size is a non-zero multiple of IMAGE_BYTES.
    """
    view = memoryview(data).cast("B")
    count = len(view) // IMAGE_BYTES
    pixels = np.frombuffer(view, dtype=np.uint8, count=count * IMAGE_BYTES)
    device = torch.device(device)
    # Torch warns about read-only arrays (the bytes a front-end hands over), so every path goes
    # through a fresh array: on CPU the float cast is that copy; elsewhere the uint8 copy is tiny
    # and the cast runs on the device after a 4x smaller upload.
    if device.type == "cpu":
        floats = torch.from_numpy(pixels.astype(np.float32))
    else:
        floats = torch.from_numpy(pixels.copy()).to(device).to(torch.float32)
    return floats.view(count, 3, 32, 32).div_(255.0)


def select_device(name: str) -> torch.device:
    """Resolve 'cpu' | 'cuda' | 'auto' (cuda when one is available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"Expected a CUDA device for `--device cuda`, but torch {torch.__version__} "
                "sees none (CPU-only build or no GPU); use `--device cpu` or `auto`"
            )
        return torch.device("cuda:0")
    raise ValueError(f"Expected `--device` to be one of cpu, cuda, auto, got {name!r}")


def describe_device(device: torch.device) -> str:
    """'cpu' or 'cuda:0 (NVIDIA H100 ...)' for results and the ready line."""
    if device.type == "cuda":
        index = device.index or 0
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return "cpu"


def _torch_load(path: Path, device: torch.device) -> object:
    # weights_only refuses arbitrary pickled objects, so a planted file cannot run code on load.
    if "weights_only" in inspect.signature(torch.load).parameters:
        return torch.load(path, map_location=device, weights_only=True)
    raise WeightsError(
        f"torch {torch.__version__} cannot load weights safely (no weights_only); refusing {path}"
    )


def load_model(path: str | Path, device: torch.device) -> nn.Sequential:
    """Build the network and fill it from a float32 state dict; any mismatch is a WeightsError."""
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
    return model.to(device=device, dtype=torch.float32).eval()
