"""A provider reused for many requests answers each exactly as a new provider would.

Decoders and providers memoize what they derived from earlier requests and
find it again by content, so equal-looking content must never be confused:
``true`` is not ``1`` is not ``1.0`` for NeMo Relay's codecs (``strict: 1``
and ``max_tokens: 10.0`` are refused), a request rebuilt from JSON must get
the same answer as the original objects, and a caller editing its request
after a call must not change what later requests get.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from adaptive.acg.providers import provider_named
from adaptive.acg.providers.codec_fields import RequestDecodeError
from adaptive.acg.providers.decoder import RequestDecoder
from adaptive.acg.providers.prefix import PrefixBuilder, span_id
from adaptive.acg.providers.request_view import RequestSurface
from tests.acg.providers.corpus import corpus
from tests.acg.providers.support import (
    AGENT,
    LONG_SYSTEM,
    anthropic_request,
    anthropic_tools,
    learn,
    relay_bytes,
)

Path = tuple[str | int, ...]


def number_paths(value: Any, path: Path = ()) -> Iterator[Path]:
    if isinstance(value, dict):
        for name, item in value.items():
            yield from number_paths(item, (*path, name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from number_paths(item, (*path, index))
    elif isinstance(value, bool | int | float):
        yield path


def retyped(number: Any) -> Any:
    """An equal number of another JSON type (``==`` cannot tell them apart)."""
    if isinstance(number, bool):
        return int(number)
    if isinstance(number, int):
        return float(number) if abs(number) < 2**53 else number
    return int(number) if number.is_integer() else number


def with_value(request: Any, path: Path, value: Any) -> Any:
    changed = copy.deepcopy(request)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


def variants(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The request itself, rebuilt from its JSON, and with each number retyped."""
    yield request
    yield json.loads(json.dumps(request))
    for path in number_paths(request):
        target: Any = request
        for step in path:
            target = target[step]
        if retyped(target) is not target and type(retyped(target)) is not type(target):
            yield with_value(request, path, retyped(target))


def decoded(decoder: RequestDecoder, builder: PrefixBuilder, surface: str, request: Any) -> str:
    """Everything ACG derives from the decoded request, as comparable text."""
    try:
        request_view = decoder.decode_as(RequestSurface(surface), request)
    except RequestDecodeError:
        return "refused"
    blocks = builder.prefix(request_view, 10_000)
    return json.dumps(
        {
            "annotated": request_view.annotated(),
            "key": builder.learning_key(AGENT, request_view),
            "blocks": [[span_id(b, i), b.content, b.tokens] for i, b in enumerate(blocks)],
            "fingerprint": builder.fingerprint(request_view, blocks, len(blocks), "k"),
        },
        sort_keys=True,
    )


def test_a_reused_decoder_never_confuses_requests_of_equal_looking_content() -> None:
    decoder, builder = RequestDecoder(), PrefixBuilder()
    compared = told_apart = 0
    for surface, request in corpus():
        first = None
        for variant in variants(request):
            expected = decoded(RequestDecoder(), PrefixBuilder(), surface, variant)
            assert decoded(decoder, builder, surface, variant) == expected, (surface, variant)
            first = expected if first is None else first
            compared += 1
            told_apart += expected != first
    assert compared > 300
    assert told_apart > 20  # retyping a number does change outcomes (refusals, keys)


def test_a_tool_flag_of_another_type_is_refused_though_equal_to_the_learned_one() -> None:
    tools = [{**tool, "strict": True} for tool in anthropic_tools(3)]
    requests = [anthropic_request(f"q{n}", tools=tools) for n in range(4)]
    cache = learn(requests)
    provider = provider_named("anthropic")
    assert relay_bytes(provider.rewrite(requests[0], cache, agent_id=AGENT)) != relay_bytes(
        requests[0]
    )
    one = anthropic_request("q", tools=[{**tool, "strict": 1} for tool in anthropic_tools(3)])
    assert one["tools"] == tools  # Python's == cannot tell them apart
    assert provider.rewrite(one, cache, agent_id=AGENT) == one  # NeMo Relay's codec refuses


def scaffold_requests(surface: str) -> list[dict[str, Any]]:
    tools = anthropic_tools()
    tools[0]["strict"] = True
    if surface == "anthropic":
        return [anthropic_request(f"q{n}", tools=tools) for n in range(6)]
    tools = [
        {"type": "function", "function": {**tool, "parameters": tool.pop("input_schema")}}
        for tool in tools
    ]
    return [
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": LONG_SYSTEM},
                {"role": "user", "content": f"q{n}"},
            ],
            "tools": tools,
            "max_tokens": 64,
        }
        for n in range(6)
    ]


def test_a_reused_provider_rewrites_rebuilt_and_retyped_requests_as_a_new_one() -> None:
    for name in ("anthropic", "openai"):
        requests = scaffold_requests(name)
        cache = learn(requests[:4])
        reused = provider_named(name)
        rewritten = left_alone = 0
        for request in requests[4:]:
            for variant in variants(request):
                expected = provider_named(name).rewrite(variant, cache, agent_id=AGENT)
                ours = reused.rewrite(variant, cache, agent_id=AGENT)
                assert relay_bytes(ours) == relay_bytes(expected), (name, variant)
                changed = relay_bytes(expected) != relay_bytes(variant)
                rewritten += changed
                left_alone += not changed
        assert rewritten > 4, name
        assert left_alone >= 4, name  # strict: 1 and max_tokens: 64.0 are refused


def test_editing_a_request_after_its_call_never_changes_later_answers() -> None:
    requests = scaffold_requests("anthropic")
    cache = learn(requests[:4])
    provider = provider_named("anthropic")
    request = requests[4]
    pristine = json.loads(json.dumps(request))
    before = relay_bytes(provider.rewrite(request, cache, agent_id=AGENT))
    request["tools"][0]["input_schema"]["properties"]["q"]["type"] = "number"
    request["max_tokens"] = 1
    edited = relay_bytes(provider.rewrite(request, cache, agent_id=AGENT))
    new_provider = provider_named("anthropic")
    assert edited == relay_bytes(new_provider.rewrite(request, cache, agent_id=AGENT))
    assert edited != before
    assert relay_bytes(provider.rewrite(pristine, cache, agent_id=AGENT)) == before
    decoder = RequestDecoder()
    original = {**scaffold_requests("anthropic")[5], "metadata": {"user_id": "u1"}}
    text = json.dumps(original)
    annotated = relay_bytes(decoder.decode(original).annotated())
    original["tools"][1]["description"] = "edited"
    original["tools"][2]["input_schema"]["required"].append("n")
    original["metadata"]["user_id"] = "u2"
    assert relay_bytes(decoder.decode(json.loads(text)).annotated()) == annotated
