"""Die with the harness: a sidecar whose harness was SIGKILLed must not linger as an orphan."""
from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """When started by the harness (SIDECAR_BENCH_PARENT_PID), get SIGTERM when it dies (Linux)."""
    parent = os.environ.get("SIDECAR_BENCH_PARENT_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # the harness died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
