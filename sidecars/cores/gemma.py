"""The LLM core: our decoder (sidecars.llm) behind the Core contract, Gemma by default.

Options (all optional): arch, config, checkpoint ($MODEL_CHECKPOINT), tokenizer ($MODEL_TOKENIZER),
random_init, seed, device, dtype, cache_size, max_batch, threads. Stats of a generation:
prompt_tokens (BOS included), output_tokens (streamed tokens, EOS excluded), prefill_ns (prompt
forward + first sampling), decode_ns (the later steps' compute, not the time the consumer holds a
yielded event), ttft_ns (tokenizing + prefill, not the wait for the lock), finish_reason.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Iterator

import torch

from ..cifar_model import describe_device, select_device
from ..errors import SidecarError
from ..llm.build import build_model, find_tokenizer
from ..llm.config import ARCHES
from ..llm.model import Transformer
from ..llm.sampler import Sampling, generate_ids
from ..llm.tokenizer import Tokenizer, load_tokenizer
from .base import Core, GenerateEvent, GenerateRequest

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
DEFAULTS: dict[str, Any] = {"arch": None, "config": None, "checkpoint": None, "tokenizer": None, "random_init": False,
                            "seed": 0, "device": "auto", "dtype": None, "cache_size": 1024, "max_batch": 16,
                            "threads": None}


def _positive(opts: dict[str, Any], name: str) -> int:
    value = opts[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Expected `{name}` to be a positive integer, got {value!r}")
    return value


class GemmaCore(Core):
    """Generation runs under one lock (held from a generation's first step to its last event), so
    one request has the model, its cache and torch's threads to itself."""

    name = "gemma"

    def __init__(self, options: dict[str, Any]) -> None:
        env = {"checkpoint": os.environ.get("MODEL_CHECKPOINT"), "tokenizer": os.environ.get("MODEL_TOKENIZER")}
        given = {k: v for k, v in options.items() if v is not None}
        opts = {**DEFAULTS, **{k: v for k, v in env.items() if v}, **given}
        if opts["arch"] is not None and opts["arch"] not in ARCHES:
            raise ValueError(f"Expected `arch` to be one of {list(ARCHES)}, got {opts['arch']!r}")
        if opts["dtype"] is not None and opts["dtype"] not in DTYPES:
            raise ValueError(f"Expected `dtype` to be one of {list(DTYPES)}, got {opts['dtype']!r}")
        self._opts = opts
        self._cache_size = _positive(opts, "cache_size")
        self._max_batch = _positive(opts, "max_batch")
        self._lock = threading.Lock()
        self._model: Transformer | None = None
        self._tokenizer: Tokenizer | None = None
        self._weights = ""
        self._device = torch.device("cpu")

    def load(self) -> None:
        o = self._opts
        if o["threads"]:
            torch.set_num_threads(int(o["threads"]))
        self._device = select_device(str(o["device"]))
        dtype = DTYPES[o["dtype"] or ("bfloat16" if self._device.type == "cuda" else "float32")]
        built = build_model(o["config"], o["arch"], o["checkpoint"], bool(o["random_init"]), int(o["seed"]),
                            dtype, self._device)
        checkpoint = None if built.weights.startswith("random-init") else built.weights
        tokenizer = o["tokenizer"]
        self._tokenizer = load_tokenizer(tokenizer) if tokenizer else find_tokenizer(built.model.config, checkpoint)
        self._model, self._weights = built.model.eval(), built.weights
        # One short generation allocates buffers and picks kernels before the first timed request.
        for _ in self.generate(GenerateRequest("Hello", sampling_steps=2)):
            pass

    def info(self) -> dict[str, Any]:
        model, tokenizer = self._ready()
        return {"device": describe_device(self._device), "arch": model.config.arch, "config": model.config.name,
                "weights": self._weights, "dtype": str(model.dtype).removeprefix("torch."),
                "params": model.param_count(), "tokenizer": tokenizer.path, "cache_size": self._cache_size,
                "torch": torch.__version__, "threads": torch.get_num_threads()}

    def generate(self, request: GenerateRequest) -> Iterator[GenerateEvent]:
        """Validates now (raising BAD_INPUT here, before any event) and returns the event stream."""
        start = time.perf_counter_ns()
        ids = self._prompt_ids(request.prompt)
        self._check_request(request, len(ids))
        sampling = Sampling(request.temperature, request.top_k, request.top_p, request.seed)
        return self._events(ids, request.sampling_steps, sampling, time.perf_counter_ns() - start)

    def generate_batch(self, prompts: list[str], steps: int, sampling: Sampling | None = None) -> dict[str, Any]:
        """All prompts in one batch (the in-process baseline's offline mode); per-row text and ids."""
        if not 1 <= len(prompts) <= self._max_batch:
            raise SidecarError("BAD_INPUT", f"Expected 1 to {self._max_batch} prompts, got {len(prompts)}")
        rows = [self._prompt_ids(p) for p in prompts]
        self._check_request(GenerateRequest(prompts[0], steps), max(len(r) for r in rows))
        model, tokenizer = self._ready()
        outputs: list[list[int]] = [[] for _ in rows]
        done = [False] * len(rows)
        prefill_ns = 0
        with self._lock:
            start = time.perf_counter_ns()
            for step, ids in enumerate(generate_ids(model, rows, steps, sampling or Sampling(),
                                                    tokenizer.eos_ids, self._cache_size)):
                if step == 0:
                    prefill_ns = time.perf_counter_ns() - start
                for row, token in enumerate(ids):
                    done[row] = done[row] or token in tokenizer.eos_ids
                    if not done[row]:
                        outputs[row].append(token)
            total_ns = time.perf_counter_ns() - start
        return {"texts": [tokenizer.decode(o, continuation=True) for o in outputs], "token_ids": outputs,
                "finish_reasons": ["eos" if d else "length" for d in done],
                "prompt_tokens": [len(r) for r in rows], "output_tokens": [len(o) for o in outputs],
                "prefill_ns": prefill_ns, "decode_ns": total_ns - prefill_ns}

    def _events(self, ids: list[int], steps: int, sampling: Sampling, encode_ns: int) -> Iterator[GenerateEvent]:
        model, tokenizer = self._ready()
        with self._lock:
            stream = generate_ids(model, [ids], steps, sampling, tokenizer.eos_ids, self._cache_size)
            text = tokenizer.stream()
            prefill_ns = decode_ns = produced = 0
            finish = "length"
            try:
                for step in range(steps):
                    t0 = time.perf_counter_ns()
                    token = next(stream)[0]
                    elapsed = time.perf_counter_ns() - t0
                    if step == 0:
                        prefill_ns = elapsed
                    else:
                        decode_ns += elapsed
                    if token in tokenizer.eos_ids:
                        finish = "eos"
                        break
                    produced += 1
                    yield GenerateEvent(text.push(token), [token])
            finally:
                stream.close()
            stats = {"prompt_tokens": len(ids), "output_tokens": produced, "prefill_ns": prefill_ns,
                     "decode_ns": decode_ns, "ttft_ns": encode_ns + prefill_ns, "finish_reason": finish}
            yield GenerateEvent(text.flush(), [], done=True, stats=stats)

    def _prompt_ids(self, prompt: str) -> list[int]:
        model, tokenizer = self._ready()
        if not isinstance(prompt, str) or not prompt:
            raise SidecarError("BAD_INPUT", f"Expected `prompt` to be a non-empty string, got {prompt!r}")
        ids = tokenizer.encode(prompt)
        if len(ids) > self._cache_size:
            raise SidecarError("BAD_INPUT", f"Expected the prompt to fit the KV cache (cache_size "
                                            f"{self._cache_size} tokens), got {len(ids)} tokens")
        too_big = [i for i in ids if i >= model.config.vocab_size]
        if too_big:
            raise SidecarError("BAD_INPUT", f"Prompt token ids {too_big[:4]} are outside the model's "
                                            f"vocabulary of {model.config.vocab_size}")
        return ids

    def _check_request(self, r: GenerateRequest, prompt_tokens: int) -> None:
        steps, room = r.sampling_steps, self._cache_size - prompt_tokens
        if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
            raise SidecarError("BAD_INPUT", f"Expected `sampling_steps` to be a positive integer, got {steps!r}")
        if steps > room:
            raise SidecarError("BAD_INPUT", f"Expected `sampling_steps` to be at most {room} (cache_size "
                                            f"{self._cache_size} minus {prompt_tokens} prompt tokens), got {steps}")
        if r.temperature < 0:
            raise SidecarError("BAD_INPUT", f"Expected `temperature` to be >= 0, got {r.temperature}")
        if r.top_k < 0:
            raise SidecarError("BAD_INPUT", f"Expected `top_k` to be >= 0, got {r.top_k}")
        if not 0 < r.top_p <= 1:
            raise SidecarError("BAD_INPUT", f"Expected `top_p` to be in (0, 1], got {r.top_p}")

    def _ready(self) -> tuple[Transformer, Tokenizer]:
        if self._model is None or self._tokenizer is None:
            raise SidecarError("INTERNAL", "Gemma core used before load()")
        return self._model, self._tokenizer
