"""Where a model runs and in which dtype: device names, CUDA's rules, and clocks that wait for the GPU.

Shared by both model cores, the in-process baseline, training and the decode benchmark, so every one
of them resolves `--device` and `--dtype` the same way and reports them the same way.
"""
from __future__ import annotations

import subprocess
from typing import Any

import torch

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEVICE_NAMES = "cpu, cuda, cuda:N or auto"


def select_device(name: str) -> torch.device:
    """Resolve 'cpu' | 'cuda' | 'cuda:N' | 'auto' (cuda when one is available).

    'cuda' is torch's current device (CUDA_VISIBLE_DEVICES and torch.cuda.set_device decide it), so a
    result names a real index; 'cuda:N' must be one of the devices this process can see.
    """
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    index_text = name[len("cuda:"):] if name.startswith("cuda:") else None
    if name not in ("auto", "cuda") and not (index_text and index_text.isdigit()):
        raise ValueError(f"Expected `--device` to be one of {DEVICE_NAMES}, got {name!r}")
    if not torch.cuda.is_available():
        raise ValueError(
            f"Expected a CUDA device for `--device {name}`, but torch {torch.__version__} "
            "sees none (CPU-only build or no GPU); use `--device cpu` or `auto`"
        )
    if index_text is None:
        return torch.device("cuda", torch.cuda.current_device())
    count = torch.cuda.device_count()
    if int(index_text) >= count:
        raise ValueError(f"Expected `--device cuda:N` with N below the {count} CUDA device(s) visible "
                         f"(CUDA_VISIBLE_DEVICES applies), got {name!r}")
    return torch.device("cuda", int(index_text))


def wants_cuda(name: str) -> bool:
    """Whether select_device(name) will pick a CUDA device, answered without initialising CUDA.

    A process that has initialised CUDA cannot use it in a child it forks ("Cannot re-initialize CUDA
    in forked subprocess"), and torch.cuda.is_available() initialises it (cudaGetDeviceCount) on torch
    1.13, and on 2.x unless PYTORCH_NVML_BASED_CUDA_CHECK=1. NVML counts devices without the CUDA
    runtime; torch.cuda.device_count() asks it first for the same reason (torch.cuda._device_count_nvml,
    private, present in 1.13 and 2.x, CUDA_VISIBLE_DEVICES applied). When NVML cannot answer, CUDA is
    assumed: the caller then loads in the child, which is right on either kind of machine.
    """
    if name != "auto":
        return name.startswith("cuda")
    if not torch.backends.cuda.is_built():
        return False
    count_nvml = getattr(torch.cuda, "_device_count_nvml", None)
    try:
        count = int(count_nvml()) if count_nvml is not None else -1
    except Exception:  # a private helper: any surprise means "cannot tell"
        count = -1
    return count != 0


def describe_device(device: torch.device) -> str:
    """'cpu' or 'cuda:0 (NVIDIA H100 ...)' for results and the ready line."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return "cpu"


def gpu_facts(device: torch.device) -> dict[str, Any]:
    """What a CUDA result needs beside the device's name: its driver, the CUDA torch was built for,
    capability and memory. Empty on the CPU. The driver comes from nvidia-smi (torch does not expose
    its version string); None when that does not answer."""
    if device.type != "cuda":
        return {}
    index = device.index if device.index is not None else torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    driver = None
    # nvidia-smi counts GPUs in PCI order and ignores CUDA_VISIBLE_DEVICES: ask for this one by its UUID.
    uuid = getattr(props, "uuid", None)
    which = f"GPU-{uuid}" if uuid is not None else str(index)
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader", "-i", which],
                             capture_output=True, text=True, timeout=10, check=False)
        driver = (out.stdout.strip() or None) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"gpu": {"name": props.name, "driver": driver, "cuda": torch.version.cuda,
                    "capability": f"{props.major}.{props.minor}", "memory_bytes": int(props.total_memory)}}


def resolve_dtype(name: str | None, device: torch.device, cuda_default: str = "float32") -> torch.dtype:
    """The dtype named by `--dtype`, or the model's default for the device when none was given."""
    chosen = name or (cuda_default if device.type == "cuda" else "float32")
    try:
        return DTYPES[chosen]
    except KeyError:
        raise ValueError(f"Expected `dtype` to be one of {list(DTYPES)}, got {chosen!r}") from None


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on `device`, so a clock read next includes it.

    CUDA kernels run asynchronously: without this a perf_counter read after a forward pass times the
    launches, and the compute lands in whatever later call happens to wait (a .tolist(), a copy).
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
