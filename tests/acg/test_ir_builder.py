"""Building prompt IR from annotated requests (NeMo Relay's ``acg::ir_builder``).

Expected block contents are written out by hand: canonical JSON sorts keys,
and text is whitespace-normalized.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from adaptive.acg import PromptIRError, build_prompt_ir

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "describe search",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    },
}
SEARCH_TOOL_CANONICAL = (
    '{"function":{"description":"describe search","name":"search",'
    '"parameters":{"properties":{"query":{"type":"string"}},"type":"object"}},"type":"function"}'
)
SEARCH_CALL = {
    "id": "call-search",
    "type": "function",
    "function": {"name": "search", "arguments": '{"query":"weather"}'},
}
SEARCH_CALL_CANONICAL = (
    '{"function":{"arguments":"{\\"query\\":\\"weather\\"}","name":"search"},'
    '"id":"call-search","type":"function"}'
)


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _summary(request: dict[str, Any]) -> list[tuple[str, int, str, str, str, str]]:
    ir = build_prompt_ir(request)
    return [
        (b.span_id, b.sequence_index, b.role, b.content_type, b.provenance, b.content)
        for b in ir.blocks
    ]


def test_tools_go_before_the_first_non_system_message() -> None:
    # Rust: build_prompt_ir_inserts_tools_before_first_non_system_message_...
    request = {
        "messages": [
            {"role": "system", "content": "You are   helpful."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "World"}],
            },
            {"role": "assistant", "content": "Calling search", "tool_calls": [SEARCH_CALL]},
            {"role": "tool", "content": '{"result":true}', "tool_call_id": "call-search"},
        ],
        "model": "gpt-4o",
        "tools": [SEARCH_TOOL],
    }
    assert _summary(request) == [
        ("system-0", 0, "system", "text", "system", "You are helpful."),
        ("system-1-search", 1, "system", "tool_schema", "system", SEARCH_TOOL_CANONICAL),
        ("user-2", 2, "user", "text", "user", "Hello\nWorld"),
        ("assistant-3", 3, "assistant", "text", "developer", "Calling search"),
        ("assistant-4-search", 4, "assistant", "text", "developer", SEARCH_CALL_CANONICAL),
        ("tool-5-call-search", 5, "tool", "tool_result", "tool", '{"result":true}'),
    ]


def test_request_level_hashes() -> None:
    request = {"messages": [{"role": "user", "content": "hi"}], "tools": [SEARCH_TOOL]}
    ir = build_prompt_ir(request)
    assert ir.tool_schema_hashes is not None
    assert [(h.tool_name, h.schema_hash) for h in ir.tool_schema_hashes] == [
        ("search", _digest(SEARCH_TOOL_CANONICAL))
    ]
    # The source hash covers the whole request in canonical form.
    canonical_request = (
        '{"messages":[{"content":"hi","role":"user"}],"tools":[' + SEARCH_TOOL_CANONICAL + "]}"
    )
    assert ir.source_request_hash == _digest(canonical_request)
    assert ir.structured_output_schema_id is None


def test_tools_only_request_puts_tool_blocks_first() -> None:
    request = {"tools": [SEARCH_TOOL, {**SEARCH_TOOL, "function": {"name": "lookup"}}]}
    assert [(s, i, ct) for s, i, _, ct, _, _ in _summary(request)] == [
        ("system-0-search", 0, "tool_schema"),
        ("system-1-lookup", 1, "tool_schema"),
    ]


def test_system_only_request_appends_tools_at_the_end() -> None:
    # Rust: build_prompt_ir_appends_tool_blocks_when_request_contains_only_system_messages
    request = {"messages": [{"role": "system", "content": "System only"}], "tools": [SEARCH_TOOL]}
    assert [span for span, *_ in _summary(request)] == ["system-0", "system-1-search"]


def test_request_without_system_message_or_tools() -> None:
    # Rust: build_prompt_ir_omits_tool_schema_hashes_when_no_tools_are_present
    ir = build_prompt_ir({"messages": [{"role": "user", "content": "No tools"}], "model": "m"})
    assert [b.span_id for b in ir.blocks] == ["user-0"]
    assert ir.tool_schema_hashes is None
    assert "tool_schema_hashes" not in ir.to_wire()


def test_empty_tool_list_is_kept_as_an_empty_hash_list() -> None:
    ir = build_prompt_ir({"messages": [{"role": "user", "content": "x"}], "tools": []})
    assert ir.tool_schema_hashes == []
    assert ir.to_wire()["tool_schema_hashes"] == []


def test_multi_part_content_skips_images_and_empty_text() -> None:
    parts = [
        {"type": "text", "text": "look  at"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}},
        {"type": "text", "text": ""},
        {"type": "image", "image": {"file_id": "img_1"}},
        {"type": "refusal", "refusal": "no"},
        {"type": "text", "text": "this"},
    ]
    assert _summary({"messages": [{"role": "user", "content": parts}]})[0][5] == "look at\nno\nthis"


def test_non_text_parts_show_as_serde_json_in_declaration_order() -> None:
    parts = [
        {"type": "audio", "audio": {"data": "a", "format": "wav"}, "zeta": 1, "alpha": 2.0},
        {"type": "tool_result", "tool_use_id": "t1", "content": "ok", "is_error": None},
        {"type": "provider_native", "provider": "p", "kind": "k", "value": None, "dropped": 1},
    ]
    # Tag first, declared fields, then unknown keys sorted; ``is_error: null`` is
    # skipped; provider-native parts keep no unknown keys. 2.0 stays "2.0".
    expected = "\n".join(
        [
            '{"type":"audio","audio":{"data":"a","format":"wav"},"alpha":2.0,"zeta":1}',
            '{"type":"tool_result","tool_use_id":"t1","content":"ok"}',
            '{"type":"provider_native","provider":"p","kind":"k","value":null}',
        ]
    )
    assert _summary({"messages": [{"role": "user", "content": parts}]})[0][5] == expected


def test_assistant_tool_calls_without_text_continue_the_running_index() -> None:
    fetch_call = {**SEARCH_CALL, "id": "c2", "function": {"name": "fetch", "arguments": "{}"}}
    request = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": None, "tool_calls": [SEARCH_CALL, fetch_call]},
            {"role": "tool", "content": "r1", "tool_call_id": "call-search"},
            {"role": "tool", "content": [{"type": "text", "text": " r2 "}], "tool_call_id": "c2"},
        ]
    }
    assert [(s, c) for s, _, _, _, _, c in _summary(request)] == [
        ("user-0", "q"),
        ("assistant-1-search", SEARCH_CALL_CANONICAL),
        (
            "assistant-2-fetch",
            '{"function":{"arguments":"{}","name":"fetch"},"id":"c2","type":"function"}',
        ),
        ("tool-3-call-search", "r1"),
        ("tool-4-c2", "r2"),
    ]


def test_tool_calls_keep_only_their_declared_fields() -> None:
    call = {**SEARCH_CALL, "index": 0, "extra": "dropped by serde"}
    request = {"messages": [{"role": "assistant", "tool_calls": [call]}]}
    assert _summary(request)[0][5] == SEARCH_CALL_CANONICAL


def test_assistant_with_empty_text_still_gets_a_block() -> None:
    assert _summary({"messages": [{"role": "assistant", "content": ""}]}) == [
        ("assistant-0", 0, "assistant", "text", "developer", "")
    ]


def test_tool_definitions_drop_null_optionals_and_keep_extras() -> None:
    tool = {
        "type": "function",
        "function": {"name": "f", "description": None, "parameters": None, "x": None},
        "cache_control": {"type": "ephemeral"},
    }
    ir = build_prompt_ir({"tools": [tool]})
    assert ir.blocks[0].content == (
        '{"cache_control":{"type":"ephemeral"},"function":{"name":"f","x":null},"type":"function"}'
    )


def test_extended_message_kinds() -> None:
    # Rust: build_prompt_ir_covers_extended_request_messages_and_content_parts
    request = {
        "instructions": "Top-level   instructions",
        "messages": [
            {"role": "developer", "content": "Developer guide", "name": "developer"},
            {"role": "user", "content": "u"},
            {"role": "function", "content": None, "name": "legacy"},
            {
                "role": "tool_call",
                "id": None,
                "call_id": "call_1",
                "name": "lookup",
                "arguments": {"q": "x"},
                "status": "completed",
            },
            {"role": "tool_result", "id": "fco_1", "call_id": "call_1", "output": {"ok": True}},
            {
                "role": "provider_native",
                "provider": "openai_responses",
                "kind": "reasoning",
                "value": {"type": "reasoning", "summary": []},
            },
        ],
        "tools": [
            {
                "type": "provider_native",
                "provider": "openai_responses",
                "kind": "web_search_preview",
                "value": {"type": "web_search_preview"},
            }
        ],
    }
    ir = build_prompt_ir(request)
    assert [(b.span_id, b.role, b.provenance, b.content) for b in ir.blocks] == [
        ("system-0-instructions", "system", "system", "Top-level instructions"),
        ("system-1-developer", "system", "developer", "Developer guide"),
        (
            "system-2-web_search_preview",
            "system",
            "system",
            '{"kind":"web_search_preview","provider":"openai_responses",'
            '"type":"provider_native","value":{"type":"web_search_preview"}}',
        ),
        ("user-3", "user", "user", "u"),
        ("tool-4-legacy", "tool", "tool", ""),
        (
            "assistant-5-lookup",
            "assistant",
            "developer",
            '{"arguments":{"q":"x"},"call_id":"call_1","name":"lookup",'
            '"role":"tool_call","status":"completed"}',
        ),
        (
            "tool-6-call_1",
            "tool",
            "tool",
            '{"call_id":"call_1","id":"fco_1","output":{"ok":true},"role":"tool_result"}',
        ),
        (
            "user-7-reasoning",
            "user",
            "developer",
            '{"kind":"reasoning","provider":"openai_responses","role":"provider_native",'
            '"value":{"summary":[],"type":"reasoning"}}',
        ),
    ]
    assert ir.tool_schema_hashes is not None
    assert ir.tool_schema_hashes[0].tool_name == "web_search_preview"


def test_structured_output_contract_joins_the_scaffold() -> None:
    # Rust: build_prompt_ir_canonicalizes_structured_output_before_user_content
    contract_text = '{"json_schema":{"required":["answer"],"type":"object"},"type":"json_schema"}'
    request = {
        "messages": [{"role": "user", "content": "variable task"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"type": "object", "required": ["answer"]},
        },
    }
    ir = build_prompt_ir(request)
    assert [(b.span_id, b.content_type, b.content) for b in ir.blocks] == [
        ("system-0-structured-output", "structured_output", contract_text),
        ("user-1", "text", "variable task"),
    ]
    assert ir.structured_output_schema_id == _digest(contract_text)

    null_contract = build_prompt_ir({**request, "response_format": None})
    assert [b.span_id for b in null_contract.blocks] == ["user-0"]
    assert null_contract.structured_output_schema_id is None


def test_each_build_gets_a_fresh_id_and_the_same_hashes() -> None:
    request = {"messages": [{"role": "user", "content": "x"}]}
    first, second = build_prompt_ir(request), build_prompt_ir(request)
    assert first.ir_id != second.ir_id
    assert first.source_request_hash == second.source_request_hash
    assert first.blocks == second.blocks


@pytest.mark.parametrize(
    "request_",
    [
        [],
        {"messages": "not a list"},
        {"messages": [{"role": "narrator", "content": "x"}]},
        {"messages": [{"content": "no role"}]},
        {"messages": [{"role": "user"}]},
        {"messages": [{"role": "user", "content": 5}]},
        {"messages": [{"role": "user", "content": [{"type": "video", "video": {}}]}]},
        {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
        {"messages": [{"role": "tool", "content": "x"}]},
        {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]}]},
        {"messages": [{"role": "tool_result", "call_id": "c"}]},
        {"tools": [{"type": "function"}]},
        {"tools": [{"type": "retrieval"}]},
        {"messages": [{"role": "user", "content": "x"}], "temperature": float("nan")},
        {"messages": [{"role": "user", "content": "\ud800"}]},
    ],
)
def test_requests_nemo_relay_could_not_decode_raise_prompt_ir_error(request_: Any) -> None:
    with pytest.raises(PromptIRError):
        build_prompt_ir(request_)
