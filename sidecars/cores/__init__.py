"""Model cores, selected by name through lazy import strings (no import side effects)."""
from __future__ import annotations

import importlib
from typing import Any

from .base import Core

CORES: dict[str, str] = {
    "echo": "sidecars.cores.echo:EchoCore",
    "cifar": "sidecars.cores.cifar:CifarCore",
    "gemma": "sidecars.cores.gemma:GemmaCore",
}


def create_core(name: str, options: dict[str, Any]) -> Core:
    """Import the core named `name` and build it from the CLI's model options."""
    try:
        target = CORES[name]
    except KeyError:
        raise ValueError(f"Expected --model to be one of {sorted(CORES)}, got {name!r}") from None
    module_name, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(options)
