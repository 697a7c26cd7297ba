"""Protocol front-ends, selected by the transport's wire name through lazy import strings.

Each front-end module exposes `serve(core, address, options, on_ready) -> None`: it binds
`address`, calls `on_ready(bound_address)` once it can serve, and returns after a SIGTERM or
SIGINT once in-flight requests are finished or failed.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

FRONTENDS: dict[str, str] = {
    "framed": "sidecars.frontends.framed:serve",
    "msgpack": "sidecars.frontends.msgpack_codec:serve",
    "http-json": "sidecars.frontends.http_json:serve",
    "grpc": "sidecars.frontends.grpc_server:serve",
}


def load_frontend(name: str) -> Callable[..., Any]:
    try:
        target = FRONTENDS[name]
    except KeyError:
        raise ValueError(f"Expected --transport to be one of {sorted(FRONTENDS)}, got {name!r}") from None
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)
