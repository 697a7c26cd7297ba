"""Generation under hostile clients, on every wire (issue 13; docs/protocol.md, "Limits for generation").

One real sidecar per wire, over unix, with the stories260K model (fast, and on "Tom" it
runs for more than a thousand tokens before any EOS):

- a stream whose client never reads does not hold the model: another client's generation goes
  through, and the stalled stream ends with TIMEOUT once its queue has been full for the stall
  timeout;
- a unary generation whose client hangs up is cancelled: the next request does not wait for it;
- a prompt too long for the cache is refused before it is tokenized;
- settings the sampler cannot use (NaN, a seed torch refuses, a lone surrogate) are BAD_INPUT.
"""
from __future__ import annotations

import json
import signal
import threading
import time
from typing import Any, Iterator

import pytest

from sidecars.llm.paths import models_dir

from .conftest import RunningSidecar, start_sidecar
from .gen_wires import WIRES, Client, FramedClient
from .wire import read_frame

MODELS = models_dir()
pytestmark = pytest.mark.skipif(MODELS is None, reason="shared models directory not found (stories260K, tokenizers)")
STALL_S = 0.5
QUICK = {"prompt": "Tom", "sampling_steps": 8}


@pytest.fixture(scope="module", params=list(WIRES))
def wire(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Client]]:
    flags, make_client = WIRES[request.param]
    path = tmp_path_factory.mktemp("sock") / "g.sock"
    sidecar = start_sidecar("--model", "gemma", "--checkpoint", f"{MODELS}/stories260K.bin",
                            "--device", "cpu", "--threads", "1", "--cache-size", "2048",
                            "--client-stall-timeout-s", str(STALL_S), *flags, "--listen", f"unix:{path}")
    yield request.param, make_client(sidecar.address)
    sidecar.stop()


def timed(client: Client, fields: dict[str, Any]) -> tuple[float, str | None]:
    start = time.monotonic()
    code, _reply = client.generate(fields)
    return time.monotonic() - start, code


def test_a_stream_nobody_reads_does_not_hold_the_model(wire: tuple[str, Client]) -> None:
    _name, client = wire
    stalled = client.open_stream({"prompt": "Tom", "sampling_steps": 2000})
    try:
        time.sleep(1.0)  # it fills the socket (or the HTTP/2 window) and its queue, and stops
        took, code = timed(client, QUICK)
        assert code is None and took < 5.0, f"another client's generation took {took:.1f} s ({code})"
        time.sleep(2.0)  # past the stall timeout
        texts, end = stalled.finish()
        # None would mean it never stalled: every token fitted the socket buffers (a few hundred
        # small sends fill a unix socket's default 208 KiB).
        assert end == "TIMEOUT" and texts, f"the unread stream ended with {end} after {len(texts)} texts"
    finally:
        stalled.close()
    assert timed(client, QUICK)[1] is None


def test_a_unary_generation_stops_when_its_client_hangs_up(wire: tuple[str, Client]) -> None:
    _name, client = wire
    waiting = client.send_unary({"prompt": "Tom", "sampling_steps": 1900})  # 2-4 s of the model here
    time.sleep(0.3)
    waiting.close()
    took, code = timed(client, QUICK)
    assert code is None and took < 1.0, f"the next request took {took:.2f} s"


def test_a_prompt_too_long_for_the_cache_is_refused_before_tokenizing(wire: tuple[str, Client]) -> None:
    refuses_a_long_prompt_at_once(wire[1])


def refuses_a_long_prompt_at_once(client: Client) -> None:
    """An 8 MiB prompt is BAD_INPUT within a second, and echoes on other connections meanwhile are quick."""
    slowest: list[float] = []
    stop = threading.Event()

    def echo_meanwhile() -> None:
        while not stop.is_set():
            start = time.monotonic()
            client.echo(b"still here")
            slowest.append(time.monotonic() - start)

    echoes = threading.Thread(target=echo_meanwhile)
    echoes.start()
    try:
        took, code = timed(client, {"prompt": "word " * ((8 << 20) // 5), "sampling_steps": 8})
    finally:
        stop.set()
        echoes.join()
    assert code == "BAD_INPUT" and took < 1.0, f"an 8 MiB prompt: {code} after {took:.2f} s"
    assert slowest and max(slowest) < 0.5, f"an echo meanwhile took {max(slowest):.2f} s"


TWO_64 = 2**64


@pytest.mark.parametrize(("case", "fields"), [
    ("temperature NaN", {"temperature": float("nan")}),
    ("temperature infinite", {"temperature": float("inf")}),
    ("temperature 1e-45", {"temperature": 1e-45}),
    ("seed 2**64", {"temperature": 1.0, "seed": TWO_64}),
    ("seed below -2**63", {"temperature": 1.0, "seed": -(2**63) - 1}),
    ("a lone surrogate", {"prompt": "Tom \ud800 ran"}),
])
def test_settings_the_sampler_cannot_use_are_bad_input(wire: tuple[str, Client], case: str,
                                                       fields: dict[str, Any]) -> None:
    name, client = wire
    seed = fields.get("seed", 0)
    if name != "framed" and name != "http-json" and not -(2**63) <= seed < 2**63:
        pytest.skip(f"{name} cannot carry the seed {seed} (int64 at most)")
    code, reply = client.generate({**QUICK, **fields})
    assert code == "BAD_INPUT", f"{case}: {code} {reply}"
    if name == "http-json":
        assert reply["status"] == 400
    assert client.generate(QUICK)[0] is None


@pytest.fixture(scope="module")
def tiny_framed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSidecar]:
    """Gemma's own shape and tokenizer (random weights): 4 layers, 262144 tokens, 64 of cache."""
    path = tmp_path_factory.mktemp("sock") / "t.sock"
    sidecar = start_sidecar("--model", "gemma", "--config", "tiny", "--random-init", "--device", "cpu",
                            "--threads", "1", "--cache-size", "64", "--transport", "framed", "--listen", f"unix:{path}")
    yield sidecar
    sidecar.stop()


def test_a_long_prompt_does_not_stall_the_process_with_a_sentencepiece_tokenizer(tiny_framed: RunningSidecar) -> None:
    # SentencePiece tokenizes without letting go of the GIL: an 8 MiB prompt once took 14.5 s to
    # refuse and stalled every other connection for as long.
    assert tiny_framed.ready["max_prompt_bytes"] == 64 * 48  # Gemma 3's longest piece is 48 bytes
    refuses_a_long_prompt_at_once(FramedClient(tiny_framed.address))


def test_a_stopping_sidecar_finishes_the_generations_in_progress(tiny_framed: RunningSidecar) -> None:
    # Draining shuts down the read side of every connection: that is not the client leaving.
    client = FramedClient(tiny_framed.address)
    sock = client.send_unary({"prompt": "Tom", "sampling_steps": 60})  # about a second here
    time.sleep(0.2)
    tiny_framed.proc.send_signal(signal.SIGTERM)
    body = read_frame(sock)
    sock.close()
    assert body[0] == 3 and json.loads(body[1:])["stats"]["output_tokens"] == 60, body[:200]
    assert tiny_framed.proc.wait(timeout=10) == 0
