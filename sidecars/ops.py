"""Request validation shared by every front-end, so each wire rejects bad input the same way."""
from __future__ import annotations

from typing import Any

from .cores.base import GenerateRequest
from .errors import SidecarError

MAX_BATCH_IMAGES = 4096


def generate_request(fields: dict[str, Any]) -> GenerateRequest:
    """Build a GenerateRequest from decoded JSON/msgpack/proto fields, checking each type."""
    prompt = fields.get("prompt")
    if not isinstance(prompt, str):
        raise SidecarError("BAD_INPUT", f"Expected `prompt` to be a string, got {type(prompt).__name__}")
    steps = fields.get("sampling_steps", 128)
    if steps is None:
        steps = 128
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise SidecarError(
            "BAD_INPUT", f"Expected `sampling_steps` to be an integer, got {type(steps).__name__}"
        )
    temperature = _number(fields, "temperature", 0.0)
    top_p = _number(fields, "top_p", 1.0)
    top_k = fields.get("top_k", 0) or 0
    seed = fields.get("seed")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise SidecarError("BAD_INPUT", f"Expected `top_k` to be a non-negative integer, got {top_k!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise SidecarError("BAD_INPUT", f"Expected `seed` to be an integer, got {seed!r}")
    return GenerateRequest(prompt, steps, temperature, top_k, top_p, seed)


def _number(fields: dict[str, Any], name: str, default: float) -> float:
    value = fields.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SidecarError("BAD_INPUT", f"Expected `{name}` to be a number, got {value!r}")
    return float(value)
