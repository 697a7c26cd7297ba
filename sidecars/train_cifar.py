"""Train the CIFAR-10 CNN on the five training batches and save a float32 state dict.

    python -m sidecars.train_cifar --data DIR --epochs N --out PATH [--batch-size 64] [--seed 0]
        [--device auto] [--threads N] [--flip]

Progress goes to stderr; the last line on stdout is one JSON object with the figures for docs/cifar-model.md.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import cifar_data
from .cifar_model import build_model
from .cli import device_arg
from .device import select_device

EVAL_BATCH = 1000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sidecars.train_cifar", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="directory with data_batch_*.bin and test_batch.bin")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--out", required=True, help="where to save the state dict (.pt)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", type=device_arg, help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--flip", action="store_true", help="random horizontal flips while training")
    args = parser.parse_args(argv)
    for flag in ("epochs", "batch_size"):
        if getattr(args, flag) < 1:
            parser.error(f"Expected --{flag.replace('_', '-')} to be a positive integer, got {getattr(args, flag)}")
    return args


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)


def to_input(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (B,3072) planar rows -> float (B,3,32,32) in [0,1], the same scaling as images_to_tensor."""
    return images.to(device).view(-1, 3, 32, 32).to(torch.float32).div_(255.0)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(labels), EVAL_BATCH):
            logits = model(to_input(images[start : start + EVAL_BATCH], device))
            correct += int((logits.argmax(1).cpu() == labels[start : start + EVAL_BATCH]).sum())
    return correct / len(labels)


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    args: argparse.Namespace,
    gen: torch.Generator,
    device: torch.device,
) -> float:
    """One pass in a seeded random order; returns the mean training loss."""
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(labels), generator=gen)
    total, seen = 0.0, 0
    for start in range(0, len(order), args.batch_size):
        idx = order[start : start + args.batch_size]
        x = to_input(images[idx], device)
        if args.flip:
            # Drawn from the seeded CPU generator so runs repeat on any device.
            mask = (torch.rand(len(idx), generator=gen) < 0.5).to(device).view(-1, 1, 1, 1)
            x = torch.where(mask, x.flip(3), x)
        y = labels[idx].to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += float(loss) * len(idx)
        seen += len(idx)
    return total / seen


def main(argv: list[str] | None = None) -> int:
    wall_start = time.perf_counter()
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = seed_everything(args.seed)
    device = select_device(args.device)

    train_labels, train_images = cifar_data.load_split(args.data, train=True)
    test_labels, test_images = cifar_data.load_split(args.data, train=False)
    x_train, y_train = torch.from_numpy(train_images), torch.from_numpy(train_labels).long()
    x_test, y_test = torch.from_numpy(test_images), torch.from_numpy(test_labels).long()
    exact = cifar_data.EXACT_RECORDS

    model = build_model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"train {len(y_train)} images, test {len(y_test)}, device {device}, threads {torch.get_num_threads()}")

    seconds = 0.0
    test_acc = exact_acc = 0.0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        loss = train_epoch(model, optimizer, x_train, y_train, args, gen, device)
        elapsed = time.perf_counter() - start
        seconds += elapsed
        test_acc = accuracy(model, x_test, y_test, device)
        exact_acc = accuracy(model, x_test[:exact], y_test[:exact], device)
        log(
            f"epoch {epoch}/{args.epochs} loss {loss:.4f} train {elapsed:.1f}s "
            f"test {test_acc:.4f} exact-{exact} {exact_acc:.4f}"
        )

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    torch.save(state, out)
    result = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "flip": args.flip,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "seconds": round(seconds, 1),
        "wall_seconds": round(time.perf_counter() - wall_start, 1),
        "test_accuracy": test_acc,
        f"exact_{exact}_accuracy": exact_acc,
        "out": str(out),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
