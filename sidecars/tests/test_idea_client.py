"""A client written to the idea alone (plain sockets, no project code) against our framed sidecar.

The idea's client sends a type-1 frame holding one 32x32 planar RGB image and prints the reply body
as a string: the class name. The image comes from a sample PNG (CIFAR-10's sample-images/image00.png
under $CIFAR10_DIR or ../shared), decoded here by hand; where there is none (CI), from a PNG this
test writes itself, so the test runs everywhere.
"""
from __future__ import annotations

import socket
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from sidecars import cifar_data

from .conftest import REPO_ROOT, start_sidecar
from .wire import framed, read_frame

SAMPLE = cifar_data.default_dir() / "sample-images" / "image00.png"  # test record 0: a cat

pytestmark = pytest.mark.skipif(not (REPO_ROOT / "sidecars" / "weights" / "cifar10-cnn.pt").exists(),
                                reason="the CIFAR-10 weights are not in this checkout")


# --- The idea's client: 30 lines, nothing from this project. ---------------------------------
def idea_send(sock: socket.socket, msgtype: int, body: bytes) -> None:
    sock.sendall(struct.pack(">I", len(body) + 1) + struct.pack("B", msgtype) + body)


def idea_recv_exact(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("server closed the connection")
        data.extend(chunk)
    return bytes(data)


def idea_recv(sock: socket.socket) -> tuple[int, bytes]:
    (length,) = struct.unpack(">I", idea_recv_exact(sock, 4))
    payload = idea_recv_exact(sock, length)
    return payload[0], payload[1:]


def idea_classify(socket_path: str, image: bytes) -> str:
    """Send one 3072-byte planar image as a type-1 frame; the reply body, printed as a string."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(socket_path)
        idea_send(sock, 1, image)
        msgtype, body = idea_recv(sock)
        assert msgtype == 1, f"reply of type {msgtype}: {body[:200]!r}"
        return body.decode("utf-8")
# ------------------------------------------------------------------------------------------


def decode_png(data: bytes) -> bytes:
    """An 8-bit RGB, non-interlaced PNG as 3072 planar bytes (1024 R, 1024 G, 1024 B)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length, kind) = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IHDR":
            header = data[pos + 8:pos + 8 + length]
        elif kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, color, interlace) == (8, 2, 0), "only 8-bit RGB, non-interlaced"
    raw, stride = zlib.decompress(idat), width * 3
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a, b, c = line[x - 3] if x >= 3 else 0, prev[x], prev[x - 3] if x >= 3 else 0
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
            line[x] = (line[x] + [0, a, b, (a + b) // 2, paeth][kind]) & 0xFF
        rows.append(bytes(line))
        prev = line
    pixels = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(height, width, 3)
    return pixels.transpose(2, 0, 1).tobytes()


def encode_png(planar: bytes) -> bytes:
    """A 32x32 RGB PNG of a planar image (filter 0 on every row): the stand-in where no sample exists."""
    rgb = np.frombuffer(planar, dtype=np.uint8).reshape(3, 32, 32).transpose(1, 2, 0)
    raw = b"".join(b"\x00" + row.tobytes() for row in rgb)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_png_decoder_reads_what_the_encoder_wrote() -> None:
    planar = bytes((i * 7 + i // 1024 * 50) & 0xFF for i in range(3072))
    assert decode_png(encode_png(planar)) == planar


@pytest.mark.skipif(not SAMPLE.exists(), reason=f"no sample PNG at {SAMPLE}")
def test_png_decoder_matches_the_test_record() -> None:
    # image00.png is test record 0, pixel for pixel; the decoder's filters must give it back exactly.
    _, images = cifar_data.load_records(SAMPLE.parent.parent / cifar_data.TEST_FILE, 1)
    assert decode_png(SAMPLE.read_bytes()) == images[0].tobytes()


def test_the_idea_client_gets_the_label_text(tmp_path: Path) -> None:
    png = SAMPLE.read_bytes() if SAMPLE.exists() else encode_png(bytes((i * 13) & 0xFF for i in range(3072)))
    image = decode_png(png)
    private = tmp_path / "sock"
    private.mkdir(mode=0o700)
    sidecar = start_sidecar("--model", "cifar", "--transport", "framed", "--device", "cpu",
                            "--listen", f"unix:{private}/cifar.sock")
    try:
        text = idea_classify(sidecar.address[len("unix:"):], image)
        names = cifar_data.class_names(None)  # the sidecar was started without --data
        assert text in names
        if SAMPLE.exists():
            assert text == "cat"  # what the shipped weights answer for test record 0 (a cat)
        # The name is the class our batch type 2 (one index byte per image) gives the same pixels.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(30)
            sock.connect(sidecar.address[len("unix:"):])
            sock.sendall(framed(2, image))
            reply = read_frame(sock)
        assert reply[0] == 2 and len(reply) == 2 and names[reply[1]] == text
    finally:
        assert sidecar.stop() == 0
