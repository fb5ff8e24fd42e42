"""Decoding raw requests like NeMo Relay 0.10.4's built-in codecs (compared live)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from adaptive.acg.providers.codec_fields import RequestDecodeError
from adaptive.acg.providers.decoder import RequestDecoder, detect_surface
from adaptive.acg.providers.request_view import RequestSurface
from tests.acg.providers.corpus import corpus
from tests.acg.providers.side_by_side import ROOT


def relay_decode(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.acg.providers.relay_scripts", "decode"],
        input=json.dumps(items),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    results: list[dict[str, Any]] = json.loads(completed.stdout)
    return results


def our_decode(surface: str, request: dict[str, Any]) -> dict[str, Any]:
    try:
        return {
            "annotated": RequestDecoder().decode_as(RequestSurface(surface), request).annotated()
        }
    except RequestDecodeError as error:
        return {"error": str(error)}


def test_every_corpus_request_decodes_exactly_as_nemo_relays_codecs_do() -> None:
    items: list[dict[str, Any]] = [
        {"surface": surface, "request": request} for surface, request in corpus()
    ]
    theirs = relay_decode(items)
    refused = 0
    for item, relay in zip(items, theirs, strict=True):
        ours = our_decode(item["surface"], item["request"])
        assert ("error" in ours) == ("error" in relay), (item, ours, relay)
        # sort_keys and number types: 1 and 1.0 must agree too.
        as_text = json.dumps(ours.get("annotated"), sort_keys=True)
        assert as_text == json.dumps(relay.get("annotated"), sort_keys=True), item
        refused += "error" in relay
    assert 30 < refused < len(items) - 30  # the corpus exercises both outcomes


@pytest.mark.parametrize(
    ("body", "surface"),
    [
        ({"input": "x", "system": "s", "messages": []}, RequestSurface.OPENAI_RESPONSES),
        ({"instructions": "x"}, RequestSurface.OPENAI_RESPONSES),
        ({"system": "s", "messages": []}, RequestSurface.ANTHROPIC_MESSAGES),
        ({"messages": [], "apiFormat": "GENERIC"}, None),
        ({"messages": [], "chatRequest": {}, "servingMode": {}}, None),
        ({"messages": [], "chatRequest": {}}, RequestSurface.OPENAI_CHAT),
        ({"messages": []}, RequestSurface.OPENAI_CHAT),
        ({"contents": []}, None),
        ({}, None),
    ],
)
def test_surface_is_detected_from_the_body_shape_alone(
    body: dict[str, Any], surface: RequestSurface | None
) -> None:
    assert detect_surface(body) == surface


def test_an_anthropic_request_without_system_reads_as_openai_chat() -> None:
    request = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
    assert detect_surface(request) is RequestSurface.OPENAI_CHAT


def test_a_message_edited_in_place_after_a_decode_is_decoded_again() -> None:
    decoder = RequestDecoder()
    message: dict[str, Any] = {"role": "user", "content": [{"type": "text", "text": "first"}]}
    request = {"model": "gpt-4o", "messages": [message]}
    assert decoder.decode(request).messages[0].wire["content"][0]["text"] == "first"
    message["content"][0]["text"] = "second"
    assert decoder.decode(request).messages[0].wire["content"][0]["text"] == "second"


def test_a_rebuilt_but_equal_message_reuses_the_decoded_one() -> None:
    decoder = RequestDecoder()
    first = decoder.decode({"messages": [{"role": "user", "content": "hi"}]})
    second = decoder.decode({"messages": [{"role": "user", "content": "hi"}]})
    assert first.messages[0] is second.messages[0]


def test_tool_lists_equal_in_python_but_not_in_json_stay_apart() -> None:
    decoder = RequestDecoder()
    as_bool = {"type": "function", "function": {"name": "f", "parameters": {"x": True}}}
    as_int = {"type": "function", "function": {"name": "f", "parameters": {"x": 1}}}
    body = {"messages": [], "tools": [as_bool]}
    bool_tools = decoder.decode(body).tools
    int_tools = decoder.decode({"messages": [], "tools": [as_int]}).tools
    assert bool_tools is not None and int_tools is not None
    assert bool_tools.wire[0]["function"]["parameters"]["x"] is True
    assert int_tools.wire[0]["function"]["parameters"]["x"] == 1
    assert int_tools.wire[0]["function"]["parameters"]["x"] is not True
