"""Building a ``PromptIR`` from an annotated LLM request.

Block order follows what a provider caches: the fixed preamble (instructions,
system and developer messages, then tool schemas and the structured-output
contract) before the conversation. Span ids combine role, a running index and
a stable suffix (tool name, tool call id), so the same slot gets the same id
in every request of a prompt family. Ported from NeMo Relay's
``acg::ir_builder``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from adaptive.acg import annotated_request as ar
from adaptive.acg.canonical import canonical_json, normalize_whitespace, sha256_hex
from adaptive.acg.errors import CanonicalizationError, PromptIRError
from adaptive.acg.prompt_ir import (
    BlockContentType,
    PromptBlock,
    PromptIR,
    PromptRole,
    ProvenanceLabel,
    ToolSchemaHash,
)
from adaptive.acg.serde_text import serde_struct_text
from adaptive.timestamps import now_ns

_HIDDEN_PARTS = frozenset({ar.PartType.IMAGE_URL, ar.PartType.IMAGE})
_PLAIN_TEXT_FIELDS = {ar.PartType.TEXT: "text", ar.PartType.REFUSAL: "refusal"}


class _BlockMemo:
    """Bounded memo of built blocks: prompts repeat most blocks, and blocks are frozen."""

    def __init__(self, max_entries: int = 8192) -> None:
        self.max_entries = max_entries
        self._blocks: dict[
            tuple[str, PromptRole, str, BlockContentType, ProvenanceLabel], PromptBlock
        ] = {}

    def get(
        self, key: tuple[str, PromptRole, str, BlockContentType, ProvenanceLabel]
    ) -> PromptBlock | None:
        return self._blocks.get(key)

    def remember(
        self,
        key: tuple[str, PromptRole, str, BlockContentType, ProvenanceLabel],
        block: PromptBlock,
    ) -> None:
        if len(self._blocks) >= self.max_entries:
            self._blocks.clear()
        self._blocks[key] = block


_BLOCKS = _BlockMemo()


class _BlockSequence:
    """Blocks in prompt order, numbered by one running index."""

    def __init__(self) -> None:
        self.blocks: list[PromptBlock] = []

    def add(
        self,
        role: PromptRole,
        content: str,
        content_type: BlockContentType,
        provenance: ProvenanceLabel,
        suffix: str | None = None,
    ) -> None:
        index = len(self.blocks)
        span_id = f"{role.value}-{index}" if suffix is None else f"{role.value}-{index}-{suffix}"
        key = (span_id, role, content, content_type, provenance)
        block = _BLOCKS.get(key)
        if block is None:
            block = PromptBlock.model_construct(
                span_id=span_id,
                sequence_index=index,
                role=role,
                content=content,
                content_type=content_type,
                provenance=provenance,
            )
            _BLOCKS.remember(key, block)
        self.blocks.append(block)

    def add_text(
        self,
        role: PromptRole,
        content: ar.MessageContent,
        provenance: ProvenanceLabel,
        suffix: str | None = None,
    ) -> None:
        text = normalize_whitespace(_visible_text(content))
        self.add(role, text, BlockContentType.TEXT, provenance, suffix)


def build_prompt_ir(annotated_request: dict[str, Any]) -> PromptIR:
    """Flatten an annotated request into a ``PromptIR``.

    Raises ``PromptIRError`` for requests NeMo Relay could not have decoded
    or canonicalized; callers learning from many requests skip those.
    """
    if not isinstance(annotated_request, dict):
        raise PromptIRError("annotated request must be a JSON object")
    try:
        return _build(annotated_request)
    except CanonicalizationError as error:
        raise PromptIRError(str(error)) from error
    except UnicodeEncodeError as error:
        raise PromptIRError(f"annotated request is not valid Unicode: {error}") from error


def _build(request: dict[str, Any]) -> PromptIR:
    tools = _canonical_tools(ar.tool_definitions(request))
    contract = _structured_output_contract(request)
    sequence = _BlockSequence()
    instructions = ar.instructions(request)
    if instructions is not None:
        sequence.add_text(PromptRole.SYSTEM, instructions, ProvenanceLabel.SYSTEM, "instructions")
    scaffold_done = False
    for message in ar.request_messages(request):
        role = ar.message_role(message)
        if not scaffold_done and role not in ar.SCAFFOLD_ROLES:
            _add_scaffold(sequence, tools, contract)
            scaffold_done = True
        _add_message(sequence, role, message)
    if not scaffold_done:
        _add_scaffold(sequence, tools, contract)
    return PromptIR(
        ir_id=uuid.uuid4(),
        blocks=sequence.blocks,
        tool_schema_hashes=None if tools is None else _tool_schema_hashes(tools),
        structured_output_schema_id=None if contract is None else sha256_hex(contract),
        source_request_hash=sha256_hex(canonical_json(request, unique_levels=2)),
        created_at=now_ns(),
    )


def _structured_output_contract(request: dict[str, Any]) -> str | None:
    response_format = ar.response_format(request)
    return None if response_format is None else canonical_json(response_format)


def _canonical_tools(tools: list[dict[str, Any]] | None) -> list[tuple[str, str]] | None:
    """``(name, canonical JSON)`` per tool, computed once for both blocks and hashes."""
    if tools is None:
        return None
    return [
        (ar.tool_definition_name(tool), canonical_json(ar.tool_definition_wire(tool)))
        for tool in tools
    ]


def _add_scaffold(
    sequence: _BlockSequence, tools: list[tuple[str, str]] | None, contract: str | None
) -> None:
    for name, canonical in tools or ():
        sequence.add(
            PromptRole.SYSTEM,
            normalize_whitespace(canonical),
            BlockContentType.TOOL_SCHEMA,
            ProvenanceLabel.SYSTEM,
            name,
        )
    if contract is not None:
        sequence.add(
            PromptRole.SYSTEM,
            contract,
            BlockContentType.STRUCTURED_OUTPUT,
            ProvenanceLabel.SYSTEM,
            "structured-output",
        )


def _add_message(sequence: _BlockSequence, role: ar.MessageRole, message: dict[str, Any]) -> None:
    where = f"{role} message"
    match role:
        case ar.MessageRole.SYSTEM:
            sequence.add_text(
                PromptRole.SYSTEM, ar.message_content(message, where), ProvenanceLabel.SYSTEM
            )
        case ar.MessageRole.DEVELOPER:
            content = ar.message_content(message, where)
            sequence.add_text(PromptRole.SYSTEM, content, ProvenanceLabel.DEVELOPER, "developer")
        case ar.MessageRole.USER:
            sequence.add_text(
                PromptRole.USER, ar.message_content(message, where), ProvenanceLabel.USER
            )
        case ar.MessageRole.ASSISTANT:
            _add_assistant(sequence, message)
        case ar.MessageRole.TOOL:
            _add_tool_result(sequence, message)
        case ar.MessageRole.FUNCTION:
            name = ar.required_string(message, "name", where)
            text = ar.optional_string(message, "content", where) or ""
            sequence.add_text(PromptRole.TOOL, text, ProvenanceLabel.TOOL, name)
        case ar.MessageRole.TOOL_CALL:
            _add_item(sequence, message, PromptRole.ASSISTANT, ProvenanceLabel.DEVELOPER, "name")
        case ar.MessageRole.TOOL_RESULT:
            _add_item(sequence, message, PromptRole.TOOL, ProvenanceLabel.TOOL, "call_id")
        case ar.MessageRole.PROVIDER_NATIVE:
            _add_item(sequence, message, PromptRole.USER, ProvenanceLabel.DEVELOPER, "kind")


def _add_assistant(sequence: _BlockSequence, message: dict[str, Any]) -> None:
    """Assistant text (if any) then one block per tool call, named by function."""
    content = ar.optional_message_content(message, "assistant message")
    calls = [ar.tool_call_wire(call) for call in ar.assistant_tool_calls(message)]
    if content is not None:
        sequence.add_text(PromptRole.ASSISTANT, content, ProvenanceLabel.DEVELOPER)
    for call in calls:
        sequence.add(
            PromptRole.ASSISTANT,
            normalize_whitespace(canonical_json(call)),
            BlockContentType.TEXT,
            ProvenanceLabel.DEVELOPER,
            call["function"]["name"],
        )


def _add_tool_result(sequence: _BlockSequence, message: dict[str, Any]) -> None:
    content = ar.message_content(message, "tool message")
    call_id = ar.required_string(message, "tool_call_id", "tool message")
    text = normalize_whitespace(_visible_text(content))
    sequence.add(PromptRole.TOOL, text, BlockContentType.TOOL_RESULT, ProvenanceLabel.TOOL, call_id)


def _add_item(
    sequence: _BlockSequence,
    message: dict[str, Any],
    role: PromptRole,
    provenance: ProvenanceLabel,
    suffix_field: str,
) -> None:
    """Responses-API items have no text of their own: their canonical JSON is the content."""
    wire = ar.item_message_wire(message)
    sequence.add_text(role, canonical_json(wire), provenance, wire[suffix_field])


def _visible_text(content: ar.MessageContent) -> str:
    """The text a block shows: text parts joined by newlines, images left out."""
    if isinstance(content, str):
        return content
    return "\n".join(text for text in _part_texts(content) if text)


def _part_texts(parts: list[dict[str, Any]]) -> Iterator[str]:
    for part in parts:
        part_type = ar.content_part_type(part, "content")
        if part_type in _HIDDEN_PARTS:
            continue
        plain_field = _PLAIN_TEXT_FIELDS.get(part_type)
        if plain_field is not None:
            yield part[plain_field]
        else:
            yield serde_struct_text(ar.content_part_fields(part))


def _tool_schema_hashes(tools: list[tuple[str, str]]) -> list[ToolSchemaHash]:
    return [
        ToolSchemaHash(tool_name=name, schema_hash=sha256_hex(canonical))
        for name, canonical in tools
    ]
