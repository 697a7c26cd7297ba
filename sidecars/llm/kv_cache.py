"""Preallocated key/value buffers, one pair per layer, filled slot by slot as tokens arrive."""
from __future__ import annotations

import torch


class KVCache:
    """Buffers of [batch, kv_heads, capacity, head_dim]; slot t holds the t-th token fed to the model.

    Attention reads only slots [0, end), so unwritten slots are never read and a step's cost grows
    with the tokens seen so far, not with the capacity.
    """

    def __init__(self, n_layers: int, batch: int, n_kv_heads: int, capacity: int, head_dim: int,
                 dtype: torch.dtype, device: torch.device) -> None:
        shape = (batch, n_kv_heads, capacity, head_dim)
        self.capacity = capacity
        self.batch = batch
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]

    def update(self, layer: int, start: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v ([batch, kv_heads, T, head_dim]) at slots [start, start+T); return slots [0, start+T)."""
        end = start + k.shape[2]
        if end > self.capacity:
            raise ValueError(f"KV cache overflow: {end} slots needed, capacity {self.capacity}")
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]
