"""The ACG learning key: which requests share one observation window.

Requests of one prompt family (same model, system prompt, tools and output
contract) must land in one window even though every turn adds messages, so
the key is built from that fixed scaffold only. A request without any
scaffold has nothing stable to group by, so its first conversational message
seeds the key instead. Ported from NeMo Relay's ``acg_profile``.
"""

from __future__ import annotations

from typing import Any

from adaptive.acg import annotated_request as ar
from adaptive.acg.canonical import canonical_json, sha256_hex
from adaptive.acg.errors import CanonicalizationError, PromptIRError
from adaptive.acg.serde_text import serde_json_text, serde_struct_text

_SHORT_HASH_LENGTH = 16
_STABLE_SCAFFOLD_SEED = "stable-scaffold"
_NO_SYSTEM = "no-system"
_NO_TOOLS = "no-tools"
_TOOLS_UNAVAILABLE = "tools-unavailable"
_NO_SEED = "no-seed"


def derive_learning_key(agent_id: str, annotated_request: dict[str, Any]) -> str:
    """``{agent}::model=…::seed=…::system=…::tools=…[::response_format=…]``.

    Raises ``PromptIRError`` for a request NeMo Relay could not have decoded.
    """
    try:
        return _derive(agent_id, annotated_request)
    except (CanonicalizationError, UnicodeEncodeError) as error:
        raise PromptIRError(f"cannot derive a learning key: {error}") from error


def _derive(agent_id: str, annotated_request: dict[str, Any]) -> str:
    if not isinstance(annotated_request, dict):
        raise PromptIRError("annotated request must be a JSON object")
    system = _system_fingerprint(annotated_request)
    tools = ar.tool_definitions(annotated_request)
    tool_fingerprint = _tool_fingerprint(tools)
    contract = _response_format_fingerprint(annotated_request)
    has_scaffold = system != _NO_SYSTEM or bool(tools) or contract is not None
    if has_scaffold:
        seed = _STABLE_SCAFFOLD_SEED
    else:
        seed = _short(_learning_seed(annotated_request))
        system, tool_fingerprint = _short(system), _short(tool_fingerprint)
    model = ar.model_name(annotated_request)
    model = "unknown" if model is None else model
    key = f"{agent_id}::model={model}::seed={seed}::system={system}::tools={tool_fingerprint}"
    return key if contract is None else f"{key}::response_format={contract}"


def _short(fingerprint: str) -> str:
    """The first 16 characters, as NeMo Relay abbreviates scaffold-free keys."""
    return fingerprint[:_SHORT_HASH_LENGTH]


def _system_fingerprint(request: dict[str, Any]) -> str:
    """Digest of the canonical JSON list of instruction, system and developer contents.

    Hashing a list of tagged entries (not joined text) keeps source, role and
    part boundaries apart: ``"a\\nb"`` as one system message differs from
    ``"a"`` plus ``"b"``.
    """
    entries: list[dict[str, Any]] = []
    instructions = ar.instructions(request)
    if instructions is not None:
        entries.append({"source": "instructions", "content": ar.content_wire(instructions)})
    for message in ar.request_messages(request):
        role = ar.message_role(message)
        if role in ar.SCAFFOLD_ROLES:
            content = ar.message_content(message, f"{role} message")
            entries.append(
                {"source": "message", "role": role.value, "content": ar.content_wire(content)}
            )
    return sha256_hex(canonical_json(entries)) if entries else _NO_SYSTEM


def _tool_fingerprint(tools: list[dict[str, Any]] | None) -> str:
    """Digest of the tools' canonical JSON joined by ``|``."""
    if tools is None:
        return _NO_TOOLS
    canonical_tools = "|".join(canonical_json(ar.tool_definition_wire(tool)) for tool in tools)
    return sha256_hex(canonical_tools) if canonical_tools else _TOOLS_UNAVAILABLE


def _response_format_fingerprint(request: dict[str, Any]) -> str | None:
    response_format = ar.response_format(request)
    return None if response_format is None else sha256_hex(canonical_json(response_format))


def _learning_seed(request: dict[str, Any]) -> str:
    """Fingerprint of the first non-scaffold message, tagged by its kind."""
    for message in ar.request_messages(request):
        role = ar.message_role(message)
        if role not in ar.SCAFFOLD_ROLES:
            return _message_seed(role, message)
    return _NO_SEED


def _message_seed(role: ar.MessageRole, message: dict[str, Any]) -> str:
    where = f"{role} message"
    match role:
        case ar.MessageRole.USER | ar.MessageRole.TOOL:
            return f"{role.value}:{sha256_hex(_seed_text(ar.message_content(message, where)))}"
        case ar.MessageRole.ASSISTANT:
            content = ar.optional_message_content(message, where)
            if content is None:
                return "assistant:no-content"
            return f"assistant:{sha256_hex(_seed_text(content))}"
        case ar.MessageRole.FUNCTION:
            payload = {
                "name": ar.required_string(message, "name", where),
                "content": ar.optional_string(message, "content", where),
            }
            return f"function:{_hash_json(payload)}"
        case ar.MessageRole.TOOL_CALL:
            wire = ar.item_message_wire(message)
            return f"tool-call:{_hash_json({'name': wire['name'], 'arguments': wire['arguments']})}"
        case ar.MessageRole.TOOL_RESULT:
            output = ar.item_message_wire(message)["output"]
            return f"tool-result:{sha256_hex(serde_json_text(output))}"
        case _:
            wire = ar.item_message_wire(message)
            native = {"provider": wire["provider"], "kind": wire["kind"], "value": wire["value"]}
            return f"native:{_hash_json(native)}"


def _hash_json(value: Any) -> str:
    """Digest of canonical JSON, falling back to plain serde text like NeMo Relay."""
    try:
        text = canonical_json(value)
    except CanonicalizationError:
        text = serde_json_text(value)
    return sha256_hex(text)


def _seed_text(content: ar.MessageContent) -> str:
    """Every part contributes, images as ``[image:{detail}:{url digest}]``."""
    if isinstance(content, str):
        return content
    return "\n".join(_seed_part_text(part) for part in content)


def _seed_part_text(part: dict[str, Any]) -> str:
    part_type = ar.content_part_type(part, "content")
    if part_type is ar.PartType.TEXT:
        return str(part["text"])
    if part_type is ar.PartType.REFUSAL:
        return str(part["refusal"])
    if part_type is ar.PartType.IMAGE_URL:
        url, detail = ar.image_url_parts(part)
        return f"[image:{'none' if detail is None else detail}:{sha256_hex(url)}]"
    return serde_struct_text(ar.content_part_fields(part))
