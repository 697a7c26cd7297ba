"""Official PyTorch Gemma checkpoints (gemma_pytorch): a torch.save'd dict with 'model_state_dict'."""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch


def read_torch_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a torch checkpoint, loaded with weights_only so that no pickled code runs."""
    params = inspect.signature(torch.load).parameters
    kwargs: dict[str, Any] = {"map_location": "cpu"}
    if "weights_only" not in params:  # without it torch.load would run any pickled code in the file
        raise ValueError(f"torch {torch.__version__} cannot load weights safely (no weights_only); refusing {path}")
    kwargs["weights_only"] = True
    if "mmap" in params:  # torch >= 2.1: a 7B checkpoint is paged in instead of read into memory
        kwargs["mmap"] = True
    try:
        obj = torch.load(str(path), **kwargs)
    except RuntimeError as exc:
        if "mmap" in kwargs and "mmap" in str(exc):  # legacy (non-zip) files cannot be memory-mapped
            del kwargs["mmap"]
            obj = torch.load(str(path), **kwargs)
        else:
            raise
    state = obj.get("model_state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict (optionally under 'model_state_dict') of tensors")
    return state
