"""Tiny models that follow the user-model contract (docs/your-model.md), for the Open Inference
Protocol tests: small enough to check every output by hand, and with one way to make each raise.

    python -m sidecars --model sidecars/tests/models/oip_fixture.py:Doubler ...
"""
from __future__ import annotations

import time

import numpy as np

RAISE_ON = -13.0  # an `x` whose first element is this makes Doubler raise, as a broken model would


class Doubler:
    """y = 2x + 1 row by row, and each row's sum as FP64."""

    name = "doubler"
    inputs = [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    outputs = [{"name": "y", "datatype": "FP32", "shape": [-1, 4]},
               {"name": "row_sum", "datatype": "FP64", "shape": [-1]}]
    thread_safe = True

    def load(self) -> None:
        pass

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["x"]
        if x.size and float(x.reshape(-1)[0]) == RAISE_ON:
            raise RuntimeError(f"the fixture refuses x[0] == {RAISE_ON}")
        return {"y": (x * 2 + 1).astype(np.float32), "row_sum": x.astype(np.float64).sum(axis=1)}


class Shout:
    """BYTES in, BYTES out: each element upper-cased, with its length as INT32."""

    name = "shout"
    inputs = [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    outputs = [{"name": "loud", "datatype": "BYTES", "shape": [-1]},
               {"name": "length", "datatype": "INT32", "shape": [-1]}]
    thread_safe = True

    def load(self) -> None:
        pass

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        text = inputs["text"].reshape(-1)
        loud = np.empty(text.shape, dtype=object)
        loud[:] = [bytes(t).upper() for t in text]
        return {"loud": loud, "length": np.array([len(t) for t in text], dtype=np.int32)}


class Sleeper:
    """Sleeps `seconds[0]` seconds (at most 5): a call that stays in flight, for the limit tests."""

    name = "sleeper"
    inputs = [{"name": "seconds", "datatype": "FP32", "shape": [1]}]
    outputs = [{"name": "slept", "datatype": "FP32", "shape": [1]}]
    thread_safe = True

    def load(self) -> None:
        pass

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seconds = min(max(float(inputs["seconds"][0]), 0.0), 5.0)
        time.sleep(seconds)
        return {"slept": np.array([seconds], dtype=np.float32)}
