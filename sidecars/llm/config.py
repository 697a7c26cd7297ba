"""Model shapes by name, and the architecture switches one decoder implementation reads.

`arch` picks the family (gemma: (1 + w) RMSNorm, GeGLU, sqrt(d) embedding scale, tied output;
llama: plain RMSNorm, SwiGLU). Gemma 2 / 3 differences are flags on the same dataclass, so the
model code branches on features, never on a version number.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

Arch = Literal["gemma", "llama"]
ARCHES: tuple[Arch, ...] = ("gemma", "llama")


@dataclass(frozen=True)
class ModelConfig:
    name: str
    arch: Arch
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_dim: int
    vocab_size: int
    norm_eps: float = 1e-6
    rope_theta: float = 10_000.0  # global (full-attention) layers
    rope_theta_local: float = 10_000.0  # sliding-window layers (Gemma 3 uses a smaller base there)
    rope_interleaved: bool = False  # llama2.c rotates (x0, x1) pairs; Gemma rotates the two halves
    sliding_window: int | None = None  # keys visible to a local layer, the query itself included
    global_every: int = 1  # layer i is global when (i + 1) % global_every == 0; 1 means all global
    sandwich_norms: bool = False  # Gemma 2/3: extra norms after attention and after the MLP
    qk_norm: bool = False  # Gemma 3: RMSNorm on each query and key head before RoPE
    attn_softcap: float | None = None  # Gemma 2: cap * tanh(scores / cap)
    final_softcap: float | None = None
    query_scale: float | None = None  # query_pre_attn_scalar; None means head_dim
    tied_embeddings: bool = True
    max_seq_len: int = 8192

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise ValueError(f"Expected `arch` to be one of {ARCHES}, got {self.arch!r}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"Expected n_heads ({self.n_heads}) to be a multiple of n_kv_heads ({self.n_kv_heads})")
        if self.head_dim % 2:
            raise ValueError(f"Expected an even head_dim for RoPE, got {self.head_dim}")

    @property
    def is_gemma(self) -> bool:
        return self.arch == "gemma"

    def is_local(self, layer: int) -> bool:
        return self.sliding_window is not None and (layer + 1) % self.global_every != 0


def _gemma(name: str, layers: int, d: int, heads: int, kv: int, head_dim: int, ffn: int, vocab: int,
           **extra: Any) -> ModelConfig:
    return ModelConfig(name, "gemma", layers, d, heads, kv, head_dim, ffn, vocab, **extra)


_GEMMA2: dict[str, Any] = dict(sliding_window=4096, global_every=2, sandwich_norms=True, attn_softcap=50.0,
                               final_softcap=30.0)
_GEMMA3: dict[str, Any] = dict(sliding_window=512, global_every=6, sandwich_norms=True, qk_norm=True,
               rope_theta=1_000_000.0, rope_theta_local=10_000.0, max_seq_len=32_768)

CONFIGS: dict[str, ModelConfig] = {
    # Gemma 3 features at CPU-test size; a local layer every other layer so 4 layers exercise both kinds.
    # Width 64: decoding reads the whole 262144-row embedding per token, so width sets its speed.
    "tiny": _gemma("tiny", 4, 64, 4, 1, 16, 256, 262_144, **{**_GEMMA3, "global_every": 2}),
    "gemma-2b": _gemma("gemma-2b", 18, 2048, 8, 1, 256, 16_384, 256_000),
    "gemma-7b": _gemma("gemma-7b", 28, 3072, 16, 16, 256, 24_576, 256_000),
    "gemma2-2b": _gemma("gemma2-2b", 26, 2304, 8, 4, 256, 9216, 256_000, **_GEMMA2),
    "gemma3-270m": _gemma("gemma3-270m", 18, 640, 4, 1, 256, 2048, 262_144, **_GEMMA3),
    "stories260K": ModelConfig("stories260K", "llama", 5, 64, 8, 4, 8, 172, 512, norm_eps=1e-5,
                               rope_interleaved=True, max_seq_len=512),
}

# Shared Gemma tokenizer file each config's vocabulary comes from (looked up in the models directory).
TOKENIZER_FILES: dict[int, str] = {256_000: "gemma-tokenizer.model", 262_144: "gemma3-tokenizer.model",
                                   512: "tok512.bin"}


def as_llama(config: ModelConfig) -> ModelConfig:
    """The same shape with llama's blocks, for `--arch llama --config gemma-2b` compute-cost runs."""
    return dataclasses.replace(
        config, arch="llama", sliding_window=None, global_every=1, sandwich_norms=False, qk_norm=False,
        attn_softcap=None, final_softcap=None, query_scale=None, rope_interleaved=True,
        rope_theta=10_000.0, rope_theta_local=10_000.0, norm_eps=1e-5,
    )


def get_config(name: str, arch: Arch | None = None) -> ModelConfig:
    try:
        config = CONFIGS[name]
    except KeyError:
        raise ValueError(f"Expected `config` to be one of {sorted(CONFIGS)}, got {name!r}") from None
    if arch is None or arch == config.arch:
        return config
    if arch == "llama":
        return as_llama(config)
    raise ValueError(f"Config {name!r} is a llama shape; it has no gemma variant (use a gemma config)")
