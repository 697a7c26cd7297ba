"""Parameter names of other layouts (Hugging Face, gemma_pytorch) mapped to this package's names."""
from __future__ import annotations

import re
from typing import Mapping

import torch

from ..config import ModelConfig

_LAYER = re.compile(r"^(?:language_model\.)?(?:model\.)?layers\.(\d+)\.(.+)$")
# gemma_pytorch and Hugging Face spell the same sub-modules differently; both map here.
_LAYER_NAMES = {
    "self_attn.q_proj.weight": "attn.q.weight", "self_attn.k_proj.weight": "attn.k.weight",
    "self_attn.v_proj.weight": "attn.v.weight", "self_attn.o_proj.weight": "attn.o.weight",
    "self_attn.q_norm.weight": "attn.q_norm.weight", "self_attn.k_norm.weight": "attn.k_norm.weight",
    "self_attn.query_norm.weight": "attn.q_norm.weight", "self_attn.key_norm.weight": "attn.k_norm.weight",
    "mlp.gate_proj.weight": "mlp.gate.weight", "mlp.up_proj.weight": "mlp.up.weight",
    "mlp.down_proj.weight": "mlp.down.weight", "input_layernorm.weight": "attn_norm.weight",
    "pre_feedforward_layernorm.weight": "ffn_norm.weight", "post_feedforward_layernorm.weight": "post_ffn_norm.weight",
}
_TOP_NAMES = {
    "embedder.weight": "embed.weight", "model.embed_tokens.weight": "embed.weight",
    "model.norm.weight": "norm.weight", "lm_head.weight": "output.weight",
}
# Buffers some checkpoints save next to the weights; RoPE tables are recomputed here.
_IGNORED = re.compile(r"(^|\.)(freqs_cis|local_freqs_cis|global_freqs_cis|rotary_emb\.inv_freq)$")


def to_internal(state: Mapping[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """Rename a foreign state dict; names already in this package's layout pass through unchanged."""
    out: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        bare = name.removeprefix("language_model.")
        if _IGNORED.search(bare):
            continue
        if bare.endswith("weight_scaler"):
            raise ValueError(f"`{name}`: int8-quantised gemma_pytorch checkpoints are not supported")
        match = _LAYER.match(bare)
        if bare in _TOP_NAMES:
            out[_TOP_NAMES[bare]] = value
        elif match and not bare.startswith("layers."):
            out.update(_layer(int(match.group(1)), match.group(2), value, config))
        else:
            out[bare] = value
    if config.tied_embeddings and "output.weight" in out:
        del out["output.weight"]  # some exports write the tied embedding twice
    return out


def _layer(i: int, rest: str, value: torch.Tensor, c: ModelConfig) -> dict[str, torch.Tensor]:
    prefix = f"layers.{i}."
    if rest == "self_attn.qkv_proj.weight":  # gemma_pytorch fuses q, k and v along the output axis
        q, k, v = value.split([c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim, c.n_kv_heads * c.head_dim])
        return {prefix + "attn.q.weight": q, prefix + "attn.k.weight": k, prefix + "attn.v.weight": v}
    if rest == "post_attention_layernorm.weight":
        # Gemma 1 calls its pre-MLP norm this; Gemma 2/3 use it after attention (sandwich norms).
        return {prefix + ("post_attn_norm.weight" if c.sandwich_norms else "ffn_norm.weight"): value}
    if rest not in _LAYER_NAMES:
        raise ValueError(f"Unknown checkpoint tensor `model.layers.{i}.{rest}`")
    return {prefix + _LAYER_NAMES[rest]: value}
