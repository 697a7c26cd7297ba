"""The http-json routes as plain functions (http_routes.py), without a server: the echo reply's
shortcut (a prompt with nothing to escape is copied, not re-encoded) writes exactly what the JSON
encoder writes, and is not taken when it would not."""
from __future__ import annotations

import base64
import json
import pytest

from sidecars.cores.echo import EchoCore
from sidecars.frontends.http_routes import Call, Routes, _dumps, unescaped

PROMPTS = [
    base64.b64encode(bytes(range(256)) * 12).decode(),  # what our clients send
    "",
    "plain words, and punctuation: ()[]{}<>!?#$%&'*+,-./:;=@^_`|~",
    'a "quoted" word',
    "back\\slash",
    "tab\tnew\nline",
    "DEL\x7f",
    "accents: é, ü; CJK: 漢字; emoji: \U0001f600",
    "lone surrogate: \ud800",
]


def echo_body(prompt: str, raw: bytes | None = None) -> bytes:
    return Routes(EchoCore({})).echo(Call(raw if raw is not None else json.dumps({"prompt": prompt}).encode())).body


@pytest.mark.parametrize("prompt", PROMPTS, ids=range(len(PROMPTS)))
def test_the_echo_reply_is_what_the_json_encoder_writes(prompt: str) -> None:
    expected = _dumps({"echo_prompt": prompt}).encode()
    assert echo_body(prompt) == expected
    assert echo_body(prompt, json.dumps({"prompt": prompt}, ensure_ascii=False).encode("utf-8", "surrogatepass")) == expected


def test_a_prompt_sent_with_escapes_is_echoed_decoded() -> None:
    assert json.loads(echo_body("", b'{"prompt": "\\u0041\\/B"}')) == {"echo_prompt": "A/B"}
    assert echo_body("", b'{"prompt": "\\u0041\\/B"}') == b'{"echo_prompt":"A/B"}'


def test_a_core_that_changes_the_payload_is_encoded_not_copied() -> None:
    class Quoting(EchoCore):
        def echo(self, payload: bytes) -> bytes:
            return b'"' + payload + b'"'

    reply = Routes(Quoting({})).echo(Call(b'{"prompt": "abc"}'))
    assert reply.body == b'{"echo_prompt":"\\"abc\\""}'


@pytest.mark.parametrize(("body", "plain"), [
    (b'{"prompt":"QUJD+/=="}', True),
    (b'{"prompt": "a b"}\n', True),
    (b'{"prompt":"\\u0041"}', False),
    (b'{"prompt":"\x7f"}', False),
    ('{"prompt":"é"}'.encode(), False),
    ('{"prompt":"AB"}'.encode("utf-16-be"), False),  # all ASCII bytes, but UTF-16, which json.loads reads too
])
def test_unescaped_says_whether_a_body_has_anything_to_escape(body: bytes, plain: bool) -> None:
    assert unescaped(body) is plain
