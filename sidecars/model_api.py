"""Bring your own model: one Python class in one file, served on every wire (docs/your-model.md).

    python -m sidecars --model path/to/file.py:Class --transport framed --listen unix:/tmp/m.sock
    python -m sidecars --model package.module:Class [--model-arg key=value ...] ...

The contract (a plain class; no base class to inherit):

    class MyModel:
        name = "my-model"                                   # str, non-empty
        inputs = [{"name": "features", "datatype": "FP32", "shape": [-1, 32]}]
        outputs = [{"name": "label", "datatype": "INT64", "shape": [-1]}]
        thread_safe = False                                 # optional; False: calls are serialised
        version = "1"                                       # optional; metadata "versions"
        platform = "pytorch"                                # optional; metadata "platform" ("python")

        def __init__(self, **kwargs): ...                   # no required arguments; --model-arg k=v
        def load(self) -> None: ...                         # optional; weights, warm-up
        def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...
        def generate(self, prompt: str, **params) -> Iterator[str]: ...   # optional, text models

- `datatype` is an Open Inference Protocol name (sidecars.tensors.DATATYPES: BOOL, UINT8..UINT64,
  INT8..INT64, FP16, FP32, FP64, BYTES); `shape` lists at most 8 dimensions, -1 for any size.
  Names are unique, 1-255 UTF-8 bytes; at most 64 inputs and 64 outputs.
- infer() gets every declared input, already checked (datatype, rank, fixed dimensions) and
  read-only (copy before writing to one); BYTES inputs are object arrays of `bytes`. It returns
  every declared output (numpy arrays, or anything np.asarray takes; BYTES as bytes or str) of the
  declared datatype, rank and fixed dimensions, and no other: otherwise MODEL_ERROR naming it.
- generate() yields text pieces; `params` are sampling_steps, temperature, top_k, top_p, and seed
  when the client sent one. Accept **params to ignore those you do not use.
- An exception from load() ends startup (exit 3); one from infer() or generate() answers that
  request with MODEL_ERROR (a SidecarError keeps its own code) and the sidecar keeps serving.
- `--model-arg key=value` values are JSON when they parse as JSON (`n=3`, `flag=true`), else text.

Startup exit codes (sidecars.cli): 2 for a bad `--model` spelling, a bad `--model-arg` or bad
metadata (the message names the field); 3 when the file or module cannot be imported, the class is
missing, has no infer(), or its constructor or load() raises. Each is one line on stderr.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .tensors import DATATYPES, MAX_RANK, MAX_TENSORS

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_MODULE = re.compile(rf"{_IDENT}(\.{_IDENT})*")
_CLASS = re.compile(_IDENT)
_KEY = re.compile(_IDENT)
MAX_NAME_BYTES = 255  # framed infer carries a tensor's name after a u8 length


class ModelUsageError(ValueError):
    """A bad `--model` spelling, `--model-arg` or metadata: exit code 2."""


class ModelLoadError(Exception):
    """The model cannot be imported, built or loaded: exit code 3."""


def is_model_spec(text: str) -> bool:
    """Whether `--model` names a user class (`file.py:Class`, `package.module:Class`)."""
    return ":" in text


def parse_model_args(pairs: Sequence[str]) -> dict[str, Any]:
    """`key=value` strings as constructor kwargs; a value is JSON when it parses as JSON, else text."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not _KEY.fullmatch(key):
            raise ModelUsageError(f"Expected `--model-arg` to be key=value with a Python identifier as key, got {pair!r}")
        if key in kwargs:
            raise ModelUsageError(f"Expected each `--model-arg` key once, got {key!r} twice")
        try:
            kwargs[key] = json.loads(text)
        except ValueError:
            kwargs[key] = text
    return kwargs


def load_class(spec: str) -> type:
    """The class `spec` names. ModelUsageError for a bad spelling, ModelLoadError when it cannot load."""
    target, _, class_name = spec.rpartition(":")
    if not target or not _CLASS.fullmatch(class_name):
        raise ModelUsageError(f"Expected `--model` to be echo, cifar, gemma, path/to/file.py:Class or "
                              f"package.module:Class, got {spec!r}")
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _import_file(Path(target), spec)
    elif _MODULE.fullmatch(target):
        module = _import_module(target, spec)
    else:
        raise ModelUsageError(f"Expected `--model` to be path/to/file.py:Class or package.module:Class, got {spec!r}")
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        found = "not found" if cls is None else f"not a class but a value of type {type(cls).__name__}"
        raise ModelLoadError(f"`{class_name}` in {target} is {found}")
    if not callable(getattr(cls, "infer", None)):
        raise ModelLoadError(f"Class `{class_name}` in {target} has no infer(self, inputs) method")
    return cls


def _import_file(path: Path, spec: str) -> Any:
    if not path.is_file():
        raise ModelLoadError(f"Model file {path} does not exist")
    name = f"sidecar_user_model_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ModelLoadError(f"Model file {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    sys.path.insert(0, str(path.resolve().parent))  # as `python file.py` would: its neighbours import
    try:
        module_spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        raise ModelLoadError(f"importing {path} failed: {describe_exception(exc)}") from exc
    return module


def _import_module(target: str, spec: str) -> Any:
    try:
        return importlib.import_module(target)
    except BaseException as exc:
        raise ModelLoadError(f"importing module {target} failed: {describe_exception(exc)}") from exc


def describe_exception(exc: BaseException) -> str:
    """One line: the exception and where in the user's code it was raised (not a traceback wall)."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    if frames and not isinstance(exc, SyntaxError):
        last = frames[-1]
        text += f" (at {last.filename}:{last.lineno})"
    return text


def build_metadata(model: Any, cls: type) -> dict[str, Any]:
    """The OIP model metadata of a user model, checked: ModelUsageError names the bad field."""
    where = cls.__name__
    name = getattr(model, "name", None)
    if not isinstance(name, str) or not name:
        raise ModelUsageError(f"Expected `{where}.name` to be a non-empty string, got {_short(name)}")
    version = getattr(model, "version", None)
    if version is not None and not isinstance(version, str):
        raise ModelUsageError(f"Expected `{where}.version` to be a string, got {_short(version)}")
    platform = getattr(model, "platform", "python")
    if not isinstance(platform, str):
        raise ModelUsageError(f"Expected `{where}.platform` to be a string, got {_short(platform)}")
    thread_safe = getattr(model, "thread_safe", False)
    if not isinstance(thread_safe, bool):
        raise ModelUsageError(f"Expected `{where}.thread_safe` to be True or False, got {_short(thread_safe)}")
    return {"name": name, "versions": [version] if version else [], "platform": platform,
            "inputs": tensor_specs(getattr(model, "inputs", None), f"{where}.inputs"),
            "outputs": tensor_specs(getattr(model, "outputs", None), f"{where}.outputs")}


def tensor_specs(specs: Any, field: str) -> list[dict[str, Any]]:
    """A checked copy of a list of `{"name", "datatype", "shape"}` (metadata's inputs or outputs)."""
    if not isinstance(specs, (list, tuple)) or not 1 <= len(specs) <= MAX_TENSORS:
        raise ModelUsageError(f"Expected `{field}` to be a list of 1 to {MAX_TENSORS} tensor specs, got {_short(specs)}")
    out: list[dict[str, Any]] = []
    for i, spec in enumerate(specs):
        at = f"{field}[{i}]"
        if not isinstance(spec, Mapping):
            raise ModelUsageError(f"Expected `{at}` to be a dict with name, datatype and shape, got {_short(spec)}")
        extra = sorted(set(spec) - {"name", "datatype", "shape"})
        if extra:
            raise ModelUsageError(f"Expected `{at}` to have only name, datatype and shape, got {extra}")
        name, datatype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
        if not isinstance(name, str) or not 1 <= len(_utf8(name)) <= MAX_NAME_BYTES:
            raise ModelUsageError(f"Expected `{at}.name` to be a string of 1 to {MAX_NAME_BYTES} UTF-8 bytes, got {_short(name)}")
        if any(o["name"] == name for o in out):
            raise ModelUsageError(f"Expected the names in `{field}` to be unique, got {name!r} twice")
        if not isinstance(datatype, str) or datatype not in DATATYPES:
            raise ModelUsageError(f"Expected `{at}.datatype` to be one of {', '.join(DATATYPES)}, got {_short(datatype)}")
        if (not isinstance(shape, (list, tuple)) or len(shape) > MAX_RANK
                or any(isinstance(d, bool) or not isinstance(d, int) or d < -1 for d in shape)):
            raise ModelUsageError(f"Expected `{at}.shape` to be a list of at most {MAX_RANK} integers "
                                  f"(-1 for any size), got {_short(shape)}")
        out.append({"name": name, "datatype": datatype, "shape": [int(d) for d in shape]})
    return out


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no wire can carry the name
        return b""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
