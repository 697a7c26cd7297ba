"""The one decoder: Gemma 1/2/3 and llama2.c checkpoints differ only in ModelConfig switches.

Parameters are created empty (no init pass) because every model is then either loaded or
random-initialised by weights.py; a 2B model would otherwise be initialised twice.
Attention runs through torch's fused scaled_dot_product_attention where it can (torch >= 2.1, whose
version takes `scale`; no attention soft-capping, which it cannot apply) and is written out by hand
otherwise (torch 1.13, Gemma 2); the two agree (test_llm_model.py). Norms, RoPE and the hand-written
softmax run in float32 whatever the weight dtype.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .kv_cache import KVCache

_VERSION = tuple(int(part) for part in torch.__version__.split(".")[:2])
HAS_SDPA = hasattr(F, "scaled_dot_product_attention") and _VERSION >= (2, 1)


def fused_attention_for(c: ModelConfig, requested: bool | None = None) -> bool:
    """Whether attention runs fused: `requested`, or where possible when None; an impossible request is an error."""
    possible = HAS_SDPA and c.attn_softcap is None
    if requested and not possible:
        why = "attention soft-capping" if HAS_SDPA else f"torch {torch.__version__} (2.1 or later is needed)"
        raise ValueError(f"Expected fused attention only where it can run, got a request for it with {why}")
    return possible if requested is None else requested


def attention_bias(mask: Tensor, groups: int, dtype: torch.dtype) -> Tensor:
    """A boolean mask [batch or 1, 1, 1, T, keys] as SDPA's additive bias for stacked queries [.., 1, groups*T, keys].

    Half of finfo.min, not -inf: a fully masked row (a left-padding slot) then stays finite instead of
    turning NaN, a NaN its keys and values would carry into real rows later (0 * NaN is NaN). Half,
    because SDPA adds the scores in the model's dtype: in float16, finfo.min plus a score below -16
    overflows to -inf.
    """
    b, _, _, t, keys = mask.shape
    allowed = mask.expand(b, 1, groups, t, keys).reshape(b, 1, groups * t, keys)
    return torch.zeros(allowed.shape, dtype=dtype, device=mask.device).masked_fill_(~allowed, torch.finfo(dtype).min / 2)


def _param(*shape: int, dtype: torch.dtype, device: torch.device) -> nn.Parameter:
    return nn.Parameter(torch.empty(*shape, dtype=dtype, device=device), requires_grad=False)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float, offset: float, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        self.eps = eps
        self.offset = offset  # Gemma stores w and scales by (1 + w); llama stores the scale itself
        self.weight = _param(dim, dtype=dtype, device=device)

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * (self.offset + self.weight.float())).type_as(x)


class Linear(nn.Module):
    """A bias-free linear layer without nn.Linear's init pass."""

    def __init__(self, d_in: int, d_out: int, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        self.weight = _param(d_out, d_in, dtype=dtype, device=device)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight)


class Embedding(nn.Module):
    def __init__(self, vocab: int, dim: int, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        self.weight = _param(vocab, dim, dtype=dtype, device=device)


def rope_tables(positions: Tensor, head_dim: int, theta: float) -> tuple[Tensor, Tensor]:
    """cos and sin of [batch, T, 1, head_dim / 2] for integer positions [batch, T]."""
    exponents = torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim
    angles = positions.float()[..., None] * (1.0 / theta**exponents)
    return angles.cos()[:, :, None], angles.sin()[:, :, None]


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor, interleaved: bool) -> Tensor:
    xf = x.float()
    if interleaved:
        pairs = xf.unflatten(-1, (-1, 2))
        a, b = pairs[..., 0], pairs[..., 1]
        return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2).type_as(x)
    a, b = xf.chunk(2, dim=-1)
    return torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1).type_as(x)


class Attention(nn.Module):
    def __init__(self, c: ModelConfig, dtype: torch.dtype, device: torch.device, fused: bool = False) -> None:
        super().__init__()
        self.c = c
        self.fused = fused  # then forward's mask is attention_bias(...), not the boolean mask
        self.groups = c.n_heads // c.n_kv_heads
        self.scale = (c.query_scale or c.head_dim) ** -0.5
        self.q = Linear(c.d_model, c.n_heads * c.head_dim, dtype, device)
        self.k = Linear(c.d_model, c.n_kv_heads * c.head_dim, dtype, device)
        self.v = Linear(c.d_model, c.n_kv_heads * c.head_dim, dtype, device)
        self.o = Linear(c.n_heads * c.head_dim, c.d_model, dtype, device)
        if c.qk_norm:
            offset = 1.0 if c.is_gemma else 0.0
            self.q_norm = RMSNorm(c.head_dim, c.norm_eps, offset, dtype, device)
            self.k_norm = RMSNorm(c.head_dim, c.norm_eps, offset, dtype, device)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor], mask: Tensor, cache: KVCache | None,
                layer: int, start: int) -> Tensor:
        c, (b, t, _) = self.c, x.shape
        q = self.q(x).view(b, t, c.n_heads, c.head_dim)
        k = self.k(x).view(b, t, c.n_kv_heads, c.head_dim)
        v = self.v(x).view(b, t, c.n_kv_heads, c.head_dim)
        if c.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q = apply_rope(q, *rope, c.rope_interleaved).transpose(1, 2)
        k = apply_rope(k, *rope, c.rope_interleaved).transpose(1, 2)
        v = v.transpose(1, 2)
        if cache is not None:
            k, v = cache.update(layer, start, k, v)
        # Heads sharing a KV head are stacked along the query axis: one matmul, no repeated K/V.
        q = q.reshape(b, c.n_kv_heads, self.groups * t, c.head_dim) * self.scale
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)
        else:
            scores = (q @ k.transpose(-1, -2)).view(b, c.n_kv_heads, self.groups, t, -1).float()
            if c.attn_softcap is not None:
                scores = torch.tanh(scores / c.attn_softcap) * c.attn_softcap
            # Filling (not adding) the mask keeps fully masked rows (left padding) finite instead of NaN.
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            probs = torch.softmax(scores, dim=-1).to(v.dtype).view(b, c.n_kv_heads, self.groups * t, -1)
            out = probs @ v
        return self.o(out.view(b, c.n_heads, t, c.head_dim).transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):
    def __init__(self, c: ModelConfig, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        self.gemma = c.is_gemma
        self.gate = Linear(c.d_model, c.ffn_dim, dtype, device)
        self.up = Linear(c.d_model, c.ffn_dim, dtype, device)
        self.down = Linear(c.ffn_dim, c.d_model, dtype, device)

    def forward(self, x: Tensor) -> Tensor:
        gate = self.gate(x)
        act = F.gelu(gate, approximate="tanh") if self.gemma else F.silu(gate)
        return self.down(act * self.up(x))


class Block(nn.Module):
    def __init__(self, c: ModelConfig, dtype: torch.dtype, device: torch.device, fused: bool = False) -> None:
        super().__init__()
        offset = 1.0 if c.is_gemma else 0.0
        self.attn_norm = RMSNorm(c.d_model, c.norm_eps, offset, dtype, device)
        self.attn = Attention(c, dtype, device, fused)
        self.ffn_norm = RMSNorm(c.d_model, c.norm_eps, offset, dtype, device)
        self.mlp = MLP(c, dtype, device)
        self.sandwich = c.sandwich_norms
        if c.sandwich_norms:
            self.post_attn_norm = RMSNorm(c.d_model, c.norm_eps, offset, dtype, device)
            self.post_ffn_norm = RMSNorm(c.d_model, c.norm_eps, offset, dtype, device)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor], mask: Tensor, cache: KVCache | None,
                layer: int, start: int) -> Tensor:
        h = self.attn(self.attn_norm(x), rope, mask, cache, layer, start)
        x = x + (self.post_attn_norm(h) if self.sandwich else h)
        h = self.mlp(self.ffn_norm(x))
        return x + (self.post_ffn_norm(h) if self.sandwich else h)


class Transformer(nn.Module):
    def __init__(self, c: ModelConfig, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                 fused_attention: bool | None = None) -> None:
        """fused_attention: None picks scaled_dot_product_attention where it can run (fused_attention_for)."""
        super().__init__()
        device = torch.device(device)
        self.config = c
        self.fused_attention = fused_attention_for(c, fused_attention)
        self.embed = Embedding(c.vocab_size, c.d_model, dtype, device)
        self.layers = nn.ModuleList(Block(c, dtype, device, self.fused_attention) for _ in range(c.n_layers))
        self.norm = RMSNorm(c.d_model, c.norm_eps, 1.0 if c.is_gemma else 0.0, dtype, device)
        if not c.tied_embeddings:
            self.output = Linear(c.d_model, c.vocab_size, dtype, device)

    def forward(self, tokens: Tensor, positions: Tensor, cache: KVCache | None = None, start: int = 0,
                pad: Tensor | None = None, last_only: bool = False) -> Tensor:
        """Float32 logits for tokens [batch, T] placed at cache slots [start, start+T).

        positions are each token's RoPE position ([batch, T]); pad[b] counts the left-padding slots
        of row b, which no query may attend to. last_only skips the vocabulary projection for all
        but the final position (the prefill only needs that one).
        """
        c = self.config
        x = F.embedding(tokens, self.embed.weight)
        if c.is_gemma:
            x = x * torch.tensor(math.sqrt(c.d_model), dtype=x.dtype)
        masks = self._masks(tokens.shape[1], start, pad, tokens.device)
        if self.fused_attention:
            groups = c.n_heads // c.n_kv_heads
            full = attention_bias(masks[0], groups, x.dtype)
            masks = (full, full if masks[1] is masks[0] else attention_bias(masks[1], groups, x.dtype))
        ropes = {theta: rope_tables(positions, c.head_dim, theta) for theta in {c.rope_theta, c.rope_theta_local}}
        for i, block in enumerate(self.layers):
            local = c.is_local(i)
            rope = ropes[c.rope_theta_local if local else c.rope_theta]
            x = block(x, rope, masks[1] if local else masks[0], cache, i, start)
        if last_only:
            x = x[:, -1:]
        x = self.norm(x)
        weight = self.embed.weight if c.tied_embeddings else self.output.weight
        logits = F.linear(x, weight).float()
        if c.final_softcap is not None:
            logits = torch.tanh(logits / c.final_softcap) * c.final_softcap
        return logits

    def _masks(self, t: int, start: int, pad: Tensor | None, device: torch.device) -> tuple[Tensor, Tensor]:
        """Boolean (global, local) masks of [batch or 1, 1, 1, T, keys]: True where a query may look."""
        q_slots = torch.arange(start, start + t, device=device)[:, None]
        k_slots = torch.arange(start + t, device=device)[None, :]
        allowed = (k_slots <= q_slots)[None]
        if pad is not None:
            allowed = allowed & (k_slots[None] >= pad[:, None, None])
        window = self.config.sliding_window
        full = allowed[:, None, None]
        # Without a window both are one tensor, so the fused path builds one bias for both.
        return full, (allowed & (q_slots - k_slots < window)[None])[:, None, None] if window is not None else full

    @property
    def device(self) -> torch.device:
        return self.embed.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.embed.weight.dtype

    def param_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
