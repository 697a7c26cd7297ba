"""Request validation shared by every front-end, so each wire rejects bad input the same way."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .cores.base import Core, GenerateEvent, GenerateRequest, InferResult
from .errors import SidecarError

MAX_BATCH_IMAGES = 4096
DEFAULT_SAMPLING_STEPS = 128


def infer(core: Core, inputs: dict[str, Any], datatypes: dict[str, str]) -> InferResult:
    """The one infer path every front-end takes: decoded tensors (sidecars.tensors), with the
    datatype each arrived as, checked against the model's metadata, then run."""
    from .tensors import check_inputs  # numpy only where tensors are used

    check_inputs(core.metadata()["inputs"], inputs, datatypes)
    return core.infer(inputs)


def generate_request(fields: dict[str, Any]) -> GenerateRequest:
    """Build a GenerateRequest from decoded JSON/msgpack/proto fields, checking each type."""
    prompt = fields.get("prompt")
    if not isinstance(prompt, str):
        raise SidecarError("BAD_INPUT", f"Expected `prompt` to be a string, got {type(prompt).__name__}")
    steps = sampling_steps(fields.get("sampling_steps"))
    temperature = _number(fields, "temperature", 0.0)
    top_p = _number(fields, "top_p", 1.0)
    top_k = fields.get("top_k", 0) or 0
    seed = fields.get("seed")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise SidecarError("BAD_INPUT", f"Expected `top_k` to be a non-negative integer, got {top_k!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise SidecarError("BAD_INPUT", f"Expected `seed` to be an integer, got {seed!r}")
    return GenerateRequest(prompt, steps, temperature, top_k, top_p, seed)


def start_generation(core: Core, request: GenerateRequest,
                     gone: Callable[[], bool] | None = None) -> Iterator[GenerateEvent]:
    """The core's events for `request` (validation errors raise here). `gone`, a check that the
    client has left (any thread may call it), cancels the generation between model steps. Close
    the events (close_events) once done with them, so that a generation nobody reads stops."""
    events = core.generate(request)
    cancel_when = getattr(events, "cancel_when", None)  # a plain generator cannot be cancelled
    if gone is not None and cancel_when is not None:
        cancel_when(gone)
    return events


@contextmanager
def generation(core: Core, request: GenerateRequest,
               gone: Callable[[], bool] | None = None) -> Iterator[Iterator[GenerateEvent]]:
    """start_generation, closed on leaving the block."""
    events = start_generation(core, request, gone)
    try:
        yield events
    finally:
        close_events(events)


def close_events(events: Iterator[GenerateEvent]) -> None:
    close = getattr(events, "close", None)
    if close is not None:
        close()


def sampling_steps(value: Any) -> int:
    """`sampling_steps` as the idea's server reads it, `int(request.json.get("sampling_steps", 128))`:
    an integer, an integral float (`8.0`) or a string `int()` reads (`"8"`); absent or null is the
    default. Anything else (`true`, `8.5`, `"8.0"`, `"eight"`, a list) is BAD_INPUT, where the idea's
    `int()` would truncate a float or fail with a 500."""
    if value is None:
        return DEFAULT_SAMPLING_STEPS
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    raise SidecarError(
        "BAD_INPUT",
        f"Expected `sampling_steps` to be an integer, an integral number or a numeric string, got {shown}",
    )


def class_name(core: Core, label: int) -> str:
    """The name of class `label`; a classifier without names answers with the index as its name."""
    try:
        names = core.class_names()
    except SidecarError:
        return str(label)
    return names[label] if label < len(names) else str(label)


def _number(fields: dict[str, Any], name: str, default: float) -> float:
    value = fields.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SidecarError("BAD_INPUT", f"Expected `{name}` to be a number, got {value!r}")
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float, as JSON may carry
        message = f"Expected `{name}` to be a number a float can hold, got an integer of {value.bit_length()} bits"
        raise SidecarError("BAD_INPUT", message) from None
