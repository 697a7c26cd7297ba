"""Device and dtype resolution, CUDA's fork rule and explicit synchronisation, on any machine.

CUDA is faked with monkeypatch where a test is about our logic; the fork test runs for real where
torch is a CUDA build (it needs no GPU: the poisoning it checks for happens without one).
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from sidecars import device
from sidecars.cli import build_parser, model_options
from sidecars.device import resolve_dtype, select_device, synchronize, wants_cuda

REPO_ROOT = Path(__file__).resolve().parents[2]


def parse(*flags: str) -> object:
    return build_parser().parse_args(["--listen", "unix:/tmp/x.sock", *flags])


@pytest.mark.parametrize("name", ["cpu", "auto", "cuda", "cuda:0", "cuda:12"])
def test_device_flag_takes_cuda_n(name: str) -> None:
    assert parse("--device", name).device == name  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:-1", "cuda:x", "CUDA", "cuda:0,1"])
def test_device_flag_refuses_other_names(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse("--device", name)
    assert info.value.code == 2 and "cuda:N" in capsys.readouterr().err


def test_dtype_flag_defaults_to_the_models_own() -> None:
    args = parse("--model", "gemma")
    assert args.dtype is None and "dtype" not in model_options(args)  # type: ignore[attr-defined, arg-type]
    assert parse("--dtype", "float16").dtype == "float16"  # type: ignore[attr-defined]


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two visible CUDA devices, the second one current, as far as select_device can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)


@pytest.mark.usefixtures("two_gpus")
def test_select_device_takes_an_index_and_cuda_means_the_current_device() -> None:
    assert select_device("cuda:0") == torch.device("cuda", 0)
    assert select_device("cuda:1") == torch.device("cuda", 1)
    assert select_device("cuda") == torch.device("cuda", 1)
    assert select_device("auto") == torch.device("cuda", 1)
    assert select_device("cpu") == torch.device("cpu")


@pytest.mark.usefixtures("two_gpus")
@pytest.mark.parametrize("name, message", [("cuda:2", "below the 2 CUDA device"), ("cuda:x", "cuda:N"),
                                           ("gpu", "cuda:N")])
def test_select_device_refuses_a_missing_index_or_a_bad_name(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select_device(name)


def test_select_device_without_cuda_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    for name in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match=f"`--device {name}`.*sees none"):
            select_device(name)
    assert select_device("auto") == torch.device("cpu")


def test_wants_cuda_never_asks_the_cuda_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden() -> int:
        raise AssertionError("initialises CUDA (poisons fork)")

    for target, name in [(torch.cuda, "is_available"), (torch.cuda, "device_count"), (torch.cuda, "init"),
                         (torch._C, "_cuda_getDeviceCount")]:
        monkeypatch.setattr(target, name, forbidden, raising=False)
    assert not wants_cuda("cpu") and wants_cuda("cuda") and wants_cuda("cuda:3")
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
    assert not wants_cuda("auto")  # a CPU-only build
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    for nvml_count, expected in [(0, False), (2, True), (-1, True)]:  # -1: NVML cannot tell
        monkeypatch.setattr(torch.cuda, "_device_count_nvml", lambda n=nvml_count: n, raising=False)
        assert wants_cuda("auto") is expected
    monkeypatch.setattr(torch.cuda, "_device_count_nvml", forbidden, raising=False)
    assert wants_cuda("auto")


FORK_PROBE = textwrap.dedent("""
    import json, os
    import torch
    from sidecars.cli import build_parser, loads_after_fork
    from sidecars.cores import create_core

    def child_may_use_cuda():
        pid = os.fork()
        if pid == 0:
            os._exit(1 if torch.cuda._is_in_bad_fork() else 0)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0

    decided = []
    for model in ("cifar", "gemma"):
        args = build_parser().parse_args(["--model", model, "--transport", "http-json", "--listen", "tcp:127.0.0.1:0"])
        decided.append(loads_after_fork(args, create_core(model, {"device": "auto"})))
    clean = child_may_use_cuda()
    torch.cuda.is_available()  # the check the decision must not make: it poisons fork
    print(json.dumps({"decided": decided, "clean": clean, "clean_after_is_available": child_may_use_cuda()}))
""")


def test_deciding_where_to_load_leaves_a_forked_child_free_to_use_cuda() -> None:
    if not torch.backends.cuda.is_built():
        pytest.skip(f"torch {torch.__version__} is a CPU-only build: nothing can poison fork")
    out = subprocess.run([sys.executable, "-c", FORK_PROBE], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    expected = torch.cuda._device_count_nvml() != 0  # type: ignore[attr-defined]
    assert seen == {"decided": [expected, expected], "clean": True,
                    "clean_after_is_available": False}  # the probe does see poisoning when there is some


def test_resolve_dtype_defaults_per_device() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert resolve_dtype(None, cpu, cuda_default="bfloat16") == torch.float32
    assert resolve_dtype(None, gpu, cuda_default="bfloat16") == torch.bfloat16
    assert resolve_dtype(None, gpu) == torch.float32
    assert resolve_dtype("float16", cpu) == torch.float16
    with pytest.raises(ValueError, match="Expected `dtype` to be one of .*got 'int8'"):
        resolve_dtype("int8", cpu)


def test_synchronize_waits_for_cuda_devices_only(monkeypatch: pytest.MonkeyPatch) -> None:
    waited: list[torch.device] = []
    monkeypatch.setattr(torch.cuda, "synchronize", waited.append)
    synchronize(torch.device("cpu"))
    synchronize(torch.device("cuda", 1))
    assert waited == [torch.device("cuda", 1)]


def test_describe_device_names_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"Fake GPU {index}")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)
    assert device.describe_device(torch.device("cuda", 1)) == "cuda:1 (Fake GPU 1)"
    assert device.describe_device(torch.device("cuda")) == "cuda:3 (Fake GPU 3)"
    assert device.describe_device(torch.device("cpu")) == "cpu"


def test_gpu_facts_are_empty_on_the_cpu_and_complete_on_cuda(monkeypatch):
    import subprocess
    from types import SimpleNamespace

    from sidecars import device as dev

    assert dev.gpu_facts(torch.device("cpu")) == {}
    # No GPU here: torch's CUDA queries and nvidia-smi stand in, to check what a CUDA ready line holds.
    props = SimpleNamespace(name="NVIDIA H200", major=9, minor=0, total_memory=150 * 2**30)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    asked: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda argv, **k: asked.append(argv) or SimpleNamespace(returncode=0, stdout="580.65.06\n"))
    facts = dev.gpu_facts(torch.device("cuda:0"))
    assert asked[0][-2:] == ["-i", "0"]  # no UUID known: the index
    props.uuid = "1234abcd-0000-0000-0000-000000000000"
    assert dev.gpu_facts(torch.device("cuda:0"))["gpu"]["driver"] == "580.65.06"
    assert asked[1][-2:] == ["-i", "GPU-1234abcd-0000-0000-0000-000000000000"]  # nvidia-smi's own numbering differs
    assert facts == {"gpu": {"name": "NVIDIA H200", "driver": "580.65.06", "cuda": "13.0", "capability": "9.0",
                             "memory_bytes": 150 * 2**30}}
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: SimpleNamespace(returncode=9, stdout=""))
    assert dev.gpu_facts(torch.device("cuda:0"))["gpu"]["driver"] is None
