"""Checkpoint formats: safetensors (our reader against a writer written from the spec here),
gemma_pytorch .ckpt and Hugging Face names, llama2.c headers, and refusing malformed files."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import pickle
import struct
from pathlib import Path

import pytest
import torch

from sidecars.llm.config import CONFIGS, get_config
from sidecars.llm.loaders import checkpoint_kind, read_checkpoint
from sidecars.llm.loaders.llama2c import read_llama2c
from sidecars.llm.loaders.safetensors import read_safetensors
from sidecars.llm.model import Transformer
from sidecars.llm.paths import models_dir
from sidecars.llm.weights import assign, random_init

MODELS = models_dir()
SMALL = dataclasses.replace(CONFIGS["tiny"], name="small", n_layers=2, d_model=32, n_heads=4, n_kv_heads=2,
                            head_dim=8, ffn_dim=48, vocab_size=64)
GEMMA1 = dataclasses.replace(SMALL, name="small-gemma1", sandwich_norms=False, qk_norm=False, sliding_window=None)
ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.uint8: "U8"}


class Planted:
    """An arbitrary pickled object, which weights_only loading must refuse."""


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """The format from its spec: u64 LE header size, JSON header (name -> dtype, shape, offsets), data."""
    header: dict[str, object] = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, tensor in tensors.items():
        data = tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        header[name] = {"dtype": ST_DTYPES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)  # the spec pads the header to 8-byte alignment with spaces
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def small_model(config=SMALL, seed: int = 3) -> Transformer:  # type: ignore[no-untyped-def]
    model = Transformer(config)
    random_init(model, seed)
    for name, p in model.named_parameters():  # non-trivial norm weights, so a misplaced norm shows
        if p.dim() == 1:
            p.data.uniform_(-0.5, 0.5, generator=torch.Generator().manual_seed(len(name)))
    return model


def test_safetensors_round_trip(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    tensors = {"a": torch.randn(3, 5, generator=g), "half": torch.randn(7, generator=g).half(),
               "brain": torch.randn(2, 2, 2, generator=g).bfloat16(), "ids": torch.arange(-3, 3),
               "bytes": torch.tensor([0, 255], dtype=torch.uint8), "empty": torch.zeros(0, 4),
               "scalar": torch.tensor(2.5)}
    path = tmp_path / "t.safetensors"
    write_safetensors(path, tensors, {"format": "pt"})
    read, metadata = read_safetensors(path)
    assert metadata == {"format": "pt"} and set(read) == set(tensors)
    for name, tensor in tensors.items():
        assert read[name].dtype == tensor.dtype and read[name].shape == tensor.shape
        assert torch.equal(read[name], tensor), name
    assert checkpoint_kind(path) == "safetensors"


def test_safetensors_model_checkpoint_gives_the_same_logits(tmp_path: Path) -> None:
    model = small_model()
    path = tmp_path / "small.safetensors"
    write_safetensors(path, {n: p.detach() for n, p in model.named_parameters()}, {})
    config, state = read_checkpoint(path, SMALL)
    loaded = Transformer(config)
    assign(loaded, state, str(path))
    tokens = torch.tensor([[1, 5, 9, 2]])
    positions = torch.arange(4)[None]
    assert torch.equal(loaded(tokens, positions), model(tokens, positions))


@pytest.mark.parametrize("config", [SMALL, GEMMA1], ids=["gemma3-style", "gemma1-style"])
@pytest.mark.parametrize("layout", ["gemma_pytorch", "huggingface"])
def test_foreign_layouts_map_to_our_names(tmp_path: Path, config, layout: str) -> None:  # type: ignore[no-untyped-def]
    model = small_model(config)
    ours = {n: p.detach().clone() for n, p in model.named_parameters()}
    foreign = _foreign_state(ours, config, layout)
    path = tmp_path / "model.ckpt"
    torch.save({"model_state_dict": foreign}, path)
    assert checkpoint_kind(path) == "torch"
    _, state = read_checkpoint(path, config)
    assert set(state) == set(ours) and all(torch.equal(state[n], ours[n]) for n in ours)


def _foreign_state(ours: dict[str, torch.Tensor], c, layout: str) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    hf = layout == "huggingface"
    out = {"model.embed_tokens.weight" if hf else "embedder.weight": ours["embed.weight"],
           "model.norm.weight": ours["norm.weight"], "freqs_cis": torch.zeros(3)}
    for i in range(c.n_layers):
        p, q = f"layers.{i}.", f"model.layers.{i}."
        if hf:
            out.update({q + f"self_attn.{x}_proj.weight": ours[p + f"attn.{x}.weight"] for x in "qkvo"})
        else:
            out[q + "self_attn.qkv_proj.weight"] = torch.cat([ours[p + f"attn.{x}.weight"] for x in "qkv"])
            out[q + "self_attn.o_proj.weight"] = ours[p + "attn.o.weight"]
        out.update({q + f"mlp.{x}_proj.weight": ours[p + f"mlp.{x}.weight"] for x in ("gate", "up", "down")})
        out[q + "input_layernorm.weight"] = ours[p + "attn_norm.weight"]
        if c.sandwich_norms:
            out[q + "post_attention_layernorm.weight"] = ours[p + "post_attn_norm.weight"]
            out[q + "pre_feedforward_layernorm.weight"] = ours[p + "ffn_norm.weight"]
            out[q + "post_feedforward_layernorm.weight"] = ours[p + "post_ffn_norm.weight"]
        else:  # Gemma 1's name for its pre-MLP norm
            out[q + "post_attention_layernorm.weight"] = ours[p + "ffn_norm.weight"]
        if c.qk_norm:
            names = ("q_norm", "k_norm") if hf else ("query_norm", "key_norm")
            out[q + f"self_attn.{names[0]}.weight"] = ours[p + "attn.q_norm.weight"]
            out[q + f"self_attn.{names[1]}.weight"] = ours[p + "attn.k_norm.weight"]
    return out


def test_named_config_is_inferred_from_shapes(tmp_path: Path) -> None:
    model = Transformer(get_config("stories260K"))
    random_init(model, 0)
    path = tmp_path / "stories.ckpt"
    torch.save({n: p.detach() for n, p in model.named_parameters()}, path)
    config, _ = read_checkpoint(path, None)
    assert config.name == "stories260K"


def test_malformed_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", 10**6) + b"{}")
    with pytest.raises(ValueError, match="header length"):
        read_safetensors(bad)
    short = tmp_path / "short.safetensors"
    header = json.dumps({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    short.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(ValueError, match="data offsets"):
        read_safetensors(short)
    truncated = tmp_path / "trunc.bin"
    truncated.write_bytes(struct.pack("<7i", 64, 172, 5, 8, 4, 512, 512) + b"\0" * 400)
    with pytest.raises(ValueError, match="truncated"):
        read_llama2c(truncated)
    pickled = tmp_path / "code.ckpt"
    torch.save({"model_state_dict": {"x": torch.zeros(1)}, "planted": Planted()}, pickled)
    with pytest.raises(pickle.UnpicklingError, match="[Ww]eights.only"):
        read_checkpoint(pickled, SMALL)


@pytest.mark.skipif(MODELS is None,
                    reason="shared models directory not found (<repo>/../shared/models or $SIDECAR_MODELS_DIR)")
def test_llama2c_header_gives_the_stories_config() -> None:
    config, state = read_checkpoint(MODELS / "stories260K.bin", None)  # type: ignore[operator]
    assert config == CONFIGS["stories260K"] and config.tied_embeddings
    assert state["embed.weight"].shape == (512, 64) and state["layers.4.mlp.up.weight"].shape == (172, 64)


@pytest.mark.skipif(importlib.util.find_spec("gguf") is None, reason="gguf package (sidecars/requirements.txt) missing")
def test_gguf_written_by_the_gguf_package_reads_back(tmp_path: Path) -> None:
    import gguf
    import numpy as np

    config = dataclasses.replace(SMALL, d_model=64, ffn_dim=64, vocab_size=96, head_dim=32)  # whole Q8_0 blocks
    model = small_model(config)
    path = tmp_path / "small.gguf"
    writer = gguf.GGUFWriter(str(path), "gemma3")
    for add, value in ((writer.add_block_count, config.n_layers), (writer.add_embedding_length, config.d_model),
                       (writer.add_feed_forward_length, config.ffn_dim), (writer.add_head_count, config.n_heads),
                       (writer.add_head_count_kv, config.n_kv_heads), (writer.add_key_length, config.head_dim),
                       (writer.add_layer_norm_rms_eps, config.norm_eps), (writer.add_rope_freq_base, config.rope_theta),
                       (writer.add_sliding_window, config.sliding_window), (writer.add_sliding_window_pattern, 2),
                       (writer.add_context_length, config.max_seq_len)):
        add(value)  # type: ignore[operator]
    gguf_names = {v: k for k, v in {"attn_q": "attn.q", "attn_k": "attn.k", "attn_v": "attn.v", "attn_output": "attn.o",
                                    "attn_q_norm": "attn.q_norm", "attn_k_norm": "attn.k_norm",
                                    "attn_norm": "attn_norm", "ffn_norm": "ffn_norm",
                                    "post_attention_norm": "post_attn_norm", "post_ffw_norm": "post_ffn_norm",
                                    "ffn_gate": "mlp.gate", "ffn_up": "mlp.up", "ffn_down": "mlp.down"}.items()}
    expected = {}
    for name, param in model.named_parameters():
        values = param.detach().numpy().astype(np.float32)
        if name.endswith("norm.weight"):
            values = values + 1.0  # llama.cpp stores Gemma norms as (1 + w)
        if name == "embed.weight":
            target = "token_embd.weight"
        elif name == "norm.weight":
            target = "output_norm.weight"
        else:
            _, layer, rest = name.split(".", 2)
            target = f"blk.{layer}.{gguf_names[rest.removesuffix('.weight')]}.weight"
        if values.ndim == 2:  # matrices go in as Q8_0, as in the real file
            quantized = gguf.quants.quantize(values, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(target, quantized, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            values = gguf.quants.dequantize(quantized, gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(target, values)
        expected[name] = torch.from_numpy(np.asarray(values, dtype=np.float32) - (1.0 if values.ndim == 1 else 0.0))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert checkpoint_kind(path) == "gguf"
    read_config, state = read_checkpoint(path, None)
    assert read_config == dataclasses.replace(config, name="gguf:small.gguf")
    assert set(state) == set(expected)
    for name, tensor in expected.items():
        torch.testing.assert_close(state[name], tensor, rtol=0, atol=1e-6, msg=name)
