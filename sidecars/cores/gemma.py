"""The LLM core: our decoder (sidecars.llm) behind the Core contract, Gemma by default.

Options (all optional): arch, config, checkpoint ($MODEL_CHECKPOINT), tokenizer ($MODEL_TOKENIZER),
random_init, seed, device, dtype, cache_size, max_batch, threads, client_stall_timeout_s. Stats of a generation:
prompt_tokens (BOS included), output_tokens (streamed tokens, EOS excluded), prefill_ns (prompt
forward + first sampling), decode_ns (the later steps' compute, not the time the consumer holds a
yielded event), ttft_ns (tokenizing + prefill, not the wait for the lock), finish_reason.

Limits (docs/protocol.md, "Limits for generation"): a prompt is refused before it is tokenized when
it has more UTF-8 bytes than `cache_size` tokens could hold (max_prompt_bytes); a generation runs
on a thread of its own (generation.py), so a client that does not read cannot hold the model.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Iterator

import numpy as np
import torch

from ..device import DTYPES, describe_device, dtype_name, gpu_facts, resolve_dtype, select_device, synchronize, wants_cuda
from ..errors import SidecarError
from ..llm.build import build_model, find_tokenizer
from ..llm.config import ARCHES
from ..llm.model import Transformer
from ..llm.sampler import Sampling, generate_ids, sampling_problem
from ..llm.tokenizer import Tokenizer, load_tokenizer
from .base import Core, GenerateEvent, GenerateRequest, InferResult
from .generation import Generation

# infer: one prompt in, its whole generation out, at the default length (no optional inputs: the
# generic infer op checks that every declared input is there); generate takes sampling_steps and more.
METADATA: dict[str, Any] = {
    "name": "gemma", "versions": [], "platform": "pytorch",
    "inputs": [{"name": "text_input", "datatype": "BYTES", "shape": [1]}],
    "outputs": [{"name": "text_output", "datatype": "BYTES", "shape": [1]}],
}
INFER_SAMPLING_STEPS = 128  # ops.DEFAULT_SAMPLING_STEPS, what generate uses when a request names none
DEFAULTS: dict[str, Any] = {"arch": None, "config": None, "checkpoint": None, "tokenizer": None, "random_init": False,
                            "seed": 0, "device": "auto", "dtype": None, "cache_size": 1024, "max_batch": 16,
                            "threads": None, "client_stall_timeout_s": 30.0}


def _positive(opts: dict[str, Any], name: str) -> int:
    value = opts[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Expected `{name}` to be a positive integer, got {value!r}")
    return value


class GemmaCore(Core):
    """Generation runs under one lock, held from a generation's first step to its last while its
    client keeps up, so one request has the model, its cache and torch's threads to itself; a
    generation whose client falls behind lets go of it (generation.py)."""

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
        stall = opts["client_stall_timeout_s"]
        if isinstance(stall, bool) or not isinstance(stall, (int, float)) or not 0 < stall < float("inf"):
            raise ValueError(f"Expected `client_stall_timeout_s` to be a positive number of seconds, got {stall!r}")
        self._stall_timeout_s = float(stall)
        self._max_prompt_bytes = 0  # set by load(), from the tokenizer
        self._lock = threading.Lock()
        self._model: Transformer | None = None
        self._tokenizer: Tokenizer | None = None
        self._weights = ""
        self._device = torch.device("cpu")

    def uses_cuda(self) -> bool:
        return wants_cuda(str(self._opts["device"]))

    def load(self) -> None:
        o = self._opts
        if o["threads"]:
            torch.set_num_threads(int(o["threads"]))
        self._device = select_device(str(o["device"]))
        dtype = resolve_dtype(o["dtype"], self._device, cuda_default="bfloat16")
        built = build_model(o["config"], o["arch"], o["checkpoint"], bool(o["random_init"]), int(o["seed"]),
                            dtype, self._device)
        checkpoint = None if built.weights.startswith("random-init") else built.weights
        tokenizer = o["tokenizer"]
        self._tokenizer = load_tokenizer(tokenizer) if tokenizer else find_tokenizer(built.model.config, checkpoint)
        self._model, self._weights = built.model.eval(), built.weights
        # No token covers more of the text than its longest piece: a prompt longer than this cannot fit.
        self._max_prompt_bytes = self._cache_size * self._tokenizer.max_token_bytes()
        # One short generation allocates buffers and picks kernels before the first timed request
        # (here, on this thread, so that a dtype torch cannot run raises as itself).
        try:
            with self._lock:
                for _ in self._steps(self._prompt_ids("Hello"), 2, Sampling(), 0):
                    pass
        except RuntimeError as exc:  # e.g. float16 matmuls on a CPU torch 1.13 cannot run
            if dtype == torch.float32:
                raise
            raise ValueError(f"Expected a `dtype` that torch {torch.__version__} runs this model in on "
                             f"{self._device.type}, got {dtype_name(dtype)!r}: {exc}") from exc

    def info(self) -> dict[str, Any]:
        model, tokenizer = self._ready()
        return {"device": describe_device(self._device), **gpu_facts(self._device), "arch": model.config.arch, "config": model.config.name,
                "weights": self._weights, "dtype": dtype_name(model.dtype),
                "params": model.param_count(), "tokenizer": tokenizer.path, "cache_size": self._cache_size,
                "max_prompt_bytes": self._max_prompt_bytes, "client_stall_timeout_s": self._stall_timeout_s,
                "torch": torch.__version__, "threads": torch.get_num_threads()}

    def metadata(self) -> dict[str, Any]:
        return METADATA

    def infer(self, inputs: dict[str, np.ndarray]) -> InferResult:
        """Greedy generation of INFER_SAMPLING_STEPS tokens (fewer when the cache or EOS says so) for
        the one prompt; compute_ns is prefill plus decode, as generate's stats count them."""
        raw = bytes(inputs["text_input"].reshape(-1)[0])
        try:
            prompt = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SidecarError("BAD_INPUT", f"Expected `text_input` to be UTF-8 text: {exc}") from None
        room = self._cache_size - len(self._prompt_ids(prompt))
        request = GenerateRequest(prompt=prompt, sampling_steps=max(1, min(INFER_SAMPLING_STEPS, room)))
        events = self.generate(request)
        text: list[str] = []
        stats: dict[str, Any] = {}
        try:
            for event in events:
                text.append(event.text)
                if event.done:
                    stats = event.stats
        finally:
            events.close()
        out = np.empty(1, dtype=object)
        out[0] = "".join(text).encode("utf-8")
        return InferResult(outputs={"text_output": out},
                           compute_ns=int(stats.get("prefill_ns", 0)) + int(stats.get("decode_ns", 0)))

    def generate(self, request: GenerateRequest) -> Generation:
        """Validates now (raising BAD_INPUT here, before any event) and returns the event stream,
        which computes on a thread of its own once read (close it to cancel)."""
        start = time.perf_counter_ns()
        sampling = Sampling(request.temperature, request.top_k, request.top_p, request.seed)
        _check_sampling(sampling)
        ids = self._prompt_ids(request.prompt)
        self._check_steps(request.sampling_steps, len(ids))
        steps = self._steps(ids, request.sampling_steps, sampling, time.perf_counter_ns() - start)
        return Generation(steps, self._lock, self._stall_timeout_s)

    def generate_batch(self, prompts: list[str], steps: int, sampling: Sampling | None = None) -> dict[str, Any]:
        """All prompts in one batch (the in-process baseline's offline mode); per-row text and ids."""
        if not 1 <= len(prompts) <= self._max_batch:
            raise SidecarError("BAD_INPUT", f"Expected 1 to {self._max_batch} prompts, got {len(prompts)}")
        _check_sampling(sampling or Sampling())
        rows = [self._prompt_ids(p) for p in prompts]
        self._check_steps(steps, max(len(r) for r in rows))
        model, tokenizer = self._ready()
        outputs: list[list[int]] = [[] for _ in rows]
        done = [False] * len(rows)
        prefill_ns = 0
        with self._lock:
            start = time.perf_counter_ns()
            for step, ids in enumerate(generate_ids(model, rows, steps, sampling or Sampling(),
                                                    tokenizer.eos_ids, self._cache_size)):
                if step == 0:
                    synchronize(self._device)
                    prefill_ns = time.perf_counter_ns() - start
                for row, token in enumerate(ids):
                    done[row] = done[row] or token in tokenizer.eos_ids
                    if not done[row]:
                        outputs[row].append(token)
            synchronize(self._device)
            total_ns = time.perf_counter_ns() - start
        return {"texts": [tokenizer.decode(o, continuation=True) for o in outputs], "token_ids": outputs,
                "finish_reasons": ["eos" if d else "length" for d in done],
                "prompt_tokens": [len(r) for r in rows], "output_tokens": [len(o) for o in outputs],
                "prefill_ns": prefill_ns, "decode_ns": total_ns - prefill_ns}

    def _steps(self, ids: list[int], steps: int, sampling: Sampling, encode_ns: int) -> Iterator[GenerateEvent]:
        """One event per model step; the caller holds the lock around each step (generation.py)."""
        model, tokenizer = self._ready()
        stream = generate_ids(model, [ids], steps, sampling, tokenizer.eos_ids, self._cache_size)
        text = tokenizer.stream()
        prefill_ns = decode_ns = produced = 0
        finish = "length"
        try:
            for step in range(steps):
                t0 = time.perf_counter_ns()
                token = next(stream)[0]
                synchronize(self._device)  # explicit, not left to the .tolist() inside generate_ids
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
        self._check_prompt_bytes(prompt)
        ids = tokenizer.encode(prompt)
        if len(ids) > self._cache_size:
            raise SidecarError("BAD_INPUT", f"Expected the prompt to fit the KV cache (cache_size "
                                            f"{self._cache_size} tokens), got {len(ids)} tokens")
        too_big = [i for i in ids if i >= model.config.vocab_size]
        if too_big:
            raise SidecarError("BAD_INPUT", f"Prompt token ids {too_big[:4]} are outside the model's "
                                            f"vocabulary of {model.config.vocab_size}")
        return ids

    def _check_prompt_bytes(self, prompt: str) -> None:
        """Before tokenizing: a prompt too long for the cache is refused at the cost of a length check
        (a character is at least one byte, so a long one is refused without even being encoded)."""
        limit = self._max_prompt_bytes
        if len(prompt) > limit:
            size = f"more than {limit}"
        else:
            try:
                size = str(len(prompt.encode("utf-8")))
            except UnicodeEncodeError as exc:
                raise SidecarError("BAD_INPUT", f"Expected `prompt` to be text that UTF-8 can encode, got "
                                                f"{exc.object[exc.start:exc.end]!r} at index {exc.start} "
                                                f"(a lone surrogate)") from None
            if int(size) <= limit:
                return
        raise SidecarError("BAD_INPUT", f"Expected a prompt of at most {limit} UTF-8 bytes (cache_size "
                                        f"{self._cache_size} tokens of at most {limit // self._cache_size} bytes "
                                        f"each), got {size} bytes")

    def _check_steps(self, steps: int, prompt_tokens: int) -> None:
        room = self._cache_size - prompt_tokens
        if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
            raise SidecarError("BAD_INPUT", f"Expected `sampling_steps` to be a positive integer, got {steps!r}")
        if steps > room:
            raise SidecarError("BAD_INPUT", f"Expected `sampling_steps` to be at most {room} (cache_size "
                                            f"{self._cache_size} minus {prompt_tokens} prompt tokens), got {steps}")

    def _ready(self) -> tuple[Transformer, Tokenizer]:
        if self._model is None or self._tokenizer is None:
            raise SidecarError("INTERNAL", "Gemma core used before load()")
        return self._model, self._tokenizer


def _check_sampling(sampling: Sampling) -> None:
    problem = sampling_problem(sampling)
    if problem:
        raise SidecarError("BAD_INPUT", problem)
