"""In-process baseline: a model core called directly, with no IPC, driven by the harness in rounds.

    python -m sidecars.inprocess --model cifar --images FILE [--weights P] [--device D] [--threads N]
    python -m sidecars.inprocess --model gemma --prompts FILE [model flags]
    python -m sidecars.inprocess --model path/to/file.py:Class --tensors FILE [--model-arg k=v ...] [model flags]

The core is built exactly as the sidecar builds it (sidecars.cores.create_core, same options). It
prints one JSON ready line, then answers one JSON command per stdin line with one JSON line, so
the harness can interleave blocks of it with blocks of every transport in the same rounds:

    {"op": "classify", "items": [i, ...], "batch": B}  ->  {"latency_ns": [...], "compute_ns": [...], "labels": [...]}
    {"op": "generate", "items": [i, ...], "steps": S}  ->  {"latency_ns": [...], "compute_ns": [...], "ttft_ns": [...],
                                                           "gaps_ns": [[...]], "responses": [...], "output_tokens": [...]}
    {"op": "infer", "items": [i, ...], "outputs": true}  ->  {"latency_ns": [...], "compute_ns": [...], "outputs"?: [...]}
    {"op": "metadata"}                                   ->  {"metadata": {...}}

--tensors FILE holds the infer requests, each a `u32 BE length` then a framed INFER request body
(`u8 T` + tensors, docs/protocol.md); any model with metadata takes it (a model class, echo, cifar).
They are decoded before the first command; an infer's latency is sidecars.ops.infer (the metadata
check and the model) and each output, asked for, is the base64 of the framed INFER reply's tensor
list (`u8 T` + tensors, without compute_ns), so it compares byte for byte with any wire's reply.

Latencies are timed here around each call, so they hold no IPC at all; a failed command answers
{"error": {"code", "message"}}. End of stdin ends the process. Startup errors go to stderr with
exit code 1 (model) or 2 (usage, a model class's bad metadata too). The replies own stdout: a
print() in a model class goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .cli import add_model_arguments, add_server_arguments, metadata_of, model_options
from .cores import create_core
from .cores.base import IMAGE_BYTES, Core, GenerateRequest
from .errors import SidecarError, to_sidecar_error
from .model_api import ModelLoadError, ModelUsageError, is_model_spec

DEFAULT_MAX_BATCH = 1024


def _read_images(path: str) -> bytes:
    data = Path(path).read_bytes()
    if not data or len(data) % IMAGE_BYTES:
        raise ValueError(f"Expected {path} to hold a non-zero multiple of {IMAGE_BYTES} bytes, got {len(data)}")
    return data


def _read_prompts(path: str) -> list[str]:
    prompts = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"Expected {path} to hold a non-empty JSON list of strings")
    return prompts


def _items(command: dict[str, Any], count: int) -> list[int]:
    items = command.get("items")
    if not isinstance(items, list) or not all(type(i) is int and 0 <= i < count for i in items):
        raise SidecarError("BAD_INPUT", f"Expected `items` to be a list of indices below {count}")
    return items


def classify_block(core: Core, images: bytes, command: dict[str, Any]) -> dict[str, Any]:
    """Classify the items in requests of `batch` images (joined before the clock starts, as a sidecar receives them)."""
    count = len(images) // IMAGE_BYTES
    items = _items(command, count)
    batch = command.get("batch", 1)
    if type(batch) is not int or batch < 1:
        raise SidecarError("BAD_INPUT", f"Expected `batch` to be a positive integer, got {batch!r}")
    out: dict[str, list[int]] = {"latency_ns": [], "compute_ns": [], "labels": []}
    for start in range(0, len(items), batch):
        payload = b"".join(images[i * IMAGE_BYTES:(i + 1) * IMAGE_BYTES] for i in items[start:start + batch])
        t0 = time.perf_counter_ns()
        result = core.classify(payload)
        out["latency_ns"].append(time.perf_counter_ns() - t0)
        out["compute_ns"].append(result.compute_ns)
        out["labels"].extend(result.labels)
    return out


def _generate_one(core: Core, prompt: str, steps: int) -> dict[str, Any]:
    start = time.perf_counter_ns()
    last = ttft = None
    gaps: list[int] = []
    text: list[str] = []
    stats: dict[str, Any] = {}
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
            stats = event.stats
    return {"latency_ns": time.perf_counter_ns() - start, "compute_ns": int(stats.get("prefill_ns", 0)) + int(stats.get("decode_ns", 0)),
            "ttft_ns": ttft, "gaps_ns": gaps, "response": "".join(text), "output_tokens": int(stats.get("output_tokens", 0))}


def generate_block(core: Core, prompts: list[str], command: dict[str, Any]) -> dict[str, Any]:
    """Generate for each item, consuming events as a streaming client would."""
    items = _items(command, len(prompts))
    steps = command.get("steps", 16)
    if type(steps) is not int or steps < 1:
        raise SidecarError("BAD_INPUT", f"Expected `steps` to be a positive integer, got {steps!r}")
    runs = [_generate_one(core, prompts[i], steps) for i in items]
    keys = {"latency_ns": "latency_ns", "compute_ns": "compute_ns", "ttft_ns": "ttft_ns", "gaps_ns": "gaps_ns",
            "responses": "response", "output_tokens": "output_tokens"}
    return {out: [r[key] for r in runs] for out, key in keys.items()}


def serve(core: Core, handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]], out: Any = None) -> None:
    """Answer one JSON command per stdin line, on `out` (stdout), until stdin ends."""
    out = out or sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            command = json.loads(line)
            if not isinstance(command, dict):
                raise SidecarError("BAD_INPUT", "Expected a JSON object per line")
            handler = handlers.get(command.get("op", ""))
            if handler is None:
                raise SidecarError("UNKNOWN_TYPE", f"Expected `op` to be one of {sorted(handlers)}")
            reply = handler(command)
        except Exception as exc:  # a bad command is answered, never fatal
            reply = {"error": to_sidecar_error(exc).to_dict()}
        out.write(json.dumps(reply, separators=(",", ":")) + "\n")
        out.flush()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sidecars.inprocess", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="cifar, gemma, echo, path/to/file.py:Class or package.module:Class")
    parser.add_argument("--images", help="file of K*3072 planar RGB bytes (cifar)")
    parser.add_argument("--prompts", help="JSON file: a list of prompt strings (gemma)")
    parser.add_argument("--tensors", help="file of infer requests: u32 BE length + framed INFER body, each")
    add_model_arguments(parser)  # the sidecar's own model flags: the core is built the same way
    add_server_arguments(parser)  # accepted and ignored: the same `--sidecar-arg` list starts both
    args = parser.parse_args(argv)
    if args.tensors:
        pass  # any model with metadata; the others fail at startup with UNSUPPORTED_OP
    elif is_model_spec(args.model):
        parser.error(f"Expected --tensors FILE for --model {args.model}")
    elif args.model not in ("cifar", "gemma"):
        parser.error(f"Expected --model to be cifar, gemma or a model class (with --tensors), got {args.model!r}")
    elif args.model == "cifar" and not args.images:
        parser.error("Expected --images FILE for --model cifar")
    elif args.model == "gemma" and not args.prompts:
        parser.error("Expected --prompts FILE for --model gemma")
    if args.threads is not None and args.threads < 1:
        parser.error(f"Expected `--threads` to be a positive integer, got {args.threads}")
    return args


def build(args: argparse.Namespace) -> tuple[Core, dict[str, Callable[[dict[str, Any]], dict[str, Any]]]]:
    """The core, loaded, and the commands it answers."""
    options = model_options(args)
    if args.tensors:
        from .inprocess_tensors import infer_block, read_tensors  # numpy only where tensors are used

        requests = read_tensors(args.tensors)
        extra = {"max_batch": DEFAULT_MAX_BATCH} if args.model == "cifar" else {}
        core = create_core(args.model, {**options, **extra})
        core.metadata()  # UNSUPPORTED_OP now, not at the first command, for a model without tensors
        handlers = {"infer": lambda c: infer_block(core, requests, _items(c, len(requests)), c),
                    "metadata": lambda c: {"metadata": core.metadata()}}
    elif args.model == "cifar":
        images = _read_images(args.images)
        core = create_core("cifar", {**options, "max_batch": DEFAULT_MAX_BATCH})
        handlers = {"classify": lambda c: classify_block(core, images, c)}
    else:
        prompts = _read_prompts(args.prompts)
        core = create_core("gemma", options)
        handlers = {"generate": lambda c: generate_block(core, prompts, c)}
    core.load()
    return core, handlers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = sys.stdout
    if is_model_spec(args.model):
        sys.stdout = sys.stderr  # a print() in the user's model must not land among the replies
    try:
        core, handlers = build(args)
    except ModelUsageError as exc:
        print(f"sidecars.inprocess: {exc}", file=sys.stderr)
        return 2
    except (ModelLoadError, SidecarError) as exc:  # already one line, naming the cause
        print(f"sidecars.inprocess: cannot load model `{args.model}`: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a startup failure is a message and an exit code, not a traceback
        print(f"sidecars.inprocess: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    ready = {"event": "ready", "model": args.model, "pid": os.getpid(), **core.info()}
    metadata = metadata_of(core)
    if metadata is not None:
        ready["metadata"] = metadata
    out.write(json.dumps(ready) + "\n")
    out.flush()
    # The front-ends call the model from a thread of their own (a connection's, a pool's; only
    # gunicorn's sync worker, as deployed, calls it on its main thread), and so does the baseline.
    # With PyPI's torch 2.15 on the 2-core VM a batch-64 convolution took 17-21 ms on the main thread
    # and 1.6-3.1 ms on any other (batch 1 showed no such gap), which put the baseline "below" the
    # transports it is the floor of (docs/gpu-run.md).
    model_thread = threading.Thread(target=serve, args=(core, handlers, out), name="inprocess-model", daemon=True)
    model_thread.start()
    model_thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
