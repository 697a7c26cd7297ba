"""The model contract (sidecars/model_api.py, cores/user.py): how `--model file.py:Class` loads, what
a bad model class gets at startup (exit code, one line naming the problem), and what the adapter
checks on every call, on the core directly and on a real sidecar."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from sidecars.cores import create_core
from sidecars.cores.base import GenerateRequest
from sidecars.cores.user import UserModelCore
from sidecars.errors import SidecarError
from sidecars.model_api import ModelLoadError, ModelUsageError, parse_model_args

from .conftest import REPO_ROOT, start_sidecar
from .models import contract_fixture as fixture
from .wire import connect, framed, read_frame

FIXTURE = "sidecars/tests/models/contract_fixture.py"


def startup(*args: str) -> tuple[int, str, str]:
    """Run a sidecar that should fail to start: exit code, stdout, stderr."""
    proc = subprocess.run([sys.executable, "-m", "sidecars", "--listen", "tcp:127.0.0.1:0", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def mixer(**kwargs: object) -> UserModelCore:
    core = create_core(f"{FIXTURE}:Mixer", {"model_args": kwargs} if kwargs else {})
    assert isinstance(core, UserModelCore)
    core.load()
    return core


def inputs(first: float, rows: int = 2) -> dict[str, np.ndarray]:
    x = np.full((rows, 4), 1.5, dtype=np.float32)
    x[0, 0] = first
    return {"x": x, "words": np.array([b"ab", b"cde"], dtype=object)}


@pytest.mark.parametrize("spec, code, words", [
    ("nonsense", 2, "Expected `--model` to be one of"),
    (":Mixer", 2, "Expected `--model`"),
    (f"{FIXTURE}:", 2, "Expected `--model`"),
    ("not a module:Mixer", 2, "package.module:Class"),
    (f"{FIXTURE}:Absent", 3, "`Absent` in sidecars/tests/models/contract_fixture.py is not found"),
    (f"{FIXTURE}:RAISE", 3, "is not a class but a value of type int"),
    (f"{FIXTURE}:NoInfer", 3, "has no infer(self, inputs) method"),
    ("sidecars/tests/models/nothing_here.py:Mixer", 3, "does not exist"),
    ("sidecars.tests.models.no_such_module:Mixer", 3, "ModuleNotFoundError"),
    (f"{FIXTURE}:NoName", 2, "`NoName.name` to be a non-empty string"),
    (f"{FIXTURE}:BadShape", 2, "`BadShape.outputs[0].shape`"),
    (f"{FIXTURE}:DuplicateInput", 2, "unique, got 'v' twice"),
    (f"{FIXTURE}:NotThreadSafeFlag", 2, "`NotThreadSafeFlag.thread_safe` to be True or False"),
    (f"{FIXTURE}:RaisesInInit", 3, "constructing RaisesInInit() failed: RuntimeError: no GPU here (at "),
    (f"{FIXTURE}:RaisesInLoad", 3, "RaisesInLoad.load() failed: FileNotFoundError: weights.bin (at "),
    (f"{FIXTURE}:NeedsArgs", 3, "missing 1 required positional argument: 'width'"),
])
def test_a_bad_model_exits_with_one_clear_line(spec: str, code: int, words: str) -> None:
    rc, out, err = startup("--model", spec)
    assert (rc, out) == (code, ""), err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_a_file_that_fails_to_import_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import numpy\n\nclass M:\n    def infer(self, x)\n        pass\n")
    (tmp_path / "raises.py").write_text("raise ImportError('needs torchvision')\n")
    rc, _, err = startup("--model", f"{tmp_path}/broken.py:M")
    assert rc == 3 and "SyntaxError" in err and "line 4" in err and "Traceback" not in err, err
    rc, _, err = startup("--model", f"{tmp_path}/raises.py:M")
    assert rc == 3 and "ImportError: needs torchvision (at " in err and "raises.py:1)" in err, err


def test_model_args(tmp_path: Path) -> None:
    assert parse_model_args(["width=3", "label=big", "f=1.5", "on=true", "s=\"7\""]) == \
        {"width": 3, "label": "big", "f": 1.5, "on": True, "s": "7"}
    for bad in (["width"], ["9x=1"], ["a=1", "a=2"]):
        with pytest.raises(ModelUsageError):
            parse_model_args(bad)
    rc, _, err = startup("--model", "echo", "--model-arg", "a=1")
    assert rc == 2 and "only with a model class" in err
    rc, _, err = startup("--model", f"{FIXTURE}:Mixer", "--model-arg", "1=2")
    assert rc == 2 and "--model-arg" in err


def test_ready_line_carries_the_checked_metadata_and_prints_go_to_stderr(tmp_path: Path) -> None:
    sidecar = start_sidecar("--model", f"{FIXTURE}:NeedsArgs", "--model-arg", "width=3", "--model-arg", "label=big",
                            "--transport", "framed", "--listen", f"unix:{tmp_path}/s.sock")
    try:
        ready = sidecar.ready
        assert ready["model"] == f"{FIXTURE}:NeedsArgs" and ready["thread_safe"] is False
        assert ready["metadata"] == {"name": "needs-args-big", "versions": [], "platform": "python",
                                     "inputs": [{"name": "v", "datatype": "UINT8", "shape": [-1, 3]}],
                                     "outputs": [{"name": "v", "datatype": "UINT8", "shape": [-1, 3]}]}
    finally:
        sidecar.stop()
    printer = start_sidecar("--model", f"{FIXTURE}:Printer", "--transport", "framed", "--listen", f"unix:{tmp_path}/p.sock")
    try:
        assert printer.ready["metadata"]["name"] == "printer"  # "loading the printer" did not come first
        with connect(printer.address) as sock:
            sock.sendall(framed(7, b"\x01\x01v\x01\x01\x00\x00\x00\x02\x00\x00\x00\x02\x05\x06"))
            assert read_frame(sock)[0] == 7
    finally:
        printer.stop()
        assert printer.proc.stdout is not None and printer.proc.stderr is not None
        assert printer.proc.stdout.read() == ""
        assert "loading the printer" in printer.proc.stderr.read()


def test_built_in_cores_put_their_metadata_on_the_ready_line(tmp_path: Path) -> None:
    sidecar = start_sidecar("--model", "echo", "--transport", "msgpack", "--listen", f"unix:{tmp_path}/e.sock")
    sidecar.stop()
    assert sidecar.ready["metadata"]["inputs"] == [{"name": "payload", "datatype": "UINT8", "shape": [-1]}]


def test_infer_times_the_model_and_passes_model_args() -> None:
    core = mixer(scale=3)
    result = core.infer(inputs(1.0))
    assert result.outputs["y"].tolist()[1] == [4.5] * 4 and result.outputs["lengths"].tolist() == [2, 3]
    assert result.outputs["upper"].tolist() == [b"AB", b"CDE"]
    assert result.compute_ns > 0
    assert core.metadata()["versions"] == ["3"]


@pytest.mark.parametrize("first, words", [
    (fixture.RAISE, "infer() raised RuntimeError: the fixture refuses x[0, 0] == -13 (at "),
    (fixture.WRONG_DTYPE, "output `y` is FP64 (numpy float64); the metadata declares FP32"),
    (fixture.MISSING, "did not return output `lengths` (INT32 [-1])"),
    (fixture.WRONG_SHAPE, "output `y` has shape [8]; the metadata declares [-1, 4]"),
    (fixture.EXTRA, "returned outputs ['surprise'] that the metadata does not declare"),
    (fixture.NOT_A_DICT, "expected infer() to return a dict of output name to array, got list"),
    (fixture.BAD_BYTES, "element 0 of BYTES output `upper` is a int"),
])
def test_a_misbehaving_model_is_a_model_error_naming_the_output(first: float, words: str) -> None:
    core = mixer()
    with pytest.raises(SidecarError) as info:
        core.infer(inputs(first))
    assert info.value.code == "MODEL_ERROR" and words in info.value.message, info.value.message
    assert core.infer(inputs(1.0)).outputs["lengths"].tolist() == [2, 3]  # and it goes on serving


@pytest.mark.parametrize("name, most", [("Mixer", 1), ("ThreadSafeMixer", 2)])
def test_calls_are_serialised_unless_the_class_says_it_is_thread_safe(name: str, most: int) -> None:
    core = create_core(f"{FIXTURE}:{name}", {})
    core.load()
    threads = [threading.Thread(target=core.infer, args=(inputs(fixture.SLOW),)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert core._model.most_active == most  # type: ignore[attr-defined]


def test_generate_streams_the_pieces_with_stats() -> None:
    core = mixer()
    events = list(core.generate(GenerateRequest("one two three", sampling_steps=2)))
    assert [e.text for e in events] == ["one ", "two ", ""] and events[-1].done
    assert events[-1].stats["output_tokens"] == 2 and events[-1].stats["finish_reason"] == "stop"
    with pytest.raises(SidecarError) as info:
        list(core.generate(GenerateRequest("explode now")))
    assert info.value.code == "MODEL_ERROR" and "exploded mid-generation" in info.value.message
    printer = create_core(f"{FIXTURE}:Printer", {})
    with pytest.raises(SidecarError) as info:
        printer.generate(GenerateRequest("hi"))
    assert info.value.code == "UNSUPPORTED_OP"


def test_generate_over_the_framed_wire(tmp_path: Path) -> None:
    sidecar = start_sidecar("--model", f"{FIXTURE}:Mixer", "--transport", "framed", "--listen", f"unix:{tmp_path}/g.sock")
    try:
        with connect(sidecar.address) as sock:
            sock.sendall(framed(4, json.dumps({"prompt": "a b c", "sampling_steps": 8}).encode()))
            frames = [read_frame(sock) for _ in range(4)]
            assert [f[0] for f in frames] == [5, 5, 5, 3] and frames[1] == b"\x05b "
            assert json.loads(frames[3][1:])["response"] == "a b c "
            sock.sendall(framed(3, json.dumps({"prompt": "explode"}).encode()))
            assert json.loads(read_frame(sock)[1:])["code"] == "MODEL_ERROR"
            sock.sendall(framed(3, json.dumps({"prompt": "still here"}).encode()))
            assert json.loads(read_frame(sock)[1:])["response"] == "still here "
    finally:
        sidecar.stop()


def test_load_errors_are_load_errors() -> None:
    with pytest.raises(ModelLoadError, match="weights.bin"):
        create_core(f"{FIXTURE}:RaisesInLoad", {}).load()


def test_a_sidecar_error_from_the_model_keeps_its_code() -> None:
    class Picky:
        name = "picky"
        inputs = [{"name": "v", "datatype": "INT8", "shape": [1]}]
        outputs = inputs

        def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            raise SidecarError("BAD_INPUT", "Expected `v` to be positive")

    with pytest.raises(SidecarError) as info:
        UserModelCore(Picky, {}, "test:Picky").infer({"v": np.array([-1], dtype=np.int8)})
    assert (info.value.code, info.value.message) == ("BAD_INPUT", "Expected `v` to be positive")


def test_the_documented_example_serves(tmp_path: Path) -> None:
    import re

    code = re.search(r"```python\n(.*?)```", (REPO_ROOT / "docs" / "your-model.md").read_text(), re.S)
    assert code is not None
    (tmp_path / "normalise.py").write_text(code.group(1))
    core = create_core(f"{tmp_path}/normalise.py:Normalise", {"model_args": {"eps": 0.0}})
    core.load()
    result = core.infer({"x": np.full((2, 8), 2.0, dtype=np.float32)})
    assert result.outputs["norm"].tolist() == pytest.approx([np.sqrt(32)] * 2) and result.outputs["z"].dtype == np.float32
