"""The http-json sidecar under the gunicorn pip installs today (sidecars/requirements-gunicorn-latest.txt),
not only Debian's 20.1: gunicorn 27 rewrote the gthread worker that http_workers.py extends with the read
deadline, and its malformed-chunk errors are no longer IOErrors. This runs the http-json limit and frontend
tests on the gunicorn stacks with that interpreter (.venv-gunicorn, built by harness/setup/ensure.js).
Without it the test skips, except under CI, where it fails.
"""
from __future__ import annotations

import os
import subprocess

import pytest

from .conftest import REPO_ROOT

PYTHON = REPO_ROOT / ".venv-gunicorn" / "bin" / "python"
FILES = ["sidecars/tests/test_http_json_limits.py", "sidecars/tests/test_http_json_frontend.py"]


def test_the_gunicorn_stacks_keep_their_limits_on_the_latest_gunicorn() -> None:
    probe = subprocess.run([str(PYTHON), "-c", "import gunicorn; print(gunicorn.__version__)"],
                           capture_output=True, text=True, timeout=60) if PYTHON.exists() else None
    if probe is None or probe.returncode != 0:
        why = f"no gunicorn in {PYTHON.parent.parent} (`npm run setup -- --tests` builds it)"
        if os.environ.get("CI", "") not in ("", "false"):
            pytest.fail(why)
        pytest.skip(why)
    # The gunicorn stacks only (the others do not depend on gunicorn, and run in the main suite).
    run = subprocess.run([str(PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", *FILES, "-k", "not uvicorn and not lean"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-500:]
    assert run.returncode == 0, f"gunicorn {probe.stdout.strip()}: {summary}\n{run.stdout[-4000:]}"
    assert " passed" in summary and "deselected" in summary, summary
