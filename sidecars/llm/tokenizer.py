"""Tokenizers behind one interface: SentencePiece `.model` files and llama2.c `tok*.bin` files.

Both decode through per-token bytes, so streaming can hold back a split multi-byte character
(Gemma's byte-fallback tokens carry UTF-8 one byte at a time) and the concatenated stream equals
decode() of the whole sequence.
"""
from __future__ import annotations

import codecs
import struct
from pathlib import Path
from typing import Iterable

import sentencepiece as spm


class Tokenizer:
    """Common decoding; subclasses fill bos_id, eos_ids, vocab_size, path and the two hooks."""

    bos_id: int
    eos_ids: frozenset[int]
    vocab_size: int
    path: str
    strip_leading_space = False  # a dummy-prefix tokenizer's first piece starts with a space not in the text

    def encode(self, text: str, bos: bool = True) -> list[int]:
        raise NotImplementedError

    def token_bytes(self, token_id: int) -> bytes:
        raise NotImplementedError

    def max_token_bytes(self) -> int:
        """The most bytes of text one token can stand for: the longest piece (at least 4, a whole
        character, for an unknown token). No prompt of more than cache_size times this fits the cache."""
        raise NotImplementedError

    def decode(self, ids: Iterable[int], continuation: bool = False) -> str:
        """Text of ids; unless they continue a prompt, a dummy-prefix space is dropped (as SentencePiece does)."""
        stream = self.stream(continuation)
        return "".join(stream.push(i) for i in ids) + stream.flush()

    def stream(self, continuation: bool = True) -> StreamDecoder:
        """An incremental decoder; a continuation (tokens after a prompt) keeps its first space."""
        return StreamDecoder(self, at_start=not continuation)


class StreamDecoder:
    """Turns token ids into text as they come, holding back an incomplete UTF-8 sequence."""

    def __init__(self, tokenizer: Tokenizer, at_start: bool) -> None:
        self._tokenizer = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._at_start = at_start

    def push(self, token_id: int) -> str:
        data = self._tokenizer.token_bytes(token_id)
        if self._at_start and data:
            self._at_start = False
            if self._tokenizer.strip_leading_space and data.startswith(b" "):
                data = data[1:]
        return self._utf8.decode(data)

    def flush(self) -> str:
        """Text still held back (an unfinished character becomes U+FFFD)."""
        return self._utf8.decode(b"", final=True)


class SentencePieceTokenizer(Tokenizer):
    def __init__(self, path: str | Path, model_proto: bytes | None = None) -> None:
        self.path = str(path)
        self._sp = spm.SentencePieceProcessor()
        if model_proto is not None:
            self._sp.LoadFromSerializedProto(model_proto)
        else:
            self._sp.Load(str(path))
        self.vocab_size = self._sp.GetPieceSize()
        self.bos_id = self._sp.bos_id()
        eos = {self._sp.eos_id()}
        # Gemma's chat turns end with <end_of_turn>, which instruction-tuned models emit instead of EOS.
        turn_end = self._sp.PieceToId("<end_of_turn>")
        if turn_end != self._sp.unk_id():
            eos.add(turn_end)
        self.eos_ids = frozenset(eos)
        self.strip_leading_space = self._sp.EncodeAsPieces("a")[0].startswith("\u2581")
        self._bytes: dict[int, bytes] = {}

    def encode(self, text: str, bos: bool = True) -> list[int]:
        ids = list(self._sp.EncodeAsIds(text))
        return [self.bos_id, *ids] if bos else ids

    def max_token_bytes(self) -> int:
        # A piece's text; byte-fallback pieces (`<0xAB>`) are longer than the one byte they stand for.
        sp = self._sp
        return max(4, *(len(sp.IdToPiece(i).replace("\u2581", " ").encode("utf-8")) for i in range(self.vocab_size)))

    def token_bytes(self, token_id: int) -> bytes:
        cached = self._bytes.get(token_id)
        if cached is None:
            cached = self._bytes[token_id] = self._piece_bytes(token_id)
        return cached

    def _piece_bytes(self, token_id: int) -> bytes:
        sp = self._sp
        if not 0 <= token_id < self.vocab_size or sp.IsControl(token_id):
            return b""
        if sp.IsUnknown(token_id):
            return " \u2047 ".encode()  # what SentencePiece itself decodes <unk> to
        piece = sp.IdToPiece(token_id)
        if sp.IsByte(token_id):
            return bytes([int(piece[3:-1], 16)])  # <0xAB>
        return piece.replace("\u2581", " ").encode("utf-8")


class Llama2cTokenizer(Tokenizer):
    """llama2.c's format: int32 max_token_length, then per token float32 score, int32 length, bytes.
    Ids 0 <unk>, 1 BOS, 2 EOS, 3..258 the raw bytes 0x00..0xFF."""

    BYTE_OFFSET = 3

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        data = Path(path).read_bytes()
        pos, pieces, scores = 4, [], []
        while pos < len(data):
            score, length = struct.unpack_from("<fi", data, pos)
            pos += 8
            pieces.append(data[pos:pos + length])
            scores.append(score)
            pos += length
        if pos != len(data) or len(pieces) < 259:
            raise ValueError(f"{path} is not a llama2.c tokenizer ({len(pieces)} tokens, {len(data)} bytes)")
        self.pieces, self.scores, self.vocab_size = pieces, scores, len(pieces)
        self.bos_id = 1
        # llama2.c's run.c stops at BOS: TinyStories models end a story by starting the next one.
        self.eos_ids = frozenset({1, 2})
        self.strip_leading_space = True  # run.c drops the dummy-prefix space of the first piece after BOS
        self._ids: dict[bytes, int] = {}
        for i, piece in enumerate(pieces):
            self._ids.setdefault(piece, i)

    def encode(self, text: str, bos: bool = True) -> list[int]:
        """llama2.c's BPE: a dummy-prefix space, one token per character (bytes as a fallback),
        then repeatedly merge the adjacent pair whose joined piece scores highest."""
        ids: list[int] = []
        if text:
            ids.append(self._ids[b" "])
        for char in text:
            encoded = char.encode("utf-8")
            if encoded in self._ids:
                ids.append(self._ids[encoded])
            else:
                ids.extend(b + self.BYTE_OFFSET for b in encoded)
        while True:
            best, best_score = -1, float("-inf")
            for i in range(len(ids) - 1):
                merged = self._ids.get(self.pieces[ids[i]] + self.pieces[ids[i + 1]])
                if merged is not None and self.scores[merged] > best_score:
                    best, best_score = i, self.scores[merged]
            if best < 0:
                break
            ids[best:best + 2] = [self._ids[self.pieces[ids[best]] + self.pieces[ids[best + 1]]]]
        return [self.bos_id, *ids] if bos else ids

    def max_token_bytes(self) -> int:
        return max(4, *(len(p) for p in self.pieces))

    def token_bytes(self, token_id: int) -> bytes:
        if token_id in (0, 1, 2) or not 0 <= token_id < self.vocab_size:
            return b""
        if token_id < self.BYTE_OFFSET + 256:
            return bytes([token_id - self.BYTE_OFFSET])
        return self.pieces[token_id]


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A SentencePiece model (protobuf) or a llama2.c tokenizer, told apart by content, not name."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Tokenizer {path} does not exist")
    if path.suffix == ".bin":
        return Llama2cTokenizer(path)
    return SentencePieceTokenizer(path)
