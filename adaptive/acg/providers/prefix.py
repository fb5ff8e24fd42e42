"""The live request's learning key, prompt-IR prefix and prefix fingerprint.

NeMo Relay rewrites a request only when the stable prefix it learned for the
request's learning key is also the request's own prefix: the fingerprint of
the first ``stable_prefix_length`` IR blocks, bound to the learning key (and,
past the scaffold, to a digest of the whole request), must equal the stored
one. Every decision after that reads only those first blocks, so only they
are built. The rules are those of ``adaptive.acg.ir_builder`` and
``adaptive.acg.profile`` applied to the decoded request as the Rust struct
holds it (a tool's ``"parameters": null`` counts, where a JSON round trip
would drop it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from adaptive.acg import annotated_request as ar
from adaptive.acg.canonical import canonical_json, normalize_whitespace, sha256_hex
from adaptive.acg.profile import derive_learning_key
from adaptive.acg.prompt_ir import BlockContentType, PromptRole, ProvenanceLabel
from adaptive.acg.providers.memo import BoundedMemo, exact_key
from adaptive.acg.providers.request_view import (
    SCAFFOLD_ROLES,
    DecodedMessage,
    DecodedRequest,
    DecodedTools,
)
from adaptive.acg.serde_text import serde_struct_text
from adaptive.acg.stability import STABLE_SCAFFOLD_BINDING, bind_prefix_fingerprint

_SYSTEM = PromptRole.SYSTEM.value
_USER = PromptRole.USER.value
_ASSISTANT = PromptRole.ASSISTANT.value
_TOOL = PromptRole.TOOL.value
_TEXT = BlockContentType.TEXT.value
TOOL_SCHEMA = BlockContentType.TOOL_SCHEMA.value
STRUCTURED_OUTPUT = BlockContentType.STRUCTURED_OUTPUT.value
_TOOL_RESULT = BlockContentType.TOOL_RESULT.value
_HIDDEN_PARTS = frozenset({"image_url", "image"})
_PLAIN_PARTS = {"text": "text", "refusal": "refusal"}


@dataclass(frozen=True, slots=True, eq=False)
class BlockSpec:
    """One IR block apart from its position (span ids embed the running index).

    Specs are built once per unchanged request part and compared by
    identity, so a prefix of specs is a cheap memo key.
    """

    role: str
    content_type: str
    provenance: str
    content: str
    suffix: str | None
    key_tail: str
    """``,"role","content_type","content"]``: the block key's JSON after the span id."""
    tokens: int
    """NeMo Relay's estimate: UTF-8 bytes of the content divided by 4."""


def _json_text(text: str) -> str:
    """``serde_json::to_string`` of a string."""
    return json.dumps(text, ensure_ascii=False)


def block_spec(
    role: str, content_type: str, provenance: str, content: str, suffix: str | None = None
) -> BlockSpec:
    tail = f",{_json_text(role)},{_json_text(content_type)},{_json_text(content)}]"
    tokens = len(content.encode()) // 4
    return BlockSpec(role, content_type, provenance, content, suffix, tail, tokens)


def span_id(spec: BlockSpec, index: int) -> str:
    if spec.suffix is None:
        return f"{spec.role}-{index}"
    return f"{spec.role}-{index}-{spec.suffix}"


def is_scaffold_spec(spec: BlockSpec) -> bool:
    return spec.role == _SYSTEM or spec.content_type in (TOOL_SCHEMA, STRUCTURED_OUTPUT)


def visible_text(content: Any) -> str:
    """Text parts joined by newlines; images hidden; other parts as their serde JSON."""
    if isinstance(content, str):
        return content
    texts = (_part_text(part) for part in content)
    return "\n".join(text for text in texts if text)


def _part_text(part: dict[str, Any]) -> str:
    part_type = part["type"]
    if part_type in _HIDDEN_PARTS:
        return ""
    plain = _PLAIN_PARTS.get(part_type)
    if plain is not None:
        text: str = part[plain]
        return text
    return serde_struct_text(ar.content_part_fields(part))


_SpecKey = tuple[str, str, str, str, str | None]


class SpecFactory:
    """Builds block specs, reusing one per distinct block source text.

    Whitespace normalization of a long system prompt costs far more than
    hashing it, so a rebuilt but equal request part gets its spec back from
    here instead of normalizing again.
    """

    def __init__(self) -> None:
        self._specs: BoundedMemo[_SpecKey, BlockSpec] = BoundedMemo()

    def block(
        self, role: str, content_type: str, provenance: str, raw: str, suffix: str | None = None
    ) -> BlockSpec:
        """A spec whose content is ``raw`` normalized (a structured-output contract is not)."""
        key = (role, content_type, provenance, raw, suffix)
        spec = self._specs.get(key)
        if spec is None:
            normalized = raw if content_type == STRUCTURED_OUTPUT else normalize_whitespace(raw)
            spec = self._specs.put(
                key, block_spec(role, content_type, provenance, normalized, suffix)
            )
        return spec

    def text(
        self, role: str, content: Any, provenance: str, suffix: str | None = None
    ) -> BlockSpec:
        return self.block(role, _TEXT, provenance, visible_text(content), suffix)

    def serialized(self, role: str, wire: Any, provenance: str, suffix: str) -> BlockSpec:
        """Responses items and tool calls: their canonical JSON is the block text."""
        return self.block(role, _TEXT, provenance, canonical_json(wire), suffix)

    def message_specs(self, message: DecodedMessage) -> tuple[BlockSpec, ...]:
        """The blocks a message contributes, built once per decoded message."""
        if message.specs is None:
            message.specs = tuple(self._build_message_specs(message.role, message.wire))
        return message.specs

    def _build_message_specs(self, role: str, wire: dict[str, Any]) -> Iterator[BlockSpec]:
        system, developer = ProvenanceLabel.SYSTEM.value, ProvenanceLabel.DEVELOPER.value
        tool, user = ProvenanceLabel.TOOL.value, ProvenanceLabel.USER.value
        if role == "system":
            yield self.text(_SYSTEM, wire["content"], system)
        elif role == "developer":
            yield self.text(_SYSTEM, wire["content"], developer, "developer")
        elif role == "user":
            yield self.text(_USER, wire["content"], user)
        elif role == "assistant":
            if wire.get("content") is not None:
                yield self.text(_ASSISTANT, wire["content"], developer)
            for call in wire.get("tool_calls") or ():
                yield self.serialized(_ASSISTANT, call, developer, call["function"]["name"])
        elif role == "tool":
            text = visible_text(wire["content"])
            yield self.block(_TOOL, _TOOL_RESULT, tool, text, wire["tool_call_id"])
        elif role == "function":
            yield self.text(_TOOL, wire["content"] or "", tool, wire["name"])
        elif role == "tool_call":
            yield self.serialized(_ASSISTANT, wire, developer, wire["name"])
        elif role == "tool_result":
            yield self.serialized(_TOOL, wire, tool, wire["call_id"])
        else:
            yield self.serialized(_USER, wire, developer, wire["kind"])


def tool_name(tool: dict[str, Any]) -> str:
    if tool["type"] == "provider_native":
        kind: str = tool["kind"]
        return kind
    name: str = tool["function"]["name"]
    return name


def tools_fingerprint(tools: DecodedTools) -> str:
    """``tool_schema_fingerprint``: the tools' canonical JSON joined by ``|``, hashed once."""
    if tools.fingerprint is None:
        tools.canonical = tuple(canonical_json(tool) for tool in tools.wire)
        tools.names = tuple(tool_name(tool) for tool in tools.wire)
        joined = "|".join(tools.canonical)
        tools.fingerprint = sha256_hex(joined) if joined else "tools-unavailable"
    return tools.fingerprint


class PrefixBuilder:
    """Learning keys, IR prefixes and fingerprints, with memos for repeated scaffolds."""

    def __init__(self) -> None:
        self._spec_factory = SpecFactory()
        self._system_digests: BoundedMemo[tuple[tuple[str, Any], ...] | bytes, str] = BoundedMemo()
        self._fingerprints: BoundedMemo[tuple[tuple[BlockSpec, ...], str], str] = BoundedMemo()
        self._prefix_digests: BoundedMemo[tuple[BlockSpec, ...], str] = BoundedMemo()

    def learning_key(self, agent_id: str, request: DecodedRequest) -> str:
        """NeMo Relay's ``derive_acg_learning_key`` for the decoded request."""
        system = self._system_fingerprint(request)
        tools = request.tools
        tool_fingerprint = "no-tools" if tools is None else tools_fingerprint(tools)
        contract = request.response_format
        has_scaffold = system != "no-system" or bool(tools and tools.wire) or contract is not None
        if not has_scaffold:
            return self._seeded_key(agent_id, request)
        model = "unknown" if request.model is None else request.model
        key = (
            f"{agent_id}::model={model}::seed=stable-scaffold"
            f"::system={system}::tools={tool_fingerprint}"
        )
        if contract is None:
            return key
        return f"{key}::response_format={sha256_hex(canonical_json(contract))}"

    def _system_fingerprint(self, request: DecodedRequest) -> str:
        """The digest of the instructions and every system/developer message, memoized by text."""
        sources: list[tuple[str, Any]] = []
        if request.instructions is not None:
            sources.append(("", request.instructions))
        for message in request.messages.scaffold():
            sources.append((message.role, message.wire["content"]))
        if not sources:
            return "no-system"
        memo_key: tuple[tuple[str, Any], ...] | bytes | None = tuple(sources)
        if not all(isinstance(content, str) for _, content in sources):
            memo_key = exact_key(sources)  # content blocks: by their marshal bytes
        if memo_key is None:
            return sha256_hex(canonical_json(_system_entries(sources)))
        digest = self._system_digests.get(memo_key)
        if digest is None:
            digest = sha256_hex(canonical_json(_system_entries(sources)))
            self._system_digests.put(memo_key, digest)
        return digest

    @staticmethod
    def _seeded_key(agent_id: str, request: DecodedRequest) -> str:
        """A scaffold-free request is keyed by its first message (``profile`` does that part)."""
        reduced: dict[str, Any] = {"messages": [message.wire for message in request.messages[:1]]}
        if request.model is not None:
            reduced["model"] = request.model
        if request.tools is not None:
            reduced["tools"] = request.tools.wire
        return derive_learning_key(agent_id, reduced)

    def prefix(self, request: DecodedRequest, limit: int) -> tuple[BlockSpec, ...]:
        """The first ``limit`` IR blocks (fewer when the request has fewer); block i is at i.

        IR order: instructions, leading system messages, tools and contract,
        the rest. Messages past the blocks asked for are not even decoded.
        """
        if limit <= 0:
            return ()
        specs = self._spec_factory
        blocks: list[BlockSpec] = []
        if request.instructions is not None:
            system = ProvenanceLabel.SYSTEM.value
            blocks.append(specs.text(_SYSTEM, request.instructions, system, "instructions"))
        messages = request.messages
        count, position = len(messages), 0
        turn = None  # the first message after the leading system ones, once read
        while position < count and len(blocks) < limit:
            turn = messages.at(position)
            if turn.role not in SCAFFOLD_ROLES:
                break
            blocks += specs.message_specs(turn)
            turn = None
            position += 1
        if len(blocks) < limit:
            blocks += self._scaffold_specs(request)
        while position < count and len(blocks) < limit:
            message = turn if turn is not None else messages.at(position)
            turn = None
            blocks += specs.message_specs(message)
            position += 1
        return tuple(blocks[:limit])

    def _scaffold_specs(self, request: DecodedRequest) -> tuple[BlockSpec, ...]:
        """The tools' blocks, then the response-format contract's."""
        system = ProvenanceLabel.SYSTEM.value
        tools = request.tools
        tool_specs: tuple[BlockSpec, ...] = ()
        if tools is not None:
            if tools.specs is None:
                tools_fingerprint(tools)
                tools.specs = tuple(
                    self._spec_factory.block(_SYSTEM, TOOL_SCHEMA, system, text, name)
                    for text, name in zip(tools.canonical, tools.names, strict=True)
                )
            tool_specs = tools.specs
        contract = request.response_format
        if contract is None:
            return tool_specs
        text = canonical_json(contract)
        suffix = "structured-output"
        spec = self._spec_factory.block(_SYSTEM, STRUCTURED_OUTPUT, system, text, suffix)
        return (*tool_specs, spec)

    def fingerprint(
        self,
        request: DecodedRequest,
        blocks: Sequence[BlockSpec],
        length: int,
        learning_key: str,
    ) -> str | None:
        """``profile_prefix_fingerprint`` of the live request; None when it has no such prefix."""
        if length == 0 or len(blocks) < length:
            return None
        memo_key = (tuple(blocks[:length]), learning_key)
        scaffold_bound = self._fingerprints.get(memo_key)
        if scaffold_bound is not None:
            return scaffold_bound
        prefix = self._prefix_digests.get(memo_key[0])
        if prefix is None:
            prefix = self._prefix_digests.put(memo_key[0], prefix_fingerprint(memo_key[0]))
        if all(is_scaffold_spec(spec) for spec in memo_key[0]):
            bound = bind_prefix_fingerprint(learning_key, prefix, STABLE_SCAFFOLD_BINDING)
            return self._fingerprints.put(memo_key, bound)
        request_digest = sha256_hex(canonical_json(request.annotated(), unique_levels=2))
        return bind_prefix_fingerprint(learning_key, prefix, request_digest)


def _system_entries(sources: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """NeMo Relay's system-fingerprint entries; role "" stands for the instructions."""
    return [
        {"source": "message", "role": role, "content": content}
        if role
        else {"source": "instructions", "content": content}
        for role, content in sources
    ]


def prefix_fingerprint(blocks: Sequence[BlockSpec]) -> str:
    """``prompt_prefix_fingerprint``: the block keys' JSON, one per line, hashed."""
    lines = "\n".join(
        f"[{_json_text(span_id(spec, index))}{spec.key_tail}" for index, spec in enumerate(blocks)
    )
    return sha256_hex(lines)
