"""Reader of the official CIFAR-10 binary format: records of 1 label byte + 3072 planar pixel bytes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

RECORD_BYTES = 3073
IMAGE_BYTES = 3072
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
EXACT_RECORDS = 1017  # records 0-1016 of every file are bit-exact; later ones are JPEG-decoded
DEFAULT_CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


def default_dir() -> Path:
    """$CIFAR10_DIR, else ../shared/datasets/cifar10 beside the repository root."""
    env = os.environ.get("CIFAR10_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "cifar10"


def load_records(path: str | Path, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels (N,) uint8 and images (N,3072) uint8 of a file, or of its first `limit` records."""
    path = Path(path)
    count = -1 if limit is None else limit * RECORD_BYTES
    raw = np.fromfile(path, dtype=np.uint8, count=count)
    if raw.size == 0 or raw.size % RECORD_BYTES != 0:
        raise ValueError(
            f"Expected {path} to hold whole {RECORD_BYTES}-byte CIFAR-10 records, got {raw.size} bytes"
        )
    records = raw.reshape(-1, RECORD_BYTES)
    return records[:, 0].copy(), np.ascontiguousarray(records[:, 1:])


def load_split(data_dir: str | Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """All five training batches concatenated, or the test batch."""
    names = TRAIN_FILES if train else (TEST_FILE,)
    parts = [load_records(Path(data_dir) / name) for name in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def class_names(data_dir: str | Path | None) -> list[str]:
    """Names from batches.meta.txt, or the 10 standard names when there is no readable file."""
    if data_dir is not None:
        meta = Path(data_dir) / "batches.meta.txt"
        try:
            names = [line.strip() for line in meta.read_text().splitlines() if line.strip()]
        except OSError:
            names = []
        if len(names) == len(DEFAULT_CLASS_NAMES):
            return names
    return list(DEFAULT_CLASS_NAMES)
