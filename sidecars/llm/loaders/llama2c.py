"""llama2.c legacy checkpoints (`export.py --version 0`): a 7 x int32 header, then fp32 weights.

Order: token embedding; per kind, that weight of every layer (attention norms, wq, wk, wv, wo,
FFN norms, w1, w2, w3); final norm; RoPE cos/sin tables (skipped, we compute them); the
classifier only when vocab_size is negative (untied).
"""
from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..config import CONFIGS, ModelConfig

HEADER = struct.Struct("<7i")


def read_llama2c(path: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    path = Path(path)
    raw = path.read_bytes()
    if len(raw) < HEADER.size:
        raise ValueError(f"{path} is not a llama2.c checkpoint: {len(raw)} bytes")
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = HEADER.unpack_from(raw)
    if min(dim, hidden, n_layers, n_heads, n_kv, seq_len) <= 0 or vocab == 0 or dim % n_heads:
        raise ValueError(f"{path} is not a llama2.c checkpoint: header {HEADER.unpack_from(raw)}")
    config = ModelConfig(f"llama2c:{path.name}", "llama", n_layers, dim, n_heads, n_kv, dim // n_heads, hidden,
                         abs(vocab), norm_eps=1e-5, rope_interleaved=True, tied_embeddings=vocab > 0,
                         max_seq_len=seq_len)
    # A file whose shape is a named config (stories260K) reports that name.
    config = next((known for name, known in CONFIGS.items() if known == replace(config, name=name)), config)
    data = torch.from_numpy(np.frombuffer(raw, dtype="<f4", offset=HEADER.size).astype(np.float32))
    state, used = _split(config, data, seq_len)
    if used != data.numel():
        raise ValueError(f"{path}: header {HEADER.unpack_from(raw)} implies {used} floats, file holds {data.numel()}")
    return config, state


def _split(c: ModelConfig, data: torch.Tensor, seq_len: int) -> tuple[dict[str, torch.Tensor], int]:
    offset = 0

    def take(*shape: int) -> torch.Tensor:
        nonlocal offset
        n = int(np.prod(shape))
        if offset + n > data.numel():
            raise ValueError(f"llama2.c checkpoint is truncated: needs more than {data.numel()} floats")
        out = data[offset:offset + n].view(*shape)
        offset += n
        return out

    d, kv_dim = c.d_model, c.n_kv_heads * c.head_dim
    state = {"embed.weight": take(c.vocab_size, d)}
    per_layer = [("attn_norm.weight", (d,)), ("attn.q.weight", (d, d)), ("attn.k.weight", (kv_dim, d)),
                 ("attn.v.weight", (kv_dim, d)), ("attn.o.weight", (d, d)), ("ffn_norm.weight", (d,)),
                 ("mlp.gate.weight", (c.ffn_dim, d)), ("mlp.down.weight", (d, c.ffn_dim)),
                 ("mlp.up.weight", (c.ffn_dim, d))]
    for name, shape in per_layer:
        for layer in range(c.n_layers):
            state[f"layers.{layer}.{name}"] = take(*shape)
    state["norm.weight"] = take(d)
    take(seq_len, c.head_dim // 2)  # freq_cis_real
    take(seq_len, c.head_dim // 2)  # freq_cis_imag
    if not c.tied_embeddings:
        state["output.weight"] = take(c.vocab_size, d)
    return state, offset
