"""A user's model class (sidecars.model_api) behind the Core contract.

The adapter owns what the user should not have to: metadata checked once at start, the lock that
serialises a class that is not thread-safe, compute_ns timed around the user's own call, outputs
checked against the declared ones (MODEL_ERROR naming the output), any exception turned into
MODEL_ERROR, and generation run through the shared machinery (generation.py: its own thread,
cancellation when the client leaves, the stall timeout).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from typing import Any

import numpy as np

from ..errors import SidecarError
from ..model_api import ModelLoadError, build_metadata, describe_exception
from ..tensors import datatype_of
from .base import Core, GenerateEvent, GenerateRequest, InferResult
from .generation import Generation

DEFAULT_STALL_TIMEOUT_S = 30.0


class UserModelCore(Core):
    def __init__(self, cls: type, kwargs: dict[str, Any], spec: str, stall_timeout_s: float | None = None) -> None:
        try:
            self._model = cls(**kwargs)
        except Exception as exc:
            raise ModelLoadError(f"constructing {cls.__name__}({_kwargs(kwargs)}) failed: {describe_exception(exc)}") from exc
        self._metadata = build_metadata(self._model, cls)  # ModelUsageError: exit 2 before any load
        self.name = self._metadata["name"]
        self._spec = spec
        self._thread_safe = bool(getattr(self._model, "thread_safe", False))
        self._lock = threading.Lock()
        self._stall_timeout_s = stall_timeout_s or DEFAULT_STALL_TIMEOUT_S
        generate = getattr(self._model, "generate", None)
        self._generate = generate if callable(generate) else None

    def load(self) -> None:
        load = getattr(self._model, "load", None)
        if callable(load):
            try:
                load()
            except Exception as exc:
                raise ModelLoadError(f"{type(self._model).__name__}.load() failed: {describe_exception(exc)}") from exc

    def info(self) -> dict[str, Any]:
        return {"device": "user", "model_class": self._spec, "thread_safe": self._thread_safe,
                "generates": self._generate is not None}

    def metadata(self) -> dict[str, Any]:
        """Checked once at construction; callers must not mutate it."""
        return self._metadata

    def infer(self, inputs: dict[str, np.ndarray]) -> InferResult:
        with self._guard():
            start = time.perf_counter_ns()
            try:
                result = self._model.infer(inputs)
            except SidecarError:
                raise
            except Exception as exc:
                raise SidecarError("MODEL_ERROR", f"{self.name}: infer() raised {describe_exception(exc)}") from exc
            compute_ns = time.perf_counter_ns() - start
        return InferResult(outputs=self._check_outputs(result), compute_ns=compute_ns)

    def generate(self, request: GenerateRequest) -> Iterator[GenerateEvent]:
        if self._generate is None:
            raise SidecarError("UNSUPPORTED_OP", f"Model `{self.name}` does not generate text (no generate method)")
        params: dict[str, Any] = {"sampling_steps": request.sampling_steps, "temperature": request.temperature,
                                  "top_k": request.top_k, "top_p": request.top_p}
        if request.seed is not None:
            params["seed"] = request.seed
        lock = self._lock if not self._thread_safe else threading.Lock()
        return Generation(self._steps(request.prompt, params), lock, self._stall_timeout_s)

    def _steps(self, prompt: str, params: dict[str, Any]) -> Iterator[GenerateEvent]:
        """One event per piece the user's generator yields; Generation holds the lock around each step."""
        assert self._generate is not None
        start = time.perf_counter_ns()
        first_ns = compute_ns = pieces = 0
        pieces_iter: Iterator[Any] | None = None
        try:
            pieces_iter = iter(self._generate(prompt, **params))
            while True:
                t0 = time.perf_counter_ns()
                piece = next(pieces_iter, None)
                compute_ns += time.perf_counter_ns() - t0
                if piece is None:
                    break
                if not isinstance(piece, str):
                    raise SidecarError("MODEL_ERROR", f"{self.name}: generate() yielded a {type(piece).__name__}, not a str")
                if pieces == 0:
                    first_ns = time.perf_counter_ns() - start
                pieces += 1
                yield GenerateEvent(piece)
        except SidecarError:
            raise
        except Exception as exc:
            raise SidecarError("MODEL_ERROR", f"{self.name}: generate() raised {describe_exception(exc)}") from exc
        finally:
            close = getattr(pieces_iter, "close", None)
            if close is not None:
                close()
        stats = {"output_tokens": pieces, "prefill_ns": first_ns, "decode_ns": max(0, compute_ns - first_ns),
                 "ttft_ns": first_ns, "finish_reason": "stop"}
        yield GenerateEvent("", done=True, stats=stats)

    def _guard(self) -> Any:
        return nullcontext() if self._thread_safe else self._lock

    def _check_outputs(self, result: Any) -> dict[str, np.ndarray]:
        if not isinstance(result, Mapping):
            raise SidecarError("MODEL_ERROR", f"{self.name}: expected infer() to return a dict of output name "
                                              f"to array, got {type(result).__name__}")
        specs = self._metadata["outputs"]
        declared = {s["name"] for s in specs}
        extra = sorted(str(k) for k in result if k not in declared)
        if extra:
            raise SidecarError("MODEL_ERROR", f"{self.name}: infer() returned outputs {extra} that the metadata "
                                              f"does not declare (outputs: {sorted(declared)})")
        return {s["name"]: check_output(self.name, s, result.get(s["name"])) for s in specs}


def check_output(model: str, spec: Mapping[str, Any], value: Any) -> np.ndarray:
    """One output as an array of its declared datatype, rank and fixed dimensions, or MODEL_ERROR naming it."""
    name, datatype, want = spec["name"], spec["datatype"], list(spec["shape"])
    if value is None:
        raise SidecarError("MODEL_ERROR", f"{model}: infer() did not return output `{name}` ({datatype} {want})")
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise SidecarError("MODEL_ERROR", f"{model}: output `{name}` is not an array: {describe_exception(exc)}") from exc
    if datatype == "BYTES":
        array = _bytes_array(model, name, array)
    got = datatype_of(array) if array.dtype.kind not in "UO" else "BYTES"
    if got != datatype:
        raise SidecarError("MODEL_ERROR", f"{model}: output `{name}` is {got} (numpy {array.dtype}); the metadata "
                                          f"declares {datatype}")
    shape = list(array.shape)
    if len(shape) != len(want) or any(w != -1 and w != s for w, s in zip(want, shape)):
        raise SidecarError("MODEL_ERROR", f"{model}: output `{name}` has shape {shape}; the metadata declares "
                                          f"{want} (-1: any size)")
    return array


def _bytes_array(model: str, name: str, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in "OSU":
        raise SidecarError("MODEL_ERROR", f"{model}: output `{name}` is numpy {array.dtype}; the metadata declares BYTES")
    out = np.empty(array.shape, dtype=object)
    flat = out.reshape(-1)
    for i, item in enumerate(array.reshape(-1)):
        if isinstance(item, str):
            try:
                flat[i] = item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise SidecarError("MODEL_ERROR", f"{model}: element {i} of BYTES output `{name}` is not text "
                                                  f"UTF-8 can encode: {exc}") from None
        elif isinstance(item, (bytes, bytearray, memoryview)):
            flat[i] = bytes(item)
        else:
            raise SidecarError("MODEL_ERROR", f"{model}: element {i} of BYTES output `{name}` is a "
                                              f"{type(item).__name__}, not bytes or str")
    return out


def _kwargs(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
