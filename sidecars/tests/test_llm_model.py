"""The decoder: real llama2.c weights, random-init determinism, KV cache vs recompute, batching, sampling."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from sidecars.llm.config import CONFIGS, ModelConfig, get_config
from sidecars.llm.kv_cache import KVCache
from sidecars.llm.loaders import read_checkpoint
from sidecars.llm.model import HAS_SDPA, Transformer
from sidecars.llm.paths import models_dir
from sidecars.llm.sampler import Sampling, generate_ids
from sidecars.llm.tokenizer import load_tokenizer
from sidecars.llm.weights import assign, random_init

MODELS = models_dir()
needs_models = pytest.mark.skipif(MODELS is None, reason="shared models directory not found "
                                  "(<repo>/../shared/models or $SIDECAR_MODELS_DIR)")
STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
SMALL3 = dataclasses.replace(CONFIGS["tiny"], name="small-gemma3", n_layers=3, d_model=48, n_heads=4, n_kv_heads=2,
                             head_dim=16, ffn_dim=64, vocab_size=97, sliding_window=3, global_every=3)
SMALL2 = dataclasses.replace(SMALL3, name="small-gemma2", qk_norm=False, global_every=2, attn_softcap=5.0,
                             final_softcap=3.0, rope_theta=10_000.0)
SMALL1 = dataclasses.replace(SMALL2, name="small-gemma1", sandwich_norms=False, sliding_window=None,
                             attn_softcap=None, final_softcap=None)
SMALL_LLAMA = get_config("stories260K")
CONFIG_IDS = ["gemma3", "gemma2", "gemma1", "llama"]


def build(config: ModelConfig, seed: int = 0) -> Transformer:
    model = Transformer(config)
    random_init(model, seed)
    return model


@pytest.fixture(scope="module")
def stories() -> tuple[Transformer, object]:
    if MODELS is None:
        pytest.skip("shared models directory not found")
    config, state = read_checkpoint(MODELS / "stories260K.bin", None)
    model = Transformer(config)
    assign(model, state, "stories260K.bin")
    return model, load_tokenizer(MODELS / "tok512.bin")


@needs_models
def test_stories260k_greedy_from_bos_tells_the_known_story(stories) -> None:  # type: ignore[no-untyped-def]
    model, tokenizer = stories
    ids = [step[0] for step in generate_ids(model, [[tokenizer.bos_id]], 40, Sampling(), frozenset(), 64)]
    assert tokenizer.decode(ids).startswith(STORY)


def test_random_init_is_deterministic() -> None:
    a, b, c = build(SMALL3, seed=7), build(SMALL3, seed=7), build(SMALL3, seed=8)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb), name
        if pa.dim() > 1:
            assert not torch.equal(pa, pc), name
    tokens, positions = torch.tensor([[3, 1, 4, 1, 5]]), torch.arange(5)[None]
    assert torch.equal(a(tokens, positions), b(tokens, positions))


def test_random_init_of_the_named_tiny_config() -> None:
    model = build(get_config("tiny"), seed=0)
    assert model.config.vocab_size == 262_144 and model.embed.weight.std().item() == pytest.approx(model.config.d_model**-0.5, rel=0.01)
    prompt = [[2, 9259, 236764]]
    ids = [s[0] for s in generate_ids(model, prompt, 4, Sampling(), frozenset(), 16)]
    again = [s[0] for s in generate_ids(build(get_config("tiny"), seed=0), prompt, 4, Sampling(), frozenset(), 16)]
    assert ids == again


@pytest.mark.parametrize("config", [SMALL3, SMALL2, SMALL1, SMALL_LLAMA], ids=CONFIG_IDS)
def test_kv_cache_decoding_matches_full_recompute(config: ModelConfig) -> None:
    model = build(config, seed=1)
    tokens = torch.randint(0, config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
    positions = torch.arange(12)[None].expand(2, -1)
    with torch.inference_mode():
        full = model(tokens, positions)
        cache = KVCache(config.n_layers, 2, config.n_kv_heads, 16, config.head_dim, torch.float32, torch.device("cpu"))
        stepped = [model(tokens[:, :5], positions[:, :5], cache, 0)]
        for t in range(5, 12):
            stepped.append(model(tokens[:, t:t + 1], positions[:, t:t + 1], cache, t))
    torch.testing.assert_close(torch.cat(stepped, dim=1), full, rtol=1e-4, atol=1e-4)


def test_sliding_window_limits_what_local_layers_see() -> None:
    tokens = torch.randint(0, 97, (1, 10), generator=torch.Generator().manual_seed(2))
    positions = torch.arange(10)[None]
    windowed = build(SMALL3, seed=1)
    unwindowed = Transformer(dataclasses.replace(SMALL3, sliding_window=1000))  # same RoPE bases, no limit
    unwindowed.load_state_dict(windowed.state_dict())
    with torch.inference_mode():
        a, b = windowed(tokens, positions), unwindowed(tokens, positions)
    torch.testing.assert_close(a[:, :3], b[:, :3])  # within the window the two agree
    assert not torch.allclose(a[:, 3:], b[:, 3:])


def _greedy_each_and_batched(model: Transformer, prompts: list[list[int]], steps: int) -> tuple[list, list]:
    single = [[s[0] for s in generate_ids(model, [p], steps, Sampling(), frozenset(), 64)] for p in prompts]
    batched = list(zip(*generate_ids(model, prompts, steps, Sampling(), frozenset(), 64), strict=True))
    return single, [list(row) for row in batched]


@needs_models
def test_batch_greedy_equals_single_greedy_stories(stories) -> None:  # type: ignore[no-untyped-def]
    model, tokenizer = stories
    prompts = [tokenizer.encode(p) for p in ("Once upon a time", "Lily", "The big dog ran to the park and")]
    single, batched = _greedy_each_and_batched(model, prompts, 24)
    assert batched == single


@pytest.mark.parametrize("config", [SMALL3, SMALL2], ids=CONFIG_IDS[:2])
def test_batch_greedy_equals_single_greedy_with_windows(config: ModelConfig) -> None:
    model = build(config, seed=4)
    prompts = [[2, 5, 8, 13, 21, 34, 55], [2, 7], [2, 9, 10, 11]]
    single, batched = _greedy_each_and_batched(model, prompts, 10)
    assert batched == single


def test_sampling_is_seeded_and_filters_reduce_to_greedy() -> None:
    model = build(SMALL3, seed=5)
    prompt = [[2, 40, 41]]

    def run(sampling: Sampling) -> list[int]:
        return [s[0] for s in generate_ids(model, prompt, 12, sampling, frozenset(), 32)]

    greedy = run(Sampling())
    hot = Sampling(temperature=1.5, seed=11)
    assert run(hot) == run(hot)
    assert run(hot) != run(Sampling(temperature=1.5, seed=12))
    assert run(Sampling(temperature=1.0, top_k=1, seed=3)) == greedy
    assert run(Sampling(temperature=1.0, top_p=1e-6, seed=3)) == greedy


def test_generation_stops_when_every_row_has_ended() -> None:
    model = build(SMALL3, seed=5)
    first = [s[0] for s in generate_ids(model, [[2, 40]], 6, Sampling(), frozenset(), 16)]
    stopped = list(generate_ids(model, [[2, 40]], 6, Sampling(), frozenset({first[2]}), 16))
    assert [s[0] for s in stopped] == first[:first.index(first[2]) + 1]


def test_bfloat16_weights_run_and_roughly_agree() -> None:
    model = build(SMALL3, seed=6)
    low = Transformer(SMALL3, dtype=torch.bfloat16)
    low.load_state_dict(model.state_dict())
    tokens, positions = torch.tensor([[2, 40, 41, 42]]), torch.arange(4)[None]
    with torch.inference_mode():
        torch.testing.assert_close(low(tokens, positions), model(tokens, positions), atol=0.1, rtol=0.05)


needs_sdpa = pytest.mark.skipif(not HAS_SDPA, reason=f"torch {torch.__version__} has no scaled_dot_product_attention "
                                "with `scale` (2.1 or later)")


@needs_sdpa
@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-4), (torch.bfloat16, 0.1), (torch.float16, 0.02)],
                         ids=["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("config", [SMALL3, SMALL1, SMALL_LLAMA], ids=["gemma3", "gemma1", "llama"])
def test_fused_attention_agrees_with_the_hand_written_path(config: ModelConfig, dtype: torch.dtype,
                                                           tolerance: float) -> None:
    manual = Transformer(config, dtype, fused_attention=False)
    random_init(manual, 8)
    fused = Transformer(config, dtype, fused_attention=True)
    fused.load_state_dict(manual.state_dict())
    tokens = torch.randint(0, config.vocab_size, (2, 10), generator=torch.Generator().manual_seed(1))
    pad = torch.tensor([0, 3])  # row 1 is left-padded: fully masked query rows must stay finite
    positions = (torch.arange(10)[None] - pad[:, None]).clamp(min=0)
    with torch.inference_mode():
        expected, got = manual(tokens, positions, pad=pad), fused(tokens, positions, pad=pad)
    assert torch.isfinite(got).all()
    # Padding slots' logits are never read (each path fills them its own way); every real slot agrees.
    real = torch.arange(10)[None] >= pad[:, None]
    torch.testing.assert_close(got[real], expected[real], atol=tolerance, rtol=tolerance / 2)
    prompts = [[2, 5, 8, 13, 21, 34, 55], [2, 7]]  # KV-cached, batched, windowed decoding as served
    assert _greedy_each_and_batched(fused, prompts, 8) == _greedy_each_and_batched(manual, prompts, 8)


def test_attention_path_follows_torch_and_soft_capping() -> None:
    assert Transformer(SMALL3).fused_attention is HAS_SDPA
    assert Transformer(SMALL2).fused_attention is False  # Gemma 2 caps attention logits: SDPA cannot
    assert Transformer(SMALL3, fused_attention=False).fused_attention is False
    with pytest.raises(ValueError, match="Expected fused attention only where it can run"):
        Transformer(SMALL2, fused_attention=True)
    if not HAS_SDPA:
        with pytest.raises(ValueError, match=torch.__version__):
            Transformer(SMALL3, fused_attention=True)
