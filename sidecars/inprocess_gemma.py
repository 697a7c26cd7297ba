"""The gemma in-process baseline: the sidecar's own sampler, called directly on the same prompts."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from .cores import create_core
from .cores.base import GenerateRequest

MODEL_FLAGS = ("arch", "config", "checkpoint", "tokenizer", "random_init", "seed", "dtype", "cache_size", "device", "threads")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompts", help="JSON file: a list of prompt strings")
    parser.add_argument("--sampling-steps", default="16", help="comma-separated generation lengths")
    parser.add_argument("--arch", default=None)
    parser.add_argument("--config", default=None)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--tokenizer", default=None)
    parser.add_argument("--random-init", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--cache-size", type=int, default=1024)


def _one(core: Any, prompt: str, steps: int) -> dict[str, Any]:
    start = time.perf_counter_ns()
    last = None
    ttft = None
    gaps: list[int] = []
    text: list[str] = []
    tokens = 0
    for event in core.generate(GenerateRequest(prompt=prompt, sampling_steps=steps)):
        now = time.perf_counter_ns()
        if event.text:
            text.append(event.text)
            if last is None:
                ttft = now - start
            else:
                gaps.append(now - last)
            last = now
        if event.done:
            tokens = int(event.stats.get("output_tokens", 0))
    return {"response": "".join(text), "latency_ns": time.perf_counter_ns() - start, "ttft_ns": ttft,
            "gaps_ns": gaps, "output_tokens": tokens}


def run_gemma(args: argparse.Namespace) -> dict[str, Any]:
    if not args.prompts:
        raise ValueError("Expected --prompts FILE for --model gemma")
    prompts = json.loads(Path(args.prompts).read_text(encoding="utf-8"))
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"Expected {args.prompts} to hold a JSON list of strings")
    steps = [int(s) for s in str(args.sampling_steps).split(",") if s.strip()]
    options = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k, None) is not None}
    core = create_core("gemma", options)
    core.load()
    _one(core, prompts[0], min(4, steps[0]))  # warm-up, as the harness warms up each transport
    runs = [{"steps": s, "results": [_one(core, p, s) for p in prompts]} for s in steps]
    return {"model": "gemma", "info": core.info(), "runs": runs}
