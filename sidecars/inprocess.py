"""In-process baseline: drive a model core directly, with no IPC, in the same benchmark run.

    python -m sidecars.inprocess --model cifar [--weights P] [--device D] [--threads N]
        --images FILE --batch-sizes 1,256 [--repeat-single N]

Prints one JSON object on stdout; the harness compares it with the sidecar's numbers, so the core
is built exactly as the sidecar builds it (sidecars.cores.create_core with the same options).
Errors go to stderr with exit code 1 (startup) or 2 (usage).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from .cores import create_core
from .cores.base import IMAGE_BYTES, Core
from .inprocess_gemma import add_arguments as add_gemma_arguments
from .inprocess_gemma import run_gemma

DEFAULT_MAX_BATCH = 1024


def _positive_ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"Expected a comma-separated list of positive integers, got {text!r}")
    return values


def _read_images(path: str) -> list[bytes]:
    """The harness's image file (K*3072 planar bytes), split into one bytes object per image."""
    data = Path(path).read_bytes()
    if not data or len(data) % IMAGE_BYTES:
        raise ValueError(f"Expected {path} to hold a non-zero multiple of {IMAGE_BYTES} bytes, got {len(data)}")
    return [data[i : i + IMAGE_BYTES] for i in range(0, len(data), IMAGE_BYTES)]


def _single_stream(core: Core, images: list[bytes], passes: int) -> dict[str, Any]:
    samples: list[int] = []
    compute: list[int] = []
    labels: list[int] = []
    for n in range(passes):
        for image in images:
            start = time.perf_counter_ns()
            result = core.classify(image)
            samples.append(time.perf_counter_ns() - start)
            compute.append(result.compute_ns)
            if n == 0:
                labels.append(result.labels[0])
    return {"samples_ns": samples, "compute_samples_ns": compute, "labels": labels}


def _offline(core: Core, images: list[bytes], batch: int, expected: list[int]) -> dict[str, Any]:
    # Batches are joined before the clock starts: the sidecar also receives one buffer per request.
    batches = [b"".join(images[i : i + batch]) for i in range(0, len(images), batch)]
    samples: list[int] = []
    labels = bytearray()
    start = time.perf_counter_ns()
    for payload in batches:
        t0 = time.perf_counter_ns()
        result = core.classify(payload)
        samples.append(time.perf_counter_ns() - t0)
        labels += result.labels
    elapsed = time.perf_counter_ns() - start
    return {
        "batch": batch,
        "images": len(images),
        "elapsed_ns": elapsed,
        "images_per_s": len(images) * 1e9 / elapsed,
        "batch_samples_ns": samples,
        "labels_match_single": list(labels) == expected,
    }


def run_cifar(args: argparse.Namespace) -> dict[str, Any]:
    images = _read_images(args.images)
    options: dict[str, Any] = {
        "weights": args.weights,
        "device": args.device,
        "threads": args.threads,
        "max_batch": max(DEFAULT_MAX_BATCH, *args.batch_sizes),
    }
    core = create_core("cifar", options)
    core.load()
    single = _single_stream(core, images, args.repeat_single)
    offline = [_offline(core, images, b, single["labels"]) for b in args.batch_sizes]
    return {"model": "cifar", "info": core.info(), "single": single, "offline": offline}


# One runner per model; a text model (gemma) adds its own runner and flags beside this one.
RUNNERS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {"cifar": run_cifar, "gemma": run_gemma}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sidecars.inprocess", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, choices=sorted(RUNNERS))
    parser.add_argument("--weights", default=None, help="weights file (default: the core's own)")
    parser.add_argument("--device", default="auto", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--images", help="file of K*3072 planar RGB bytes (cifar)")
    parser.add_argument("--batch-sizes", type=_positive_ints, default=[1, 256])
    parser.add_argument("--repeat-single", type=int, default=1, help="passes over the images, one at a time")
    add_gemma_arguments(parser)
    args = parser.parse_args(argv)
    if args.model == "cifar" and not args.images:
        parser.error("Expected --images FILE for --model cifar")
    if args.repeat_single < 1:
        parser.error(f"Expected `--repeat-single` to be a positive integer, got {args.repeat_single}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"Expected `--threads` to be a positive integer, got {args.threads}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = RUNNERS[args.model](args)
    except Exception as exc:  # a startup failure is a message and an exit code, not a traceback
        print(f"sidecars.inprocess: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
