"""The live request's learning key, prompt-IR prefix and fingerprint."""

from __future__ import annotations

from typing import Any

from adaptive.acg import build_prompt_ir, derive_learning_key
from adaptive.acg.providers.codec_fields import RequestDecodeError
from adaptive.acg.providers.decoder import RequestDecoder
from adaptive.acg.providers.prefix import PrefixBuilder, span_id
from adaptive.acg.providers.request_view import RequestSurface
from adaptive.acg.stability import profile_prefix_fingerprint
from tests.acg.providers.corpus import corpus
from tests.acg.providers.support import AGENT


def decoded_corpus() -> list[tuple[dict[str, Any], Any]]:
    decoder = RequestDecoder()
    decoded = []
    for surface, request in corpus():
        try:
            decoded.append((request, decoder.decode_as(RequestSurface(surface), request)))
        except RequestDecodeError:
            continue
    return decoded


def has_null_parameters(annotated: dict[str, Any]) -> bool:
    return any(
        tool.get("type") == "function" and tool["function"].get("parameters", 0) is None
        for tool in annotated.get("tools") or ()
    )


def test_prefix_blocks_and_key_equal_the_learners_for_every_decodable_request() -> None:
    builder = PrefixBuilder()
    checked = 0
    for _, request in decoded_corpus():
        annotated = request.annotated()
        if has_null_parameters(annotated):
            continue
        ir = build_prompt_ir(annotated)
        blocks = builder.prefix(request, 10_000)
        expected = [(b.span_id, b.role, b.content_type, b.provenance, b.content) for b in ir.blocks]
        ours = [
            (span_id(spec, index), spec.role, spec.content_type, spec.provenance, spec.content)
            for index, spec in enumerate(blocks)
        ]
        assert ours == expected
        assert builder.learning_key(AGENT, request) == derive_learning_key(AGENT, annotated)
        for length in range(len(blocks) + 1):
            assert builder.fingerprint(request, blocks, length, "key") == (
                profile_prefix_fingerprint(ir, length, "key")
            )
        checked += 1
    assert checked > 50


def test_a_null_tool_schema_keys_the_request_as_nemo_relays_acg_does_not_its_learner() -> None:
    """ACG decodes the raw body straight into the Rust struct, where ``parameters`` is
    ``Some(null)``; the learner reads the event JSON back, where it becomes ``None``.
    Live NeMo Relay 0.10.4 logs the first key for such a request (checked with
    ``NEMO_RELAY_ACG_DEBUG``), so it never finds that request's learned profile."""
    request = {
        "model": "claude-sonnet-4-5",
        "system": "s",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "n", "input_schema": None, "strict": False}],
    }
    decoded = RequestDecoder().decode(request)
    acg_key = PrefixBuilder().learning_key(AGENT, decoded)
    assert acg_key != derive_learning_key(AGENT, decoded.annotated())
    assert acg_key.endswith("f37a6ba5c05d321ec07e7735bf0fec6fa5ee0b6a")


def test_only_the_blocks_asked_for_are_built() -> None:
    request = RequestDecoder().decode(
        {
            "model": "m",
            "system": "s",
            "tools": [{"name": "t", "input_schema": {}}],
            "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
        }
    )
    builder = PrefixBuilder()
    assert len(builder.prefix(request, 3)) == 3
    assert request.messages[1].specs is None  # never needed, never normalized
    assert len(builder.prefix(request, 99)) == 4


def test_every_shorter_prefix_is_the_start_of_the_full_one() -> None:
    builder = PrefixBuilder()
    compared = 0
    for _, request in decoded_corpus():
        full = builder.prefix(request, 10_000)
        for limit in range(len(full) + 2):
            assert builder.prefix(request, limit) == full[:limit]
            compared += 1
    assert compared > 200


def test_messages_read_lazily_are_the_messages_decoded_up_front() -> None:
    raw = [
        {"role": "user", "content": "a"},
        {"role": "system", "content": "rules"},
        {"role": "assistant", "content": [{"type": "text", "text": "b"}]},
        {"content": "c", "role": "user"},
    ]
    request = RequestDecoder().decode({"model": "m", "messages": raw})
    messages = request.messages
    assert len(messages) == 4
    assert [m.wire for m in messages] == [
        {"role": "user", "content": "a"},
        {"role": "system", "content": "rules"},
        {"role": "assistant", "content": [{"type": "text", "text": "b"}]},
        {"role": "user", "content": "c"},
    ]
    assert messages[-1] is messages[3]
    assert [m.wire for m in messages[1:3]] == [m.wire for m in list(messages)[1:3]]
    assert [m.role for m in messages.scaffold()] == ["system"]


def test_a_prefix_longer_than_the_request_has_no_fingerprint() -> None:
    request = RequestDecoder().decode({"messages": [{"role": "user", "content": "a"}]})
    builder = PrefixBuilder()
    blocks = builder.prefix(request, 3)
    assert builder.fingerprint(request, blocks, 2, "key") is None
    assert builder.fingerprint(request, blocks, 0, "key") is None
