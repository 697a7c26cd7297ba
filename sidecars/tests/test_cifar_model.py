"""The CIFAR-10 CNN, its byte layout, safe loading, the core and the in-process baseline."""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

from sidecars import cifar_data, train_cifar
from sidecars.cifar_model import IMAGE_BYTES, StagingBuffer, WeightsError, build_model, images_to_tensor, load_model
from sidecars.cores import create_core
from sidecars.cores.cifar import DEFAULT_WEIGHTS, CifarCore
from sidecars.device import select_device
from sidecars.errors import SidecarError

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = cifar_data.default_dir()
TEST_BATCH = DATA_DIR / cifar_data.TEST_FILE
needs_data = pytest.mark.skipif(
    not TEST_BATCH.is_file(),
    reason=f"CIFAR-10 test batch not found at {TEST_BATCH} (set $CIFAR10_DIR to the dataset directory)",
)


@pytest.fixture(scope="module")
def core() -> Iterator[CifarCore]:
    assert DEFAULT_WEIGHTS.is_file(), f"committed weights missing: {DEFAULT_WEIGHTS}"
    built = create_core("cifar", {"device": "cpu", "threads": 2, "data": str(DATA_DIR)})
    assert isinstance(built, CifarCore)
    built.load()
    yield built


def test_architecture_parameter_shapes() -> None:
    shapes = {name: tuple(p.shape) for name, p in build_model().named_parameters()}
    assert shapes == {
        "0.weight": (32, 3, 3, 3), "0.bias": (32,),
        "3.weight": (64, 32, 3, 3), "3.bias": (64,),
        "6.weight": (64, 64, 3, 3), "6.bias": (64,),
        "9.weight": (64, 1024), "9.bias": (64,),
        "11.weight": (10, 64), "11.bias": (10,),
    }  # fmt: skip
    assert build_model()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_planar_bytes_map_to_channel_row_col() -> None:
    data = bytearray(2 * IMAGE_BYTES)
    data[IMAGE_BYTES + 2 * 1024 + 5 * 32 + 7] = 255  # image 1, blue plane, row 5, col 7
    data[1024 + 31] = 51  # image 0, green plane, row 0, col 31
    for buffer in (bytes(data), data, memoryview(data)):
        x = images_to_tensor(buffer)
        assert x.shape == (2, 3, 32, 32) and x.dtype == torch.float32
        assert x[1, 2, 5, 7] == 1.0
        assert x[0, 1, 0, 31] == pytest.approx(0.2)
        assert int((x != 0).sum()) == 2


def test_staging_buffer_is_reused_and_grown_only_for_larger_batches() -> None:
    sizes: list[int] = []

    def unpinned(size: int) -> torch.Tensor:  # pin_memory needs CUDA; the reuse logic does not
        sizes.append(size)
        return torch.empty(size, dtype=torch.uint8)

    staging = StagingBuffer(unpinned)
    rng = np.random.default_rng(3)
    batches = [rng.integers(0, 256, size=n * IMAGE_BYTES, dtype=np.uint8).tobytes() for n in (3, 1, 3, 5, 6, 2)]
    decoded = [images_to_tensor(b, "cpu", staging=staging) for b in batches]
    assert sizes == [3 * IMAGE_BYTES, 6 * IMAGE_BYTES]  # grown once, to at least double, then reused
    assert staging.allocations == 2 and staging.capacity == 6 * IMAGE_BYTES
    for data, x in zip(batches, decoded):  # every batch decoded right, none overwritten by a later one
        assert torch.equal(x, images_to_tensor(data))


def test_default_staging_buffer_is_pinned() -> None:
    if not torch.cuda.is_available():
        pytest.skip("pinned memory needs CUDA")
    staging = StagingBuffer()
    view = staging.stage(np.zeros(IMAGE_BYTES, dtype=np.uint8))
    assert view.is_pinned() and staging.allocations == 1


def test_images_decode_to_the_requested_dtype() -> None:
    data = bytes(range(256)) * (IMAGE_BYTES // 256)
    x = images_to_tensor(data, "cpu", torch.bfloat16)
    assert x.dtype == torch.bfloat16
    torch.testing.assert_close(x, images_to_tensor(data).to(torch.bfloat16), rtol=0, atol=0)


def test_missing_weights_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(WeightsError, match="nope.pt"):
        load_model(path, torch.device("cpu"))


def test_corrupt_weights_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"this is not a torch file")
    with pytest.raises(WeightsError, match="corrupt.pt"):
        load_model(path, torch.device("cpu"))


def test_wrong_shape_weights_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "wrong.pt"
    state = build_model().state_dict()
    state["9.weight"] = torch.zeros(64, 1600)  # what 'same' padding would need
    torch.save(state, path)
    with pytest.raises(WeightsError, match="wrong.pt.*does not fit"):
        load_model(path, torch.device("cpu"))


def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ValueError, match="cuda"):
        select_device("cuda")
    assert select_device("auto").type == "cpu"


def test_short_batch_is_bad_input(core: CifarCore) -> None:
    with pytest.raises(SidecarError) as info:
        core.classify(bytes(IMAGE_BYTES - 1))
    assert info.value.code == "BAD_INPUT"


def test_info_and_class_names(core: CifarCore) -> None:
    info = core.info()
    assert info["device"] == "cpu" and info["dtype"] == "float32" and len(info["weights_sha256"]) == 12
    assert core.class_names()[:2] == ["airplane", "automobile"] and len(core.class_names()) == 10


@needs_data
def test_first_20_test_records(core: CifarCore) -> None:
    labels, images = cifar_data.load_records(TEST_BATCH, limit=20)
    result = core.classify(images.tobytes())
    predicted = np.frombuffer(result.labels, dtype=np.uint8)
    assert len(predicted) == 20 and result.compute_ns > 0
    # The committed weights get 13/20 (72% on the 1,017 exact records); a layout or decoding bug
    # lands near chance (about 2/20), so 12 separates the two without pinning these exact weights.
    assert int((predicted == labels).sum()) >= 12


@needs_data
def test_exact_1017_test_records_accuracy(core: CifarCore) -> None:
    labels, images = cifar_data.load_records(TEST_BATCH, limit=cifar_data.EXACT_RECORDS)
    predicted = np.frombuffer(core.classify(images.tobytes()).labels, dtype=np.uint8)
    assert float((predicted == labels).mean()) >= 0.70


@needs_data
def test_bfloat16_agrees_with_float32_on_200_test_images(core: CifarCore) -> None:
    _labels, images = cifar_data.load_records(TEST_BATCH, limit=200)
    low = create_core("cifar", {"device": "cpu", "threads": 2, "dtype": "bfloat16"})
    low.load()
    assert low.info()["dtype"] == "bfloat16"
    assert isinstance(low, CifarCore) and low._model is not None
    assert {p.dtype for p in low._model.parameters()} == {torch.bfloat16}
    reference = np.frombuffer(core.classify(images.tobytes()).labels, dtype=np.uint8)
    predicted = np.frombuffer(low.classify(images.tobytes()).labels, dtype=np.uint8)
    assert float((predicted == reference).mean()) >= 0.95  # 199/200 with the committed weights


def test_float16_runs_or_is_refused_at_load_with_the_dtype_named() -> None:
    half = create_core("cifar", {"device": "cpu", "threads": 2, "dtype": "float16"})
    try:
        half.load()
    except ValueError as exc:  # torch 1.13 has no float16 convolution on the CPU
        assert "`dtype`" in str(exc) and "'float16'" in str(exc)
    else:
        assert half.info()["dtype"] == "float16" and len(half.classify(bytes(IMAGE_BYTES)).labels) == 1


def test_unknown_dtype_is_refused_when_the_core_is_built() -> None:
    with pytest.raises(ValueError, match="Expected `dtype` to be one of .*got 'int8'"):
        create_core("cifar", {"device": "cpu", "dtype": "int8"})


def test_classify_synchronizes_around_the_timed_forward_pass(core: CifarCore, monkeypatch: pytest.MonkeyPatch) -> None:
    from sidecars.cores import cifar

    waited: list[torch.device] = []
    monkeypatch.setattr(cifar, "synchronize", waited.append)
    core.classify(bytes(2 * IMAGE_BYTES))
    assert waited == [torch.device("cpu")] * 2  # after the upload, and after the forward pass


def test_concurrent_classify_agrees_with_serial(core: CifarCore) -> None:
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 256, size=(n, IMAGE_BYTES), dtype=np.uint8).tobytes() for n in (1, 3, 17, 64)]
    serial = [core.classify(b).labels for b in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda b: core.classify(b).labels, batches * 3))
    assert parallel == serial * 3


def test_training_is_deterministic_with_the_seed() -> None:
    rng = np.random.default_rng(2)
    images = torch.from_numpy(rng.integers(0, 256, size=(96, IMAGE_BYTES), dtype=np.uint8))
    labels = torch.from_numpy(rng.integers(0, 10, size=96)).long()
    args = train_cifar.parse_args(["--data", ".", "--epochs", "1", "--out", "x.pt", "--batch-size", "32", "--flip"])

    def run() -> list[torch.Tensor]:
        gen = train_cifar.seed_everything(args.seed)
        model = build_model()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        train_cifar.train_epoch(model, optimizer, images, labels, args, gen, torch.device("cpu"))
        return [p.detach().clone() for p in model.parameters()]

    try:
        assert all(torch.equal(a, b) for a, b in zip(run(), run()))
    finally:
        torch.use_deterministic_algorithms(False)  # seed_everything's global switch; other tests share the process


def _inprocess(*args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "sidecars.inprocess", *args]
    return subprocess.Popen(cmd, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_inprocess_answers_blocks_of_commands(tmp_path: Path) -> None:
    images = tmp_path / "images.bin"
    images.write_bytes(np.random.default_rng(1).integers(0, 256, size=5 * IMAGE_BYTES, dtype=np.uint8).tobytes())
    proc = _inprocess("--model", "cifar", "--device", "cpu", "--threads", "1", "--images", str(images), "--stall-ms", "5000",
                      "--grpc-server", "aio", "--http-worker", "sync", "--max-frame-bytes", "1000")
    try:
        assert proc.stdin is not None and proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready" and ready["model"] == "cifar" and ready["device"] == "cpu"

        def ask(command: dict) -> dict:
            proc.stdin.write(json.dumps(command) + "\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
            return json.loads(proc.stdout.readline())  # type: ignore[union-attr]

        single = ask({"op": "classify", "items": [0, 1, 2, 3, 4], "batch": 1})
        assert len(single["latency_ns"]) == 5 and len(single["compute_ns"]) == 5 and len(single["labels"]) == 5
        assert all(lat >= comp > 0 for lat, comp in zip(single["latency_ns"], single["compute_ns"]))
        assert max(single["latency_ns"]) < 2e9  # the sidecar's fault and server flags are accepted and ignored
        batched = ask({"op": "classify", "items": [4, 3, 2, 1, 0], "batch": 2})
        assert len(batched["latency_ns"]) == 3 and batched["labels"] == single["labels"][::-1]
        assert ask({"op": "classify", "items": [5]})["error"]["code"] == "BAD_INPUT"
        assert ask({"op": "fly"})["error"]["code"] == "UNKNOWN_TYPE"
        assert ask({"op": "classify", "items": [0], "batch": 0})["error"]["code"] == "BAD_INPUT"
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()


def test_inprocess_takes_the_sidecars_dtype_flag(tmp_path: Path) -> None:
    images = tmp_path / "images.bin"
    images.write_bytes(bytes(IMAGE_BYTES))
    proc = _inprocess("--model", "cifar", "--device", "cpu", "--threads", "1", "--images", str(images),
                      "--dtype", "bfloat16")
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["dtype"] == "bfloat16"
    finally:
        proc.kill()
        proc.wait()


def test_inprocess_rejects_a_ragged_image_file(tmp_path: Path) -> None:
    images = tmp_path / "ragged.bin"
    images.write_bytes(bytes(IMAGE_BYTES + 1))
    cmd = [sys.executable, "-m", "sidecars.inprocess", "--model", "cifar", "--device", "cpu", "--images", str(images)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "ragged.bin" in proc.stderr and proc.stdout == ""


def test_inprocess_calls_the_model_off_the_main_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As every front-end does: PyPI's torch 2.x ran the CNN 5-10x slower on the main thread here."""
    import io
    import threading

    from sidecars import inprocess
    from sidecars.cores.base import ClassifyResult

    seen: list[bool] = []

    class Core:
        def load(self) -> None:
            pass

        def info(self) -> dict:
            return {}

        def classify(self, images: bytes) -> ClassifyResult:
            seen.append(threading.current_thread() is threading.main_thread())
            return ClassifyResult(labels=b"\x00", compute_ns=1)

    images = tmp_path / "images.bin"
    images.write_bytes(bytes(IMAGE_BYTES))
    monkeypatch.setattr(inprocess, "create_core", lambda name, options: Core())
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"op": "classify", "items": [0]}\n'))
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert inprocess.main(["--model", "cifar", "--images", str(images)]) == 0
    assert seen == [False]
