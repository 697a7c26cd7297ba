"""Decode speed at different context lengths (a speed check, not a test).

    python -m sidecars.llm.bench_decode --config tiny --steps 16,256 [--repeat 32] [--device cpu]

For each N the cache is filled with N tokens by one prefill, then one decode step at slot N is
timed `repeat` times (each overwrites the same slot, so the context stays N). With the KV cache a
step's cost is dominated by the weights, so step 256 should cost within 1.5x of step 16; the
full-recompute column shows what the cache saves. Exit status 1 when the ratio exceeds --max-ratio.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from ..cli import device_arg
from ..device import DTYPES, describe_device, dtype_name, resolve_dtype, select_device, synchronize
from .config import CONFIGS
from .kv_cache import KVCache
from .model import Transformer
from .weights import random_init


def _steps(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"Expected comma-separated positive integers, got {text!r}")
    return values


def time_decode(model: Transformer, context: int, repeat: int) -> tuple[list[float], float]:
    """(per-step decode times in ms at `context` cached tokens, full-recompute time in ms)."""
    c, device = model.config, model.device
    generator = torch.Generator().manual_seed(context)
    tokens = torch.randint(0, c.vocab_size, (1, context + 1), generator=generator).to(device)
    positions = torch.arange(context + 1, device=device)[None]
    cache = KVCache(c.n_layers, 1, c.n_kv_heads, context + 1, c.head_dim, model.dtype, device)
    samples = []
    with torch.inference_mode():
        model(tokens[:, :context], positions[:, :context], cache, 0, last_only=True)
        for _ in range(repeat + 2):  # two warm-up steps
            synchronize(device)
            start = time.perf_counter_ns()
            model(tokens[:, context:], positions[:, context:], cache, context, last_only=True).argmax(-1).tolist()
            samples.append((time.perf_counter_ns() - start) / 1e6)
        synchronize(device)
        start = time.perf_counter_ns()
        model(tokens, positions, None, 0, last_only=True).argmax(-1).tolist()
        recompute_ms = (time.perf_counter_ns() - start) / 1e6
    return samples[2:], recompute_ms


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sidecars.llm.bench_decode", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="tiny", choices=sorted(CONFIGS))
    p.add_argument("--arch", choices=["gemma", "llama"], default=None)
    p.add_argument("--steps", type=_steps, default=[16, 256])
    p.add_argument("--repeat", type=int, default=32)
    p.add_argument("--device", type=device_arg, default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--dtype", choices=sorted(DTYPES), default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-ratio", type=float, default=1.5)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from .config import get_config

    device = select_device(args.device)
    dtype = resolve_dtype(args.dtype, device, cuda_default="bfloat16")
    model = Transformer(get_config(args.config, args.arch), dtype, device).eval()
    random_init(model, args.seed)
    c = model.config
    print(f"config {c.name} ({c.arch}, {model.param_count() / 1e6:.1f}M params, vocab {c.vocab_size}) on "
          f"{describe_device(device)} {dtype_name(dtype)}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.repeat} steps each")
    medians = []
    for n in args.steps:
        samples, recompute_ms = time_decode(model, n, args.repeat)
        q = statistics.quantiles(samples, n=10)
        medians.append(statistics.median(samples))
        print(f"step {n:5d}: decode {medians[-1]:8.3f} ms/token (p10 {q[0]:.3f}, p90 {q[-1]:.3f}); "
              f"full recompute of {n + 1} tokens {recompute_ms:9.3f} ms")
    ratio = max(medians) / min(medians)
    verdict = "OK" if ratio <= args.max_ratio else "TOO SLOW"
    print(f"slowest / fastest median: {ratio:.2f}x (limit {args.max_ratio}x) {verdict}")
    return 0 if ratio <= args.max_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
