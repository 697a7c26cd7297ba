"""The `http-json` wire, on the server stack `options["http_stack"]` names (`--http-stack`): every stack
serves the same routes (http_routes.py). `gunicorn-sync` and `gunicorn-gthread`, the idea's set-up,
are served here: the Flask app (http_app.py) under gunicorn, as Python models are usually deployed;
`uvicorn` is http_asgi.py, `lean` http_lean.py, each loaded only when chosen.

The rest of this docstring is about gunicorn.

gunicorn runs in-process (BaseApplication) with one worker, forked after the core has loaded, so
the model is loaded once and the worker's app closes over it. A model on CUDA cannot load before the
fork (a child cannot use the CUDA its parent initialised): with `options["load_in_worker"]` the worker
calls it before serving, and the worker, not the master, announces readiness, once, however many
workers gunicorn starts over the master's life. Two set-ups (`options["http_worker"]`):
`sync`, gunicorn's default, closes the connection after every response; `gthread` keeps it alive.
Only the ready line goes to stdout; gunicorn logs to stderr and writes no access log.

Forking a process that has run torch needs care, all of it here: the master frees OpenMP's thread
pool before the fork, the worker dies with its master (PR_SET_PDEATHSIG) and ends with os._exit.
"""
from __future__ import annotations

import ctypes
import importlib
import logging
import mmap
import os
import signal
import sys
from typing import Any, Callable, NoReturn

from gunicorn import __version__ as gunicorn_version
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from ..address import Address
from ..cores.base import Core
from .framing import DEFAULT_MAX_FRAME_BYTES
from .http_app import create_app
from .http_workers import GTHREAD_EXTENDED, GTHREAD_NEW
from .stream_server import read_timeout

HTTP_WORKERS = ("sync", "gthread")
# `--http-stack`: the server under the same routes (http_routes.py); the gunicorn ones are served here.
HTTP_STACKS = {"gunicorn-sync": __name__, "gunicorn-gthread": __name__,
               "uvicorn": "sidecars.frontends.http_asgi", "lean": "sidecars.frontends.http_lean"}
# gunicorn's workers with per-request read deadlines, pipelining and chunk limits (http_workers.py);
# gunicorn 27's gthread (from pip) with the read deadline; on a gthread that fits neither, the
# app-level limits only.
WORKER_CLASSES = {"sync": "sidecars.frontends.http_workers.SidecarSyncWorker",
                  "gthread": "sidecars.frontends.http_workers."
                             + ("SidecarThreadWorker" if GTHREAD_EXTENDED else "SidecarNewThreadWorker" if GTHREAD_NEW
                                else "SidecarStockThreadWorker")}
GTHREAD_THREADS = 4
# Longer than the client's own idle limit (60 s, transports/http-json.ts), so the client is the one
# to drop an idle connection and never sends a request on one the server is closing.
KEEPALIVE_S = 75
GRACEFUL_TIMEOUT_S = 3  # below the harness's stop grace (5 s), so gunicorn finishes on its own
PR_SET_PDEATHSIG = 1
OMP_PAUSE_HARD = 2


def gunicorn_settings(address: Address, options: dict[str, Any]) -> dict[str, Any]:
    """gunicorn's settings for one worker serving `address` in the chosen set-up."""
    worker = options.get("http_worker") or "gthread"
    if worker not in HTTP_WORKERS:
        raise ValueError(f"Expected `http_worker` to be one of {list(HTTP_WORKERS)}, got {worker!r}")
    if address.family == "unix":
        bind = f"unix:{address.path}"
    else:
        bind = f"[{address.host}]:{address.port}" if ":" in address.host else f"{address.host}:{address.port}"
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
    settings: dict[str, Any] = {
        "bind": [bind],
        "workers": 1,
        "worker_class": WORKER_CLASSES[worker],
        "umask": 0o177,  # the unix socket file is created 0600
        # 0 turns off the master's heartbeat kill: a long generation would otherwise be cut at 30 s.
        "timeout": 0,
        "graceful_timeout": GRACEFUL_TIMEOUT_S,
        "errorlog": "-",
        "accesslog": None,
        "loglevel": level if level in ("debug", "info", "warning", "error", "critical") else "warning",
        "proc_name": "sidecar-http-json",
    }
    if os.path.isdir("/dev/shm"):
        settings["worker_tmp_dir"] = "/dev/shm"  # the heartbeat file's fchmod never touches a disk
    if worker == "gthread":
        settings.update(threads=GTHREAD_THREADS, keepalive=KEEPALIVE_S)
    return settings


def bound_address(requested: Address, listener_name: Any) -> Address:
    """The address a listener is really bound to (the real port when port 0 was asked for)."""
    if requested.family == "unix":
        return requested
    return Address("tcp", host=requested.host, port=int(listener_name[1]))


def die_with_parent(parent_pid: int) -> None:
    """In a worker: be killed when the master dies, even by SIGKILL, so no worker is orphaned."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            logging.getLogger("sidecars.http_json").warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent_pid:  # the master died before prctl took effect
        os._exit(1)


def release_openmp_pools() -> None:
    """In the master, before a fork: free the OpenMP runtime's thread pool, if one is loaded.

    The core ran torch in this process (load and warm-up); a child forked with GNU libgomp's pool
    in that state hangs on its first parallel region whenever torch uses more than one thread.
    After a hard pause the child starts a pool of its own.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "omp" in line.rsplit("/", 1)[-1]}
    except OSError:
        return
    for path in sorted(paths):
        name = os.path.basename(path)
        if not name.startswith(("libgomp", "libomp", "libiomp")):
            continue
        try:
            runtime = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)
            runtime.omp_pause_resource_all(OMP_PAUSE_HARD)
        except (OSError, AttributeError) as exc:  # an old runtime without omp_pause_resource_all
            logging.getLogger("sidecars.http_json").warning("cannot release the OpenMP pool of %s: %s", name, exc)


class _Server(BaseApplication):  # type: ignore[misc]
    """The application; the workers (http_workers.py) read their limits from it."""

    def __init__(self, core: Core, settings: dict[str, Any], max_body_bytes: int, read_timeout_s: float) -> None:
        self._core = core
        self._settings = settings
        self.max_body_bytes = max_body_bytes
        self.read_timeout_s = read_timeout_s
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._settings.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app(self._core, self.max_body_bytes)


def http_stack(options: dict[str, Any]) -> str:
    """`options["http_stack"]`, or the gunicorn stack `options["http_worker"]` (its old spelling) names."""
    stack = options.get("http_stack") or f"gunicorn-{options.get('http_worker') or 'gthread'}"
    if stack not in HTTP_STACKS:
        raise ValueError(f"Expected `http_stack` to be one of {list(HTTP_STACKS)}, got {stack!r}")
    return stack


def serve(core: Core, address: Address, options: dict[str, Any], on_ready: Callable[[Address], None]) -> None:
    stack = http_stack(options)
    if not stack.startswith("gunicorn-"):
        load_in_worker: Callable[[], None] | None = options.get("load_in_worker")
        if load_in_worker is not None:  # no fork on these stacks: the model loads here, before serving
            load_in_worker()
        module = importlib.import_module(HTTP_STACKS[stack])  # uvicorn's only where it is chosen
        module.serve(core, address, options, on_ready)
        return
    serve_gunicorn(core, address, {**options, "http_worker": stack.removeprefix("gunicorn-")}, on_ready)


def serve_gunicorn(core: Core, address: Address, options: dict[str, Any], on_ready: Callable[[Address], None]) -> None:
    max_bytes = int(options.get("max_frame_bytes") or DEFAULT_MAX_FRAME_BYTES)
    settings = gunicorn_settings(address, options)
    master_pid = os.getpid()
    load_in_worker: Callable[[], None] | None = options.get("load_in_worker")
    announced = mmap.mmap(-1, 1)  # anonymous and shared: a worker's write is seen by the next one forked
    if settings["worker_class"].endswith("SidecarStockThreadWorker"):
        logging.getLogger("sidecars.http_json").warning(
            "gunicorn %s: its gthread worker is neither one sidecar-bench extends (written for 20.1 and 27); serving "
            "without the per-request read deadline and the pipelining fix (docs/protocol.md)", gunicorn_version)

    def when_ready(arbiter: Any) -> None:
        if load_in_worker is None:
            on_ready(bound_address(address, arbiter.LISTENERS[0].sock.getsockname()))

    def pre_fork(_arbiter: Any, _worker: Any) -> None:
        release_openmp_pools()

    def post_fork(_arbiter: Any, _worker: Any) -> None:
        die_with_parent(master_pid)

    def post_worker_init(worker: Any) -> None:
        """In the worker, its signal handlers set: load, then announce readiness if none did before.

        gunicorn builds the app (create_app) just before this hook, so building it must not use the core.
        """
        if load_in_worker is None:
            return
        try:
            load_in_worker()  # reports its own failure and raises SystemExit(3): serve() makes it the exit code
        except Exception:
            logging.getLogger("sidecars.http_json").exception("the model failed to load in the worker")
            exit_worker(Arbiter.WORKER_BOOT_ERROR)
        if announced[0] == 0:
            announced[0] = 1
            on_ready(bound_address(address, worker.sockets[0].sock.getsockname()))

    settings.update(when_ready=when_ready, pre_fork=pre_fork, post_fork=post_fork, post_worker_init=post_worker_init)
    try:
        _Server(core, settings, max_bytes, read_timeout(options)).run()
    except SystemExit as exc:
        # A worker ending with WORKER_BOOT_ERROR (3, the sidecar's own startup-error code too) makes
        # the master stop and exit with it, where any other code would have the worker respawned.
        if os.getpid() != master_pid:
            exit_worker(exc.code)
        if exc.code not in (0, None):  # the master ends with sys.exit(0) after a graceful stop
            raise


def exit_worker(code: Any) -> NoReturn:
    """End the forked worker as multiprocessing ends its children, with os._exit.

    A normal exit would run the exit handlers inherited from the master: torch's thread-pool
    teardown then joins threads that exist only in the master, and the worker hangs until killed.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))
