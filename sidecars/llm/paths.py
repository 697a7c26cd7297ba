"""Where shared model files live: $SIDECAR_MODELS_DIR, else <repo root>/../shared/models."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def models_dir() -> Path | None:
    """The shared models directory, or None when this machine has none (tests then skip)."""
    env = os.environ.get("SIDECAR_MODELS_DIR")
    candidate = Path(env) if env else REPO_ROOT.parent / "shared" / "models"
    return candidate if candidate.is_dir() else None


def shared_model_file(name: str) -> Path | None:
    root = models_dir()
    path = root / name if root else None
    return path if path is not None and path.is_file() else None
