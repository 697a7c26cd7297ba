"""Model cores, selected by name through lazy import strings (no import side effects), or a user's
model class (`file.py:Class`, `package.module:Class`; sidecars.model_api) behind cores/user.py."""
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
    """Import the core named `name` and build it from the CLI's model options. A user class gets
    `options["model_args"]` as constructor kwargs; model_api's ModelUsageError (exit 2) and
    ModelLoadError (exit 3) say what is wrong with it."""
    from ..model_api import ModelUsageError, is_model_spec

    model_args = options.get("model_args") or {}
    if is_model_spec(name):
        from ..model_api import load_class
        from .user import UserModelCore

        return UserModelCore(load_class(name), dict(model_args), name, options.get("client_stall_timeout_s"))
    try:
        target = CORES[name]
    except KeyError:
        raise ModelUsageError(f"Expected `--model` to be one of {sorted(CORES)}, path/to/file.py:Class or "
                              f"package.module:Class, got {name!r}") from None
    if model_args:
        raise ModelUsageError(f"Expected `--model-arg` only with a model class (--model file.py:Class), "
                              f"not the built-in `{name}`")
    module_name, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory({k: v for k, v in options.items() if k != "model_args"})
