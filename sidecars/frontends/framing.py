"""Length-prefixed frames shared by the `framed` and `msgpack` wires: `[u32 BE length][length bytes]`.

`FrameDecoder` is pure (no I/O): feed it whatever a read returned, in any split, and it hands
back whole frames. It checks the declared length against the limit before allocating anything.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import SidecarError

HEADER = struct.Struct(">I")
DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024


@dataclass
class FrameDecoder:
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    min_frame_bytes: int = 0

    def __post_init__(self) -> None:
        self._buffer = bytearray()
        self.error: SidecarError | None = None

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes | memoryview) -> list[bytes]:
        """Return every frame body completed by `data`, in order.

        A bad header stops decoding: the frames before it are still returned, `error` is set, and
        the stream is out of sync from there on, so the caller answers and closes.
        """
        if self.error is not None:
            return []
        self._buffer += data
        frames: list[bytes] = []
        offset = 0
        buf = self._buffer
        while len(buf) - offset >= HEADER.size:
            (length,) = HEADER.unpack_from(buf, offset)
            try:
                check_length(length, self.min_frame_bytes, self.max_frame_bytes)
            except SidecarError as exc:
                self.error = exc
                break
            end = offset + HEADER.size + length
            if end > len(buf):
                break
            frames.append(bytes(buf[offset + HEADER.size : end]))
            offset = end
        if offset:
            del buf[:offset]
        return frames


def check_length(length: int, minimum: int, maximum: int) -> None:
    if length < minimum:
        raise SidecarError("BAD_FRAME", f"Expected a frame length of at least {minimum}, got {length}")
    if length > maximum:
        raise SidecarError(
            "FRAME_TOO_LARGE", f"Expected a frame length of at most {maximum} bytes, got {length}"
        )


def encode_frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body
