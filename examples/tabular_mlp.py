"""A small tabular classifier for `python -m sidecars --model examples/tabular_mlp.py:TabularMLP`.

A 32 -> 64 -> 4 torch MLP with weights drawn from a fixed seed (no download, no training), so every
process that loads it answers the same inputs with the same outputs. It shows the whole model
contract (sidecars/model_api.py, docs/your-model.md): metadata as class attributes, load(), infer().

    --model-arg hidden=128   a wider hidden layer
    --model-arg seed=7       other weights
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

FEATURES, CLASSES = 32, 4


class TabularMLP:
    name = "tabular-mlp"
    version = "1"
    platform = "pytorch"
    inputs = [{"name": "features", "datatype": "FP32", "shape": [-1, FEATURES]}]
    outputs = [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, CLASSES]},
        {"name": "label", "datatype": "INT64", "shape": [-1]},
    ]
    # torch runs one forward pass on all its intra-op threads; letting front-end threads start
    # several at once would only make them share the cores, so the sidecar serialises calls.
    thread_safe = False

    def __init__(self, hidden: int = 64, seed: int = 0) -> None:
        self.hidden = int(hidden)
        self.seed = int(seed)
        self.net: nn.Module | None = None

    def load(self) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        net = nn.Sequential(nn.Linear(FEATURES, self.hidden), nn.ReLU(), nn.Linear(self.hidden, CLASSES))
        with torch.no_grad():
            for param in net.parameters():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
        self.net = net.eval()
        self.infer({"features": np.zeros((1, FEATURES), dtype=np.float32)})  # warm-up, outside any timing

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert self.net is not None, "load() first"
        # The input array is read-only (it is the request's own buffer); torch wants a writable one.
        features = torch.from_numpy(np.array(inputs["features"], dtype=np.float32))
        with torch.inference_mode():
            probabilities = torch.softmax(self.net(features), dim=1)
        return {"probabilities": probabilities.numpy(), "label": probabilities.argmax(dim=1).numpy().astype(np.int64)}
