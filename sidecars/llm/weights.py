"""Filling a Transformer's empty parameters: deterministic random values, or a named state dict."""
from __future__ import annotations

import math
from typing import Mapping

import torch
from torch import Tensor

from .model import Transformer


def random_init(model: Transformer, seed: int) -> None:
    """Deterministic weights for compute-cost runs: same seed, device type and config -> same values.

    Values are drawn on the parameter's own device (a CPU draw of a 7B model takes minutes), in
    float32 where the device cannot draw in the parameter's dtype. Matrices get std 1/sqrt(fan_in)
    (the embedding std 1/sqrt(d)) so activations and logits stay of order one, not saturated.
    """
    generators: dict[torch.device, torch.Generator] = {}
    for param in model.parameters():
        device = param.device
        if device not in generators:
            generators[device] = torch.Generator(device=device)
            generators[device].manual_seed(seed)
        if param.dim() == 1:
            # Norm scales start at 1: Gemma stores (scale - 1), llama the scale itself.
            param.data.fill_(0.0 if model.config.is_gemma else 1.0)
            continue
        std = 1.0 / math.sqrt(param.shape[1])
        draw_dtype = param.dtype if device.type == "cuda" else torch.float32
        values = torch.empty(param.shape, dtype=draw_dtype, device=device)
        values.normal_(0.0, std, generator=generators[device])
        param.data.copy_(values)


def assign(model: Transformer, state: Mapping[str, Tensor], source: str) -> None:
    """Copy a state dict that uses this package's parameter names; every parameter must be present."""
    params = dict(model.named_parameters())
    missing = sorted(set(params) - set(state))
    unknown = sorted(set(state) - set(params))
    if missing or unknown:
        raise ValueError(f"{source} does not match config `{model.config.name}`: "
                         f"missing {missing[:6]}{'...' if len(missing) > 6 else ''}, "
                         f"unexpected {unknown[:6]}{'...' if len(unknown) > 6 else ''}")
    for name, param in params.items():
        value = state[name]
        if tuple(value.shape) != tuple(param.shape):
            raise ValueError(f"{source}: `{name}` has shape {tuple(value.shape)}, config "
                             f"`{model.config.name}` expects {tuple(param.shape)}")
        param.data.copy_(value.to(param.dtype))
