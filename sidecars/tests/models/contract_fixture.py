"""Models that follow (and break) the model contract (sidecars/model_api.py), for the contract,
framed, msgpack and in-process infer tests. `Mixer`'s first `x` value picks a misbehaviour, so one
sidecar can be driven through every model fault and shown to keep serving.

    python -m sidecars --model sidecars/tests/models/contract_fixture.py:Mixer ...
"""
from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

# x[0, 0] values that make Mixer misbehave, as a broken model would.
RAISE, WRONG_DTYPE, MISSING, WRONG_SHAPE, EXTRA, NOT_A_DICT, BAD_BYTES = -13, -7, -8, -9, -10, -11, -12
SLOW = -20  # sleeps 0.2 s: for the lock test


class Mixer:
    """y = 2x; `lengths` and upper-cased `words` for a BYTES input; generate() yields the prompt's words."""

    name = "mixer"
    version = "3"
    inputs = [{"name": "x", "datatype": "FP32", "shape": [-1, 4]},
              {"name": "words", "datatype": "BYTES", "shape": [-1]}]
    outputs = [{"name": "y", "datatype": "FP32", "shape": [-1, 4]},
               {"name": "lengths", "datatype": "INT32", "shape": [-1]},
               {"name": "upper", "datatype": "BYTES", "shape": [-1]}]

    def __init__(self, scale: float = 2.0) -> None:
        self.scale = scale
        self.active = 0
        self.most_active = 0
        self.loaded = False

    def load(self) -> None:
        self.loaded = True

    def infer(self, inputs: dict[str, np.ndarray]) -> object:
        assert self.loaded
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            return self._infer(inputs)
        finally:
            self.active -= 1

    def _infer(self, inputs: dict[str, np.ndarray]) -> object:
        x, words = inputs["x"], inputs["words"]
        first = float(x.reshape(-1)[0]) if x.size else 0.0
        out = {"y": (x * self.scale).astype(np.float32), "lengths": np.array([len(w) for w in words], dtype=np.int32),
               "upper": np.array([bytes(w).upper() for w in words], dtype=object)}
        if first == SLOW:
            time.sleep(0.2)
        elif first == RAISE:
            raise RuntimeError("the fixture refuses x[0, 0] == -13")
        elif first == WRONG_DTYPE:
            out["y"] = out["y"].astype(np.float64)
        elif first == MISSING:
            del out["lengths"]
        elif first == WRONG_SHAPE:
            out["y"] = out["y"].reshape(-1)
        elif first == EXTRA:
            out["surprise"] = np.zeros(1, dtype=np.uint8)
        elif first == NOT_A_DICT:
            return [out["y"]]
        elif first == BAD_BYTES:
            out["upper"] = np.array([1, 2], dtype=object)
        return out

    def generate(self, prompt: str, **params: object) -> Iterator[str]:
        steps = int(params["sampling_steps"])  # type: ignore[call-overload]
        words = prompt.split()
        if words and words[0] == "explode":
            yield "boom "
            raise ValueError("exploded mid-generation")
        for word in words[:steps]:
            yield word + " "


class ThreadSafeMixer(Mixer):
    thread_safe = True


class Printer:
    """print()s in load and infer: stdout must stay the sidecar's (the ready line, the in-process replies)."""

    name = "printer"
    inputs = [{"name": "v", "datatype": "UINT8", "shape": [-1]}]
    outputs = [{"name": "v", "datatype": "UINT8", "shape": [-1]}]

    def load(self) -> None:
        print("loading the printer")

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        print("inferring")
        return {"v": inputs["v"]}


class Scalar:
    """Rank 0 and BOOL: the edges of the tensor format."""

    name = "scalar"
    thread_safe = True
    inputs = [{"name": "flag", "datatype": "BOOL", "shape": []}, {"name": "h", "datatype": "FP16", "shape": [2]}]
    outputs = [{"name": "flag", "datatype": "BOOL", "shape": []}, {"name": "h", "datatype": "FP16", "shape": [2]}]

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"flag": np.logical_not(inputs["flag"]), "h": inputs["h"] + np.float16(1)}


class NoName(Printer):
    name = ""


class BadShape(Printer):
    outputs = [{"name": "v", "datatype": "UINT8", "shape": [-2]}]


class DuplicateInput(Printer):
    inputs = [{"name": "v", "datatype": "UINT8", "shape": [-1]}, {"name": "v", "datatype": "UINT8", "shape": [-1]}]


class NotThreadSafeFlag(Printer):
    thread_safe = "yes"


class RaisesInInit(Printer):
    def __init__(self) -> None:
        raise RuntimeError("no GPU here")


class RaisesInLoad(Printer):
    def load(self) -> None:
        raise FileNotFoundError("weights.bin")


class NoInfer:
    name = "no-infer"


class NeedsArgs(Printer):
    def __init__(self, width: int, label: str = "x") -> None:
        self.width, self.label = width, label
        self.inputs = [{"name": "v", "datatype": "UINT8", "shape": [-1, width]}]
        self.outputs = [{"name": "v", "datatype": "UINT8", "shape": [-1, width]}]
        self.name = f"needs-args-{label}"

    def load(self) -> None:
        pass
