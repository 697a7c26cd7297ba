"""A text embedder with no model file and no dependency beyond numpy, for
`python -m sidecars --model examples/text_embedder.py:TextEmbedder`.

The hashing trick: each lower-cased word and each character trigram of a text adds +1 or -1 to one
of 64 dimensions, both chosen by a stable hash (blake2b, never Python's per-process `hash()`), and
the sum is L2-normalised. Deterministic across processes and machines; an empty text embeds to all
zeros (there is nothing to normalise). It shows BYTES inputs and a thread-safe model.

    --model-arg dims=128     a wider embedding (the metadata's shape follows)
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

WORD = re.compile(r"\w+")


class TextEmbedder:
    name = "text-embedder"
    version = "1"
    platform = "numpy"
    thread_safe = True  # no state is written after construction

    def __init__(self, dims: int = 64) -> None:
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
            raise ValueError(f"Expected `dims` to be a positive integer, got {dims!r}")
        self.dims = dims
        self.inputs = [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
        self.outputs = [{"name": "embedding", "datatype": "FP32", "shape": [-1, dims]}]

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = inputs["text"]
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, raw in enumerate(texts):
            self._embed(bytes(raw).decode("utf-8", "replace"), out[row])
        return {"embedding": out}

    def _embed(self, text: str, into: np.ndarray) -> None:
        lowered = text.lower()
        features = WORD.findall(lowered) + [lowered[i:i + 3] for i in range(max(0, len(lowered) - 2))]
        for feature in features:
            digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            into[value % self.dims] += 1.0 if (value >> 63) & 1 else -1.0
        norm = float(np.linalg.norm(into))
        if norm > 0:
            into /= norm
