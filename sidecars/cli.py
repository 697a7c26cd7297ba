"""`python3 -m sidecars --model M --transport T --listen ADDRESS [model options]`.

Prints exactly one JSON ready line on stdout once it can serve; everything else goes to stderr.
Exit codes: 0 after a clean SIGTERM/SIGINT, 2 for bad arguments, 3 when the model cannot load.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from .address import Address, parse_address
from .cores import CORES, create_core
from .frontends import FRONTENDS, load_frontend
from .parent import die_with_parent

EXIT_USAGE, EXIT_STARTUP = 2, 3


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that say which model to build and how: shared with the in-process baseline
    (sidecars.inprocess), so both build the core from the very same command line."""
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--weights", default=None, help="CIFAR CNN state dict")
    p.add_argument("--data", default=None, help="CIFAR-10 directory (class names)")
    p.add_argument("--arch", choices=["gemma", "llama"], default=None)
    p.add_argument("--config", default=None, help="LLM config name (tiny, gemma-2b, ...)")
    p.add_argument("--checkpoint", default=os.environ.get("MODEL_CHECKPOINT"))
    p.add_argument("--tokenizer", default=os.environ.get("MODEL_TOKENIZER"))
    p.add_argument("--random-init", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    p.add_argument("--cache-size", type=int, default=1024)
    # Fault injection for the harness's reliability tests (sidecars/faults.py).
    p.add_argument("--stall-ms", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--crash-after", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--inject-delay-us", type=float, default=0,
                   help="testing aid: busy-wait this many microseconds in every request (a regression of known size)")


def add_server_arguments(p: argparse.ArgumentParser) -> None:
    """How the front-end serves: the in-process baseline accepts (and ignores) these too, so one list
    of `--sidecar-arg` flags starts both."""
    p.add_argument("--max-frame-bytes", type=int, default=64 * 1024 * 1024)
    p.add_argument("--http-worker", choices=["sync", "gthread"], default="gthread",
                   help="gunicorn worker class for http-json (sync closes the connection per response)")
    p.add_argument("--grpc-server", choices=["aio", "thread"], default="thread",
                   help="grpc server API; thread measured 1-7%% faster at p50 than aio here (docs/results.md)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m sidecars", description=__doc__)
    p.add_argument("--model", default="echo", choices=sorted(CORES))
    p.add_argument("--transport", default="framed", choices=sorted(FRONTENDS))
    p.add_argument("--listen", required=True, help="unix:/path/to.sock or tcp:127.0.0.1:0")
    add_server_arguments(p)
    add_model_arguments(p)
    return p


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    names = ("device", "threads", "weights", "data", "arch", "config", "checkpoint", "tokenizer",
             "random_init", "seed", "dtype", "cache_size")
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("SIDECAR_LOG", "WARNING"),
                        format="sidecar %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    die_with_parent()
    try:
        address = parse_address(args.listen)
        serve = load_frontend(args.transport)
    except (ValueError, ImportError) as exc:
        print(f"sidecar: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        core = create_core(args.model, model_options(args))
        core.load()
    except Exception as exc:  # any load failure is reported, with its cause, as a startup error
        print(f"sidecar: cannot load model `{args.model}`: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    if args.stall_ms or args.crash_after or args.inject_delay_us:
        from .faults import with_faults
        core = with_faults(core, args.stall_ms, args.crash_after, args.inject_delay_us)

    def on_ready(bound: Address) -> None:
        line = {"event": "ready", "model": args.model, "transport": args.transport,
                "address": str(bound), "pid": os.getpid(), **core.info()}
        if args.transport == "http-json":
            line["http_worker"] = args.http_worker
        elif args.transport == "grpc":
            line["grpc_server"] = args.grpc_server
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()

    options = {"max_frame_bytes": args.max_frame_bytes, "http_worker": args.http_worker,
               "grpc_server": args.grpc_server}
    serve(core, address, options, on_ready)
    return 0
