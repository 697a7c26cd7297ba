"""Checkpoint readers, chosen by the file's first bytes; each returns tensors under our names."""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import CONFIGS, ModelConfig
from ..model import Transformer
from .gemma_ckpt import read_torch_checkpoint
from .llama2c import read_llama2c
from .names import to_internal
from .safetensors import read_safetensors


def checkpoint_kind(path: str | Path) -> str:
    """'gguf', 'torch', 'safetensors' or 'llama2c'."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist")
    with path.open("rb") as f:
        head = f.read(9)
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":  # torch zip archive, or a legacy pickle
        return "torch"
    if path.suffix == ".safetensors" or head[8:9] == b"{":
        return "safetensors"
    return "llama2c"


def read_checkpoint(path: str | Path, config: ModelConfig | None) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """Config and state dict of a checkpoint. llama2.c and GGUF files carry their own config (the
    argument is ignored); torch and safetensors files use `config`, or the named config whose
    parameter shapes they match."""
    kind = checkpoint_kind(path)
    if kind == "llama2c":
        return read_llama2c(path)
    if kind == "gguf":
        from .gguf import read_gguf  # needs the optional `gguf` package

        return read_gguf(path)
    raw = read_safetensors(path)[0] if kind == "safetensors" else read_torch_checkpoint(path)
    config = config or infer_config(raw, str(path))
    return config, to_internal(raw, config)


def parameter_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    model = Transformer(config, device="meta")  # shapes only, no memory
    return {name: tuple(p.shape) for name, p in model.named_parameters()}


def infer_config(raw: dict[str, torch.Tensor], source: str) -> ModelConfig:
    for config in CONFIGS.values():
        try:
            state = to_internal(raw, config)
        except ValueError:
            continue
        if {n: tuple(t.shape) for n, t in state.items()} == parameter_shapes(config):
            return config
    raise ValueError(f"{source} matches none of the configs {sorted(CONFIGS)}; pass `config` explicitly")
