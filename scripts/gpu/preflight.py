"""Fail-fast checks for scripts/gpu/run.sh, and the facts a GPU result needs beside it.

    python3 scripts/gpu/preflight.py --device cuda [--site DIR]

Run from the repository root. Prints `name: value` lines; every problem is a `PREFLIGHT FAIL:` line
and the exit status is 1, so a run that cannot work stops in its first seconds, not minutes in.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
# What the sidecars import at run time (sidecars/requirements.txt less the test and GGUF tools):
# module -> its distribution's name.
MODULES = {"numpy": "numpy", "msgpack": "msgpack", "grpc": "grpcio", "google.protobuf": "protobuf",
           "grpc_tools": "grpcio-tools", "sentencepiece": "sentencepiece", "flask": "flask", "werkzeug": "werkzeug",
           "jinja2": "jinja2", "markupsafe": "markupsafe", "itsdangerous": "itsdangerous", "click": "click",
           "blinker": "blinker", "gunicorn": "gunicorn"}
# These come from the bundle's wheels; an image copy shadowing them would be a different run than rehearsed.
FROM_SITE = ("google.protobuf", "grpc_tools", "flask", "gunicorn", "markupsafe")


class Checks:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fact(self, name: str, value: Any) -> None:
        print(f"{name}: {value}", flush=True)

    def fail(self, what: str) -> None:
        self.problems.append(what)
        print(f"PREFLIGHT FAIL: {what}", flush=True)


def check_modules(c: Checks, site: str | None) -> None:
    for name, dist in MODULES.items():
        try:
            module = importlib.import_module(name)
        except Exception as error:  # any import failure is the finding
            c.fail(f"import {name}: {type(error).__name__}: {error}")
            continue
        where = os.path.dirname(getattr(module, "__file__", None) or "?")
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        c.fact(f"module {name}", f"{version} ({where})")
        if site and name in FROM_SITE and not os.path.realpath(where).startswith(os.path.realpath(site)):
            c.fail(f"{name} loads from {where}, not from the bundle's wheels in {site}")


def check_sidecars(c: Checks) -> None:
    """Every front-end and core module imports, and the grpc front-end's .proto compiles here."""
    try:
        from sidecars.cores import CORES
        from sidecars.frontends import FRONTENDS

        for target in [*FRONTENDS.values(), *CORES.values()]:
            importlib.import_module(target.partition(":")[0])
        from sidecars.frontends.grpc_server import load_messages

        service = load_messages().DESCRIPTOR.services_by_name["Sidecar"]
        c.fact("sidecars", f"front-ends {sorted(FRONTENDS)}, cores {sorted(CORES)}, "
                           f"grpc service {service.full_name} ({len(service.methods)} methods)")
    except Exception as error:
        c.fail(f"sidecars package: {type(error).__name__}: {error}")


def check_torch(c: Checks, device: str) -> None:
    try:
        import torch
    except Exception as error:
        c.fail(f"import torch: {type(error).__name__}: {error}")
        return
    c.fact("torch", f"{torch.__version__} (CUDA build {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()})")
    c.fact("torch threads", torch.get_num_threads())
    available = torch.cuda.is_available()
    c.fact("cuda available", available)
    if not device.startswith("cuda"):
        return
    if not available:
        c.fail(f"--device {device} but torch {torch.__version__} sees no CUDA device")
        return
    index = torch.cuda.current_device()
    p = torch.cuda.get_device_properties(index)
    c.fact("cuda device", f"cuda:{index} {p.name}, capability {p.major}.{p.minor}, {p.multi_processor_count} SMs, "
                          f"{p.total_memory / 2**30:.1f} GiB, {torch.cuda.device_count()} visible")
    c.fact("cuda bf16", torch.cuda.is_bf16_supported())
    try:
        a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
        (a @ a).sum().item()  # kernels for this GPU load and run
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(10):
            a @ a
        torch.cuda.synchronize()
        tflops = 10 * 2 * 4096**3 / (time.perf_counter() - start) / 1e12
        c.fact("cuda bf16 matmul 4096^3", f"{tflops:.0f} TFLOP/s (a sanity figure, not a benchmark)")
    except Exception as error:
        c.fail(f"a bf16 matmul on {device}: {type(error).__name__}: {error}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", required=True)
    p.add_argument("--site", default=None, help="folder the bundle's wheels were installed into")
    args = p.parse_args()
    sys.path.insert(0, str(REPO_ROOT))  # `import sidecars`, as `python3 -m sidecars` run from the root has it
    c = Checks()
    c.fact("python", f"{platform.python_version()} ({sys.executable})")
    c.fact("platform", platform.platform())
    check_torch(c, args.device)
    check_modules(c, args.site)
    check_sidecars(c)
    return 1 if c.problems else 0


if __name__ == "__main__":
    sys.exit(main())
