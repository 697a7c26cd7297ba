"""Serve the echo model on one front-end with an options dict, as the CLI does, with options the CLI
may not expose (small connection caps, short deadlines) so limit tests stay fast:
`python -m sidecars.tests.serve_with TRANSPORT LISTEN OPTIONS_JSON`. Prints the ready line.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from sidecars.address import Address, parse_address
from sidecars.cores.echo import EchoCore
from sidecars.frontends import load_frontend

from .conftest import RunningSidecar, start_module


def start_with(transport: str, listen: str, **options: Any) -> RunningSidecar:
    return start_module("sidecars.tests.serve_with", transport, listen, json.dumps(options))


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def main(transport: str, listen: str, options_json: str) -> None:
    core = EchoCore({})
    core.load()
    options = json.loads(options_json)
    if options.pop("sigterm_while_refusing", False):
        # The main thread signals itself in the middle of its own work (answering a connection over
        # the cap): the refusal must still go out whole, and the sidecar then stop cleanly.
        from sidecars.frontends import stream_server

        refuse = stream_server._refuse

        def refuse_after_a_signal(*args: Any) -> None:
            os.kill(os.getpid(), signal.SIGTERM)
            refuse(*args)

        stream_server._refuse = refuse_after_a_signal  # type: ignore[assignment]

    def on_ready(bound: Address) -> None:
        print(json.dumps({"event": "ready", "address": str(bound), "pid": os.getpid()}), flush=True)

    load_frontend(transport)(core, parse_address(listen), options, on_ready)


if __name__ == "__main__":
    main(*sys.argv[1:4])
