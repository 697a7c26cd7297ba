"""Prefill + KV-cached decoding for a batch of prompts, and next-token selection.

Prompts of different lengths are left-padded: every row's last prompt token sits in the same cache
slot, so one decode step serves the whole batch. Each row's RoPE positions start at 0 at its first
real token and its padding slots are masked, so a row decodes exactly as it would alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generator

import torch
from torch import Tensor

from .kv_cache import KVCache
from .model import Transformer


@dataclass(frozen=True)
class Sampling:
    """temperature 0 is greedy; top_k 0 and top_p 1 switch those filters off."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


# Below this, logits / temperature overflows float32 (it did from about 1e-38) and sampling fails;
# far below it, sampling is greedy in all but name. 1e-7 stays at least 1e-7 when sent as a float32.
MIN_TEMPERATURE = 1e-7
SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.Generator.manual_seed takes


def sampling_problem(sampling: Sampling) -> str | None:
    """What is wrong with these settings, as an error message; None when they can be sampled with."""
    t, top_k, top_p, seed = sampling.temperature, sampling.top_k, sampling.top_p, sampling.seed
    if not math.isfinite(t) or t < 0 or 0 < t < MIN_TEMPERATURE:
        return f"Expected `temperature` to be 0 (greedy) or a finite number of at least {MIN_TEMPERATURE:g}, got {t!r}"
    if top_k < 0:
        return f"Expected `top_k` to be >= 0, got {top_k}"
    if not 0 < top_p <= 1:  # NaN included
        return f"Expected `top_p` to be in (0, 1], got {top_p!r}"
    if seed is not None and not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        return f"Expected `seed` to be from -2**63 to 2**64 - 1, got {seed}"
    return None


def select(logits: Tensor, sampling: Sampling, generator: torch.Generator | None) -> Tensor:
    """Next token per row of logits [batch, vocab]."""
    if sampling.greedy:
        return logits.argmax(dim=-1)
    logits = logits.float() / sampling.temperature
    if 0 < sampling.top_k < logits.shape[-1]:
        kth = torch.topk(logits, sampling.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if sampling.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        # Drop a token once the more likely ones already reach top_p; the most likely one always stays.
        drop = sorted_probs.cumsum(dim=-1) - sorted_probs >= sampling.top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _generator(sampling: Sampling, device: torch.device) -> torch.Generator | None:
    if sampling.greedy:
        return None
    generator = torch.Generator(device=device)
    if sampling.seed is None:
        generator.seed()
    else:
        generator.manual_seed(sampling.seed)
    return generator


def left_pad(prompts: list[list[int]], device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """tokens [batch, longest], positions [batch, longest] and pad counts [batch]."""
    longest = max(len(p) for p in prompts)
    pad = torch.tensor([longest - len(p) for p in prompts], device=device)
    tokens = torch.tensor([[0] * (longest - len(p)) + p for p in prompts], device=device)
    positions = (torch.arange(longest, device=device)[None] - pad[:, None]).clamp(min=0)
    return tokens, positions, pad


def generate_ids(model: Transformer, prompts: list[list[int]], steps: int, sampling: Sampling,
                 eos_ids: frozenset[int], cache_size: int) -> Generator[list[int], None, None]:
    """Yield the next token of every row, `steps` times or until every row has produced an EOS.

    A row keeps being computed after its EOS (the batch moves together); callers ignore it.
    Inference mode is entered per step, never held across a yield into the caller's code.
    """
    c = model.config
    device = model.device
    finished = [False] * len(prompts)
    with torch.inference_mode():
        tokens, positions, pad = left_pad(prompts, device)
        mask_pad = pad if bool(pad.any()) else None
        length = tokens.shape[1]
        cache = KVCache(c.n_layers, len(prompts), c.n_kv_heads, cache_size, c.head_dim,
                        model.dtype, device)
        generator = _generator(sampling, device)
        logits = model(tokens, positions, cache, 0, mask_pad, last_only=True)[:, -1]
        next_ids = select(logits, sampling, generator)
        ids = next_ids.tolist()
    for step in range(steps):
        if step:
            with torch.inference_mode():
                positions = (length - pad)[:, None]
                logits = model(next_ids[:, None], positions, cache, length, mask_pad, last_only=True)[:, -1]
                next_ids = select(logits, sampling, generator)
                ids = next_ids.tolist()
                length += 1
        yield ids
        finished = [done or token in eos_ids for done, token in zip(finished, ids, strict=True)]
        if all(finished):
            return
