"""The one error shape every front-end puts on its wire: a stable code and a message."""
from __future__ import annotations

# Closed set of codes; the TypeScript side mirrors them in transports/errors.ts.
CODES = frozenset(
    {
        "BAD_FRAME",  # framing broken: zero length, truncated, out of sync
        "FRAME_TOO_LARGE",  # declared length over the limit
        "UNKNOWN_TYPE",  # framed message type or msgpack op not known
        "BAD_INPUT",  # well-framed request whose content is wrong (sizes, types, values)
        "UNSUPPORTED_OP",  # this model core does not implement the operation
        "OVERLOADED",  # refused at a limit (connections, calls in flight): try again later
        "MODEL_ERROR",  # the model raised while serving a valid request
        "TIMEOUT",  # the client was too slow: e.g. it did not read its stream (--client-stall-timeout-s)
        "INTERNAL",  # anything else inside the sidecar
    }
)


class SidecarError(Exception):
    """An error that travels to the client with a stable code."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"Unknown sidecar error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def to_sidecar_error(exc: BaseException) -> SidecarError:
    """Normalise any exception at a front-end boundary, keeping the cause."""
    if isinstance(exc, SidecarError):
        return exc
    err = SidecarError("MODEL_ERROR", f"{type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err
