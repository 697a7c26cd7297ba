"""How deep a request's JSON or msgpack value may nest (docs/protocol.md, "Limits").

Our requests are flat maps; a value nested deeper than MAX_DEPTH is BAD_INPUT. Checked without
recursion, because recursion is what fails: JSON 100,000 deep raises RecursionError inside
json.loads, and a msgpack value 1,000 deep decodes but raises RecursionError wherever it is later
printed (an error message's repr), which surfaced as MODEL_ERROR.
"""
from __future__ import annotations

import json
from typing import Any

from ..errors import SidecarError

MAX_DEPTH = 32  # a map is depth 1, a list inside it 2


_CONTAINERS = (dict, list)


def check_depth(value: Any, what: str) -> None:
    """BAD_INPUT when `value`'s dicts and lists nest deeper than MAX_DEPTH."""
    if type(value) is dict:  # a flat map, every request on the hot path, at half the cost
        for item in value.values():
            if type(item) in _CONTAINERS:
                break
        else:
            return
    stack: list[tuple[Any, int]] = [(value, 1)] if type(value) in _CONTAINERS else []
    while stack:
        container, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SidecarError("BAD_INPUT", f"Expected {what} nested at most {MAX_DEPTH} deep, got deeper")
        for item in container.values() if type(container) is dict else container:
            if type(item) in _CONTAINERS:
                stack.append((item, depth + 1))


def loads_json(text: str | bytes, what: str) -> Any:
    """json.loads, with malformed or too deeply nested JSON as BAD_INPUT."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise SidecarError("BAD_INPUT", f"Expected {what} nested at most {MAX_DEPTH} deep, got far deeper") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise SidecarError("BAD_INPUT", f"Expected {what} to be UTF-8 JSON, got {exc}") from exc
    check_depth(value, what)
    return value
