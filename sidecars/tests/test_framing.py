"""The pure frame decoder: every split point of a stream gives the same frames."""
from __future__ import annotations

import struct

import pytest

from sidecars.frontends.framing import FrameDecoder, encode_frame

BODIES = [b"", b"\x01", bytes(range(256)) * 2, b"xyz"]
WIRE = b"".join(encode_frame(b) for b in BODIES)


@pytest.mark.parametrize("cut", range(len(WIRE) + 1))
def test_any_split_gives_the_same_frames(cut: int) -> None:
    decoder = FrameDecoder()
    frames = decoder.feed(WIRE[:cut]) + decoder.feed(WIRE[cut:])
    assert frames == BODIES
    assert decoder.pending_bytes == 0
    assert decoder.error is None


def test_byte_by_byte() -> None:
    decoder = FrameDecoder()
    frames = [f for i in range(len(WIRE)) for f in decoder.feed(WIRE[i : i + 1])]
    assert frames == BODIES


def test_truncated_frame_is_held() -> None:
    one = encode_frame(b"abc")
    for cut in range(len(one)):
        decoder = FrameDecoder()
        assert decoder.feed(one[:cut]) == []
        assert decoder.pending_bytes == cut


def test_over_the_limit_is_refused_before_the_body_arrives() -> None:
    decoder = FrameDecoder(max_frame_bytes=1024)
    good = encode_frame(b"ok")
    assert decoder.feed(good + struct.pack(">I", 1025)) == [b"ok"]
    assert decoder.error is not None and decoder.error.code == "FRAME_TOO_LARGE"
    assert decoder.feed(b"more") == []


def test_exactly_at_the_limit_is_accepted() -> None:
    decoder = FrameDecoder(max_frame_bytes=16)
    assert decoder.feed(encode_frame(bytes(16))) == [bytes(16)]
