"""The learning key (NeMo Relay's ``derive_acg_learning_key``).

Digests are of canonical texts written out by hand in each test.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from adaptive.acg import PromptIRError, derive_learning_key

TOOL = {
    "type": "function",
    "function": {"name": "search", "parameters": {"type": "object"}, "description": "d"},
}
TOOL_CANONICAL = (
    '{"function":{"description":"d","name":"search","parameters":{"type":"object"}},'
    '"type":"function"}'
)


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _system_digest(content: str) -> str:
    return _digest('[{"content":' + f'"{content}"' + ',"role":"system","source":"message"}]')


def _request(task: str = "find alpha", **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Follow  policy"},
            {"role": "user", "content": task},
        ],
        "tools": [TOOL],
    }
    request.update(overrides)
    return request


def test_sample_keys_come_out_exactly(sample_requests: list[dict[str, Any]]) -> None:
    keys = {derive_learning_key("planner", request) for request in sample_requests}
    assert keys == {
        "planner::model=gpt-x::seed=stable-scaffold"
        "::system=sha256:3479f3a971e597e2f888fd846ec2ecc399b8b5221e308397a862d2051479f6f9"
        "::tools=sha256:575a8f9e33ea395b9397f957a163c0177d26e5a4e712579945c0d35ec207a071",
        "planner::model=gpt-y::seed=stable-scaffold"
        "::system=sha256:618c4f1bcac196e02711b0c7256a888c0d6ff7a464ab901be16a30ef28acefe7"
        "::tools=no-tools",
    }


def test_scaffolded_key_hashes_raw_system_content_and_canonical_tools() -> None:
    # The system text is hashed as written (two spaces kept), inside a tagged list.
    assert derive_learning_key("agent-a", _request()) == (
        "agent-a::model=gpt-4o::seed=stable-scaffold"
        f"::system={_system_digest('Follow  policy')}::tools={_digest(TOOL_CANONICAL)}"
    )


def test_turns_of_one_scaffold_share_a_key() -> None:
    # Rust: acg_learning_key_groups_variable_tasks_by_stable_scaffold
    assert derive_learning_key("a", _request("find alpha")) == derive_learning_key(
        "a", _request("find beta")
    )


def test_several_tools_are_joined_by_a_bar() -> None:
    other = {"type": "function", "function": {"name": "fetch"}}
    other_canonical = '{"function":{"name":"fetch"},"type":"function"}'
    key = derive_learning_key("a", _request(tools=[TOOL, other]))
    assert key.endswith(f"::tools={_digest(TOOL_CANONICAL + '|' + other_canonical)}")


def test_no_model_reads_unknown() -> None:
    request = _request()
    del request["model"]
    assert "::model=unknown::" in derive_learning_key("a", request)
    # An empty model name is a name (Rust only substitutes for a missing one).
    assert "::model=::" in derive_learning_key("a", _request(model=""))


def test_no_tools_with_a_system_prompt() -> None:
    key = derive_learning_key("a", _request(tools=None))
    assert key == (
        f"a::model=gpt-4o::seed=stable-scaffold::system={_system_digest('Follow  policy')}"
        "::tools=no-tools"
    )


def test_no_system_with_tools() -> None:
    request = _request(messages=[{"role": "user", "content": "x"}])
    assert derive_learning_key("a", request) == (
        f"a::model=gpt-4o::seed=stable-scaffold::system=no-system::tools={_digest(TOOL_CANONICAL)}"
    )


def test_tools_only_request() -> None:
    request = {"model": "m", "tools": [TOOL]}
    assert derive_learning_key("a", request) == (
        f"a::model=m::seed=stable-scaffold::system=no-system::tools={_digest(TOOL_CANONICAL)}"
    )


def test_empty_tool_list_with_a_system_prompt_reads_tools_unavailable() -> None:
    assert derive_learning_key("a", _request(tools=[])).endswith("::tools=tools-unavailable")


def test_without_any_scaffold_the_first_message_seeds_a_short_key() -> None:
    # Rust: acg_learning_key_keeps_task_seed_without_a_stable_scaffold. Every
    # part is cut to 16 characters: "user:sha256:" leaves 4 hex digits.
    request = {"model": "m", "messages": [{"role": "user", "content": "alpha"}]}
    seed = ("user:" + _digest("alpha"))[:16]
    assert derive_learning_key("a", request) == (
        f"a::model=m::seed={seed}::system=no-system::tools=no-tools"
    )
    other = {"model": "m", "messages": [{"role": "user", "content": "beta"}]}
    assert derive_learning_key("a", request) != derive_learning_key("a", other)


def test_without_any_scaffold_an_empty_tool_list_is_cut_too() -> None:
    request = {"messages": [{"role": "user", "content": "alpha"}], "tools": []}
    assert derive_learning_key("a", request).endswith("::tools=tools-unavailabl")


@pytest.mark.parametrize(
    ("message", "seed_text"),
    [
        ({"role": "assistant", "content": None}, "assistant:no-content"),
        ({"role": "assistant", "content": "answer"}, "assistant:" + _digest("answer")),
        ({"role": "tool", "content": "r", "tool_call_id": "c"}, "tool:" + _digest("r")),
        (
            {"role": "function", "name": "legacy", "content": None},
            "function:" + _digest('{"content":null,"name":"legacy"}'),
        ),
        (
            {"role": "tool_call", "call_id": "c", "name": "one", "arguments": {"same": True}},
            "tool-call:" + _digest('{"arguments":{"same":true},"name":"one"}'),
        ),
        (
            # serde_json text, not canonical: 1.0 stays "1.0".
            {"role": "tool_result", "call_id": "c", "output": {"ok": True, "n": 1.0}},
            "tool-result:" + _digest('{"n":1.0,"ok":true}'),
        ),
        (
            {"role": "provider_native", "provider": "p", "kind": "k", "value": [1]},
            "native:" + _digest('{"kind":"k","provider":"p","value":[1]}'),
        ),
        (
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image_url", "image_url": {"url": "u"}},
                    {"type": "image_url", "image_url": {"url": "v", "detail": "high"}},
                ],
            },
            "user:" + _digest(f"see\n[image:none:{_digest('u')}]\n[image:high:{_digest('v')}]"),
        ),
    ],
)
def test_seed_depends_on_the_kind_of_first_message(message: dict[str, Any], seed_text: str) -> None:
    key = derive_learning_key("a", {"messages": [message]})
    assert f"::seed={seed_text[:16]}::" in key


def test_seed_of_a_request_without_messages() -> None:
    assert derive_learning_key("a", {}) == (
        "a::model=unknown::seed=no-seed::system=no-system::tools=no-tools"
    )


def test_system_digest_keeps_sources_roles_and_parts_apart() -> None:
    # Rust: system_fingerprint_preserves_sources_roles_and_content_boundaries
    def system_part(request: dict[str, Any]) -> str:
        return derive_learning_key("a", request).split("::")[3]

    joined = {"messages": [{"role": "system", "content": "a\nb"}]}
    with_instructions = {"instructions": "a", "messages": [{"role": "system", "content": "b"}]}
    developer = {"messages": [{"role": "developer", "content": "a\nb"}]}
    parts = {
        "messages": [
            {
                "role": "system",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            }
        ]
    }
    digests = {system_part(r) for r in (joined, with_instructions, developer, parts)}
    assert len(digests) == 4
    assert system_part(with_instructions) == "system=" + _digest(
        '[{"content":"a","source":"instructions"},'
        '{"content":"b","role":"system","source":"message"}]'
    )


def test_structured_output_contract_is_appended() -> None:
    contract = {"type": "json_schema", "json_schema": {"type": "object"}}
    contract_digest = _digest('{"json_schema":{"type":"object"},"type":"json_schema"}')
    request = {"messages": [{"role": "user", "content": "task"}], "response_format": contract}
    # The contract alone is a scaffold, so the seed is the fixed marker.
    assert derive_learning_key("a", request) == (
        "a::model=unknown::seed=stable-scaffold::system=no-system::tools=no-tools"
        f"::response_format={contract_digest}"
    )
    assert derive_learning_key("a", {**_request(), "response_format": None}) == (
        derive_learning_key("a", _request())
    )


def test_undecodable_requests_raise_prompt_ir_error() -> None:
    with pytest.raises(PromptIRError):
        derive_learning_key("a", {"messages": [{"role": "narrator", "content": "x"}]})
    with pytest.raises(PromptIRError):
        derive_learning_key("a", {"tools": [{"type": "function", "function": {"name": "\ud800"}}]})
