"""`python3 -m sidecars --model M --transport T --listen ADDRESS [model options]`.

Prints exactly one JSON ready line on stdout once it can serve; everything else goes to stderr.
`--model` is a built-in core (echo, cifar, gemma) or a model class of your own,
`path/to/file.py:Class` or `package.module:Class` (sidecars/model_api.py, docs/your-model.md).
Exit codes: 0 after a clean SIGTERM/SIGINT, 2 for bad arguments (a model class's bad metadata too),
3 when the model cannot load (in http-json's forked worker too, when the model loads there: see
docs/gpu.md).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from typing import Any

from .address import Address, ListenError, parse_address
from .cores import CORES, create_core
from .cores.base import Core
from .errors import SidecarError
from .frontends import FRONTENDS, load_frontend
from .model_api import ModelLoadError, ModelUsageError, is_model_spec, parse_model_args
from .parent import die_with_parent

EXIT_USAGE, EXIT_STARTUP = 2, 3
HTTP_STACKS = ["gunicorn-sync", "gunicorn-gthread", "uvicorn", "lean"]  # sidecars/frontends/http_json.py
DEVICE_NAME = re.compile(r"cpu|auto|cuda(:[0-9]+)?")


def device_arg(text: str) -> str:
    """The argparse type of `--device`: a name select_device (sidecars.device) resolves; checked
    here without torch, so a sidecar whose model needs no torch never imports it."""
    if not DEVICE_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"Expected `--device` to be cpu, cuda, cuda:N or auto, got {text!r}")
    return text


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that say which model to build and how: shared with the in-process baseline
    (sidecars.inprocess), so both build the core from the very same command line."""
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="a model class's constructor argument (repeat; the value is JSON if it parses, else text)")
    p.add_argument("--device", type=device_arg, default="auto", help="cpu, cuda (the current device), cuda:N or auto")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--weights", default=None, help="CIFAR CNN state dict")
    p.add_argument("--data", default=None, help="CIFAR-10 directory (class names)")
    p.add_argument("--arch", choices=["gemma", "llama"], default=None)
    p.add_argument("--config", default=None, help="LLM config name (tiny, gemma-2b, ...)")
    p.add_argument("--checkpoint", default=os.environ.get("MODEL_CHECKPOINT"))
    p.add_argument("--tokenizer", default=os.environ.get("MODEL_TOKENIZER"))
    p.add_argument("--random-init", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None,
                   help="weights and activations; default the model's own (gemma: bfloat16 on CUDA, else float32)")
    p.add_argument("--cache-size", type=int, default=1024)
    p.add_argument("--client-stall-timeout-s", type=float, default=None,
                   help="gemma: end a streamed generation with TIMEOUT once its client has read nothing for this "
                        "long while its queue is full (default 30; docs/protocol.md, Limits for generation)")
    # Fault injection for the harness's reliability tests (sidecars/faults.py).
    p.add_argument("--stall-ms", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--crash-after", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--inject-delay-us", type=float, default=0,
                   help="testing aid: busy-wait this many microseconds in every request (a regression of known size)")


def add_server_arguments(p: argparse.ArgumentParser) -> None:
    """How the front-end serves: the in-process baseline accepts (and ignores) these too, so one list
    of `--sidecar-arg` flags starts both."""
    p.add_argument("--max-frame-bytes", type=int, default=64 * 1024 * 1024)
    p.add_argument("--http-stack", choices=HTTP_STACKS, default=None,
                   help="http-json's server stack (docs/protocol.md, Stacks); default gunicorn-gthread")
    p.add_argument("--http-worker", choices=["sync", "gthread"], default=None,
                   help="the old spelling of --http-stack gunicorn-sync|gunicorn-gthread")
    p.add_argument("--grpc-server", choices=["aio", "aio-uvloop", "thread"], default="thread",
                   help="grpc server API; thread measured 1-7%% faster at p50 than aio here (docs/results.md)")
    p.add_argument("--load-after-fork", action="store_true",
                   help="http-json: load the model in gunicorn's worker, as is always done on CUDA (docs/gpu.md)")
    p.add_argument("--max-connections", type=int, default=512,
                   help="framed, msgpack: connections open at once; one more is refused with OVERLOADED")
    p.add_argument("--read-timeout-s", type=float, default=10.0,
                   help="framed, msgpack, http-json: seconds a frame or request (head and body) has to arrive whole, from its first byte")
    p.add_argument("--max-inflight-bytes", type=int, default=128 * 1024 * 1024,
                   help="grpc: request and reply bytes held for calls not yet ended; more calls are refused with OVERLOADED")
    p.add_argument("--allow-remote", action="store_true",
                   help="listen on a TCP address other than loopback (the sidecar has no authentication; a warning goes to stderr)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m sidecars", description=__doc__)
    p.add_argument("--model", default="echo",
                   help=f"{', '.join(sorted(CORES))}, path/to/file.py:Class or package.module:Class")
    p.add_argument("--transport", default="framed", choices=sorted(FRONTENDS))
    p.add_argument("--listen", required=True, help="unix:/path/to.sock or tcp:127.0.0.1:0")
    add_server_arguments(p)
    add_model_arguments(p)
    return p


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The model flags as create_core's options; ModelUsageError for a bad `--model-arg`."""
    names = ("device", "threads", "weights", "data", "arch", "config", "checkpoint", "tokenizer",
             "random_init", "seed", "dtype", "cache_size", "client_stall_timeout_s")
    options = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    model_args = parse_model_args(getattr(args, "model_arg", None) or [])
    if model_args:
        options["model_args"] = model_args
    return options


def build_core(model: str, options: dict[str, Any]) -> Core | int:
    """create_core, or the exit code after a one-line message on stderr: 2 for a bad `--model`,
    `--model-arg` or a model class's metadata, 3 for a model that cannot be imported or built."""
    try:
        return create_core(model, options)
    except ModelUsageError as exc:
        print(f"sidecar: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ModelLoadError as exc:
        print(f"sidecar: cannot load model `{model}`: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    except Exception as exc:  # bad model options are reported, with their cause, as a startup error
        print(f"sidecar: cannot load model `{model}`: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_STARTUP


def metadata_of(core: Core) -> dict[str, Any] | None:
    """The core's OIP model metadata for the ready line, or None when it has no tensor interface."""
    metadata = getattr(core, "metadata", None)  # a stand-in core in a test may have none
    try:
        return metadata() if metadata is not None else None
    except SidecarError:
        return None


def http_stack(args: argparse.Namespace) -> str:
    """`--http-stack`, or the gunicorn stack `--http-worker` names; ValueError when they disagree."""
    worker = f"gunicorn-{args.http_worker}" if args.http_worker else None
    if args.http_stack and worker and args.http_stack != worker:
        raise ValueError(f"Expected --http-worker {args.http_worker} to agree with --http-stack, got {args.http_stack}")
    return str(args.http_stack or worker or "gunicorn-gthread")


def loads_after_fork(args: argparse.Namespace, core: Core) -> bool:
    """Whether the model loads in http-json's forked worker rather than before the fork: always on
    CUDA, which a process cannot use once its parent has initialised it (docs/gpu.md). Only the
    gunicorn stacks fork."""
    return args.transport == "http-json" and http_stack(args).startswith("gunicorn-") and (args.load_after_fork or core.uses_cuda())


def load_core(core: Core, model: str) -> bool:
    """core.load(); a failure is reported on stderr, with its cause, as a startup error."""
    try:
        core.load()
    except ModelLoadError as exc:  # already one line, naming the user's code
        print(f"sidecar: cannot load model `{model}`: {exc}", file=sys.stderr)
        return False
    except Exception as exc:
        print(f"sidecar: cannot load model `{model}`: {type(exc).__name__}: {exc}", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("SIDECAR_LOG", "WARNING"),
                        format="sidecar %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    die_with_parent()
    pid = os.getpid()  # the ready line names this process even when a forked worker prints it
    ready_out = sys.stdout
    if is_model_spec(args.model):
        sys.stdout = sys.stderr  # a print() in the user's model must not come before (or into) the ready line
    try:
        address = parse_address(args.listen, allow_remote=args.allow_remote)
        http_stack(args)  # --http-stack and --http-worker agree
        serve = load_frontend(args.transport)
    except (ValueError, ImportError) as exc:
        print(f"sidecar: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        options = model_options(args)
    except ModelUsageError as exc:
        print(f"sidecar: {exc}", file=sys.stderr)
        return EXIT_USAGE
    built = build_core(args.model, options)
    if isinstance(built, int):
        return built
    core = built
    after_fork = loads_after_fork(args, core)
    if args.stall_ms or args.crash_after or args.inject_delay_us:
        from .faults import with_faults
        core = with_faults(core, args.stall_ms, args.crash_after, args.inject_delay_us)
    if not after_fork and not load_core(core, args.model):
        return EXIT_STARTUP

    def load_in_worker() -> None:
        if not load_core(core, args.model):
            raise SystemExit(EXIT_STARTUP)

    def on_ready(bound: Address) -> None:
        line = {"event": "ready", "model": args.model, "transport": args.transport,
                "address": str(bound), "pid": pid, **core.info()}
        metadata = metadata_of(core)
        if metadata is not None:
            line["metadata"] = metadata
        if args.transport == "http-json":
            stack = http_stack(args)
            line.update(http_stack=stack, load_after_fork=after_fork)
            if stack.startswith("gunicorn-"):
                line["http_worker"] = stack.removeprefix("gunicorn-")
        elif args.transport == "grpc":
            line["grpc_server"] = args.grpc_server
        ready_out.write(json.dumps(line) + "\n")
        ready_out.flush()

    options = {"max_frame_bytes": args.max_frame_bytes, "http_stack": http_stack(args),
               "grpc_server": args.grpc_server, "load_in_worker": load_in_worker if after_fork else None,
               "max_connections": args.max_connections, "read_timeout_s": args.read_timeout_s,
               "max_inflight_bytes": args.max_inflight_bytes}
    try:
        serve(core, address, options, on_ready)
    except ListenError as exc:  # refused at bind time (grpc 0.0.0.0, a file created while the model loaded)
        print(f"sidecar: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
