"""Shared fixtures: real sidecar processes on real sockets in a private directory."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


class RunningSidecar:
    def __init__(self, proc: subprocess.Popen[str], ready: dict) -> None:
        self.proc = proc
        self.ready = ready
        self.address: str = ready["address"]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def start_sidecar(*args: str, timeout: float = 60.0) -> RunningSidecar:
    return start_module("sidecars", *args, timeout=timeout)


def start_module(module: str, *args: str, timeout: float = 60.0) -> RunningSidecar:
    """`python -m module args...` from the repository root, once it has printed its ready line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        err = proc.stderr.read() if proc.stderr else ""
        proc.wait(timeout=timeout)
        raise RuntimeError(f"{module} exited before ready ({proc.returncode}): {err}")
    return RunningSidecar(proc, json.loads(line))


@pytest.fixture
def private_dir(tmp_path: Path) -> Path:
    d = tmp_path / "sock"
    d.mkdir(mode=0o700)
    return d


@pytest.fixture
def framed_unix(private_dir: Path) -> Iterator[RunningSidecar]:
    sidecar = start_sidecar("--model", "echo", "--transport", "framed", "--listen", f"unix:{private_dir}/s.sock",
                            "--max-frame-bytes", str(1024 * 1024))
    yield sidecar
    sidecar.stop()
