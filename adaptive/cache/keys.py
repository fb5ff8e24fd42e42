"""Cache keys: NeMo Relay 0.10.4's key documents, fingerprinted the same way.

An LLM key is ``sha256:`` + SHA-256 of the RFC 8785 text of::

    {"v": 1, "ns": namespace, "provider": provider, "strategy": key_strategy,
     "codec": "openai_chat" | null, "openai_chat_token_cap": ... | null,
     "body": body, "headers": {allowlisted, lowercased},
     "header_allowlist": [sorted, lowercased]          # only when non-empty}

``body`` is the request decoded to NeMo Relay's normalized form when the
request is an OpenAI Chat request this module can decode exactly as NeMo
Relay's codec does (checked against live 0.10.4 runs), else the raw body
(``codec`` null) -- which only costs a miss against NeMo Relay's entries,
never a wrong hit. Noise fields (``stream``, ``user``, ``metadata``,
``store``) are dropped and tool-call ids renumbered in both. The ``logical``
strategy keys tools on their interface: descriptions dropped, order ignored.

A tool key is the same fingerprint of ``{"v": 1, "surface": "tool_result",
"ns", "tool", "tool_version", "arg_skip", "cache_errors", "args"}``.
"""

from __future__ import annotations

import hashlib
import json
import marshal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import rfc8785

from adaptive.acg import fast_canonical as canonical
from adaptive.cache.config import KeyStrategy, ResponseCacheConfig
from adaptive.storage.lru import LruCache

SCHEMA_VERSION = 1
SKIP_KEYS = ("stream", "user", "metadata", "store")
DISPATCH_HEADER = "x-nemo-relay-internal-dispatch-backend"
MAX_EXACT_INT = 2**53
ANTHROPIC_HINTS = frozenset({"anthropic", "anthropic.messages"})

# OpenAI Chat request fields, by where NeMo Relay's codec puts them (verified live).
_PARAM_FIELDS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop")
_TOP_LEVEL_FIELDS = ("model", "service_tier", "parallel_tool_calls", "top_logprobs", *SKIP_KEYS)
_API_SPECIFIC_FIELDS = frozenset(
    {"frequency_penalty", "presence_penalty", "n", "seed", "response_format", "logprobs",
     "reasoning_effort"}
)  # fmt: skip
_CODEC_OWNED_FIELDS = frozenset(
    {"api_specific", "params", "extra", "instructions", "include", "reasoning", "truncation",
     "max_output_tokens", "max_tool_calls", "previous_response_id", "input", "system",
     "contents", "prompt", "conversation", "container", "functions", "function_call", "audio",
     "logit_bias", "modalities", "moderation", "prediction", "prompt_cache_key",
     "prompt_cache_options", "prompt_cache_retention", "safety_identifier", "stream_options",
     "verbosity", "web_search_options", "compartmentId", "servingMode", "chatRequest",
     "generationConfig", "systemInstruction"}
)  # fmt: skip
"""Fields whose decoding this module does not reproduce: their requests key on the raw body."""
_MESSAGE_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_TOOL_CHOICES = frozenset({"auto", "none", "required"})


@dataclass(frozen=True, slots=True)
class Bypass:
    """The request must not be cached; ``reason`` is NeMo Relay's mark reason."""

    reason: str


KeyOutcome = str | Bypass
"""A ``sha256:…`` key, or why there is none."""


def fingerprint(document: Any) -> str:
    """``sha256:`` + hex SHA-256 of the RFC 8785 text (raises on non-JSON input)."""
    return "sha256:" + hashlib.sha256(canonical.dumps(document)).hexdigest()


def document_key(document: Any) -> KeyOutcome:
    """The fingerprint of a key document, or why it has none.

    The C-speed text comes first: ``canonical.ready`` only vouches for documents
    whose numbers are all within 2**53, so ``unrepresentable`` only needs
    asking (it walks the whole document) when the exact path has to run.
    """
    text = canonical.fast_dumps(document)
    if text is None:
        try:
            if unrepresentable(document):
                return Bypass("unrepresentable_number")
            text = rfc8785.dumps(document)
        except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError):
            return Bypass("canonicalization_failed")
    return "sha256:" + hashlib.sha256(text).hexdigest()


def unrepresentable(value: Any) -> bool:
    """An integer beyond ±2**53: RFC 8785 writes it as a double, so two could share a key."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > MAX_EXACT_INT
    if isinstance(value, float):
        return abs(value) > MAX_EXACT_INT
    if isinstance(value, dict):
        return any(unrepresentable(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(unrepresentable(item) for item in value)
    return False


# -- request gates, on the raw body --------------------------------------------------------


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def request_temperature(body: Mapping[str, Any]) -> float | None:
    value = body.get("temperature")
    if _is_number(value):
        return float(value)
    params = body.get("params")
    nested = params.get("temperature") if isinstance(params, dict) else None
    return float(nested) if _is_number(nested) else None


def stateful_reason(body: Mapping[str, Any]) -> str | None:
    """Requests whose answer depends on server-side state the key cannot see."""
    store = body.get("store", None)
    if "store" in body and store is not False and store is not None:
        return "stateful_store"
    if "previous_response_id" in body:
        return "stateful_previous_response_id"
    if "conversation" in body or "container" in body:
        return "stateful_conversation"
    responses = "input" in body or "instructions" in body or isinstance(body.get("prompt"), dict)
    return "stateful_store" if responses and store is not False else None


def bypass_reason(body: Any, config: ResponseCacheConfig) -> str | None:
    if body is None:
        return "unparseable_body"
    if isinstance(body, dict):
        reason = stateful_reason(body)
        if reason is not None:
            return reason
    if config.cache_nondeterministic:
        return None
    temperature = request_temperature(body) if isinstance(body, dict) else None
    return "nondeterministic_temperature" if temperature is None or temperature > 0 else None


# -- the OpenAI Chat decode NeMo Relay keys on ----------------------------------------------


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_u64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _plain_tool_call(call: Any) -> bool:
    if not isinstance(call, dict) or set(call) != {"id", "type", "function"}:
        return False
    function = call["function"]
    return (
        isinstance(call["id"], str)
        and call["type"] == "function"
        and isinstance(function, dict)
        and set(function) == {"name", "arguments"}
        and isinstance(function["name"], str)
        and isinstance(function["arguments"], str)
    )


def _plain_message(message: Any) -> bool:
    """A message NeMo Relay's Chat codec decodes back to the same JSON."""
    if not isinstance(message, dict) or not set(message) <= _MESSAGE_FIELDS:
        return False
    role = message.get("role")
    if role not in _ROLES or not isinstance(message.get("name", ""), str):
        return False
    calls = message.get("tool_calls")
    if calls is not None and (role != "assistant" or not isinstance(calls, list) or not calls):
        return False
    if calls is not None and not all(_plain_tool_call(call) for call in calls):
        return False
    if "tool_call_id" in message and (
        role != "tool" or not isinstance(message["tool_call_id"], str)
    ):
        return False
    if "content" not in message:
        return calls is not None
    content = message["content"]
    return isinstance(content, str) or (
        isinstance(content, list) and bool(content) and all(_text_part(p) for p in content)
    )


def _text_part(part: Any) -> bool:
    return (
        isinstance(part, dict)
        and set(part) == {"type", "text"}
        and part["type"] == "text"
        and isinstance(part["text"], str)
    )


def _plain_tool(tool: Any) -> bool:
    if (
        not isinstance(tool, dict)
        or set(tool) != {"type", "function"}
        or tool["type"] != "function"
    ):
        return False
    function = tool["function"]
    return (
        isinstance(function, dict)
        and "name" in function
        and set(function) <= {"name", "description", "parameters", "strict"}
        and isinstance(function["name"], str)
        and isinstance(function.get("strict", False), bool)
        and isinstance(function.get("description", ""), str)
        and isinstance(function.get("parameters", {}), dict)
    )


def _plain_tool_choice(choice: Any) -> bool:
    if isinstance(choice, str):
        return choice in _TOOL_CHOICES
    return (
        isinstance(choice, dict)
        and set(choice) == {"type", "function"}
        and choice["type"] == "function"
        and isinstance(choice["function"], dict)
        and set(choice["function"]) == {"name"}
        and isinstance(choice["function"]["name"], str)
    )


def _decodable_fields(body: Mapping[str, Any]) -> bool:
    if any(
        body.get(name, 0) is None
        for name in (
            *_PARAM_FIELDS,
            *_TOP_LEVEL_FIELDS,
            *_API_SPECIFIC_FIELDS,
            "tools",
            "tool_choice",
        )
    ):
        return False
    if any(name in _CODEC_OWNED_FIELDS for name in body):
        return False
    if not isinstance(body.get("model", ""), str) or not isinstance(
        body.get("service_tier", ""), str
    ):
        return False
    if not all(_is_number(body[name]) for name in ("temperature", "top_p") if name in body):
        return False
    caps = [name for name in ("max_tokens", "max_completion_tokens") if name in body]
    if len(caps) > 1 or not all(
        _is_u64(body[name]) for name in (*caps, "top_logprobs") if name in body
    ):
        return False
    if "stop" in body and not _is_str_list(body["stop"]):
        return False
    return isinstance(body.get("parallel_tool_calls", True), bool)


def _decodable_api_specific(body: Mapping[str, Any]) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "frequency_penalty": _is_number,
        "presence_penalty": _is_number,
        "n": _is_u64,
        "seed": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "response_format": lambda v: isinstance(v, dict),
        "logprobs": lambda v: isinstance(v, bool),
        "reasoning_effort": lambda v: isinstance(v, str),
    }
    return all(checks[name](body[name]) for name in _API_SPECIFIC_FIELDS if name in body)


def is_plain_openai_chat(provider: str, body: Mapping[str, Any]) -> bool:
    """An OpenAI Chat request every part of which this module decodes as NeMo Relay does."""
    messages = body.get("messages")
    if provider in ANTHROPIC_HINTS or not isinstance(messages, list) or not messages:
        return False
    if not (_decodable_fields(body) and _decodable_api_specific(body)):
        return False
    if not all(_plain_message(message) for message in messages):
        return False
    tools = body.get("tools")
    if tools is not None and not (isinstance(tools, list) and all(_plain_tool(t) for t in tools)):
        return False
    return "tool_choice" not in body or _plain_tool_choice(body["tool_choice"])


def decode_openai_chat(body: Mapping[str, Any]) -> dict[str, Any]:
    """NeMo Relay's normalized ``AnnotatedLlmRequest`` JSON of a plain Chat request."""
    api_specific: dict[str, Any] = {"api": "openai_chat"}
    params: dict[str, Any] = {}
    decoded: dict[str, Any] = {"api_specific": api_specific}
    for name, value in body.items():
        if name in _API_SPECIFIC_FIELDS:
            api_specific[name] = value
        elif name in _PARAM_FIELDS:
            params["max_tokens" if name == "max_completion_tokens" else name] = value
        else:  # messages, tools, tool_choice, top-level fields and unknown (flattened) extras
            decoded[name] = value
    if params:
        decoded["params"] = params
    return decoded


def token_cap_spelling(body: Mapping[str, Any]) -> str | None:
    """Which Chat token cap the caller used: providers treat the two differently."""
    for name in ("max_tokens", "max_completion_tokens"):
        if name in body:
            return name
    return None


def renumber_tool_call_ids(body: dict[str, Any]) -> dict[str, Any]:
    """Tool-call ids become ``tcid_0``, ``tcid_1``... in first-seen order (a new body)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    mapping: dict[str, str] = {}

    def stable(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return mapping.setdefault(value, f"tcid_{len(mapping)}")

    renumbered: list[Any] = []
    for message in messages:
        if not isinstance(message, dict):
            renumbered.append(message)
            continue
        copy = dict(message)
        calls = copy.get("tool_calls")
        if isinstance(calls, list):
            copy["tool_calls"] = [
                {**call, "id": stable(call["id"])} if isinstance(call, dict) and "id" in call
                else call
                for call in calls
            ]  # fmt: skip
        if "tool_call_id" in copy:
            copy["tool_call_id"] = stable(copy["tool_call_id"])
        renumbered.append(copy)
    return {**body, "messages": renumbered}


def structural_tools(tools: Any) -> Any:
    """The ``logical`` strategy's tool set: every ``description`` dropped, sorted canonically."""
    if not isinstance(tools, list):
        return tools
    stripped = [_without_descriptions(tool) for tool in tools]
    try:
        return sorted(stripped, key=canonical.dumps)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError):
        # A tool RFC 8785 cannot write leaves the whole key document unwritable: the
        # derivation then bypasses, with its reason (this used to raise out of the call).
        return stripped


def _without_descriptions(value: Any, *, property_map: bool = False) -> Any:
    """Drops schema ``description`` annotations; a *parameter* named ``description`` stays."""
    if isinstance(value, dict):
        if property_map:
            return {name: _without_descriptions(schema) for name, schema in value.items()}
        return {
            k: _without_descriptions(v, property_map=k == "properties")
            for k, v in value.items()
            if k != "description"
        }
    if isinstance(value, list):
        return [_without_descriptions(item) for item in value]
    return value


def key_headers(headers: Mapping[str, Any], allowlist: list[str]) -> dict[str, Any]:
    return kept_headers(headers, frozenset(name.lower() for name in allowlist))


def kept_headers(headers: Mapping[str, Any], wanted: frozenset[str]) -> dict[str, Any]:
    """The allowlisted headers (names lowercased, ``wanted`` is) and the dispatch header.

    One pass, the last spelling of a name winning, as two passes did before.
    """
    kept: dict[str, Any] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in wanted or lowered == DISPATCH_HEADER:
            kept[lowered] = value
    return kept


def key_body(provider: str, body: Any, strategy: KeyStrategy) -> tuple[Any, str | None]:
    """The body NeMo Relay fingerprints, and the codec that produced it (``None``: raw)."""
    codec: str | None = None
    if isinstance(body, dict) and is_plain_openai_chat(provider, body):
        body, codec = decode_openai_chat(body), "openai_chat"
    if not isinstance(body, dict):
        return body, codec
    trimmed = {name: value for name, value in body.items() if name not in SKIP_KEYS}
    trimmed = renumber_tool_call_ids(trimmed)
    if strategy is KeyStrategy.LOGICAL and "tools" in trimmed:
        trimmed["tools"] = structural_tools(trimmed["tools"])
    return trimmed, codec


MEMO_MAX_BYTES = 65_536
"""Requests whose memo key is longer are derived every time (bounds the memo's memory)."""
_MEMO_FORMAT = 2
"""``marshal`` format 2: no back-references, no interning flags (see ``LlmKeyer``)."""


class LlmKeyer:
    """Derives LLM keys for one configuration, remembering recent requests' keys.

    Deriving a key decodes and canonicalizes the whole request; repeated
    requests (the ones a cache hits) are found in a bounded memo instead. The
    memo is keyed by ``marshal`` format 2 of ``(provider, kept headers, body)``:
    C speed (about four times faster than a JSON dump), and exact where ``==``
    is not: it writes only exact builtin types, each with its own type code
    (``True``, ``1`` and ``1.0`` differ; so do ``0.0`` and ``-0.0``, tuples and
    lists, ``{1: x}`` and ``{"1": x}``), floats as their 8 bytes, strings as
    their UTF-8, dicts in insertion order; anything else (a ``str`` subclass,
    an object) makes it raise. Format 2 predates back-references and interning
    flags, so the bytes depend on the value alone, not on which objects happen
    to be shared: equal bytes decode to one value, so they have one key, and
    an equal request built or decoded anew finds its entry. A request that
    ``marshal`` refuses is derived every time.
    """

    def __init__(self, config: ResponseCacheConfig, memo_entries: int = 1024) -> None:
        self.config = config
        self._allowlist = sorted({name.lower() for name in config.header_allowlist})
        self._wanted = frozenset(name.lower() for name in self._allowlist)
        self._memo: LruCache[bytes, KeyOutcome] = LruCache(memo_entries)

    @property
    def remembered(self) -> int:
        """How many requests' outcomes the memo holds."""
        return len(self._memo)

    def key(self, provider: str, headers: Mapping[str, Any], body: Any) -> KeyOutcome:
        kept = kept_headers(headers, self._wanted) if headers else _NO_HEADERS
        request = (provider, kept, body)
        try:
            memo_key = marshal.dumps(request, _MEMO_FORMAT)
        except ValueError:  # not plain builtins, or nested too deep
            return self._outcome(request, headers)
        found = self._memo.get(memo_key)
        if found is None:
            found = self._outcome(request, headers)
            if len(memo_key) <= MEMO_MAX_BYTES:
                self._memo.put(memo_key, found)
        return found

    def _outcome(
        self, request: tuple[str, dict[str, Any], Any], headers: Mapping[str, Any]
    ) -> KeyOutcome:
        """``derive``, but a request plain JSON cannot write bypasses, whatever else it is.

        (Before the memo was keyed by ``marshal`` it was keyed by a plain JSON
        dump, whose failure meant ``canonicalization_failed``; the reason stays.)
        """
        if not _json_writable(request):
            return Bypass("canonicalization_failed")
        provider, _, body = request
        return self.derive(provider, headers, body)

    def derive(self, provider: str, headers: Mapping[str, Any], body: Any) -> KeyOutcome:
        reason = bypass_reason(body, self.config)
        if reason is not None:
            return Bypass(reason)
        strategy = self.config.strategy
        normalized, codec = key_body(provider, body, strategy)
        cap = token_cap_spelling(body) if codec == "openai_chat" else None
        document: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "ns": self.config.namespace,
            "provider": provider,
            "strategy": strategy.value,
            "codec": codec,
            "openai_chat_token_cap": cap,
            "body": normalized,
            "headers": kept_headers(headers, self._wanted),
        }
        if self._allowlist:
            document["header_allowlist"] = self._allowlist
        return document_key(document)


def _json_writable(value: Any) -> bool:
    """Whether a plain JSON dump (``_dump``) accepts ``value``; ``ready``'s walk vouches faster."""
    try:
        canonical.ready(value)
        return True
    except (canonical.Unsure, RecursionError):
        pass
    try:
        _dump(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


_NO_HEADERS: dict[str, Any] = {}
_dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def tool_key(
    *,
    namespace: str,
    tool: str,
    tool_version: str | None,
    args: Any,
    arg_skip: list[str],
    cache_errors: bool,
) -> KeyOutcome:
    """The key of one tool call under its resolved policy."""
    skip = sorted(set(arg_skip))
    if skip and isinstance(args, dict):
        args = {name: value for name, value in args.items() if name not in skip}
    document = {  # only ``args`` can hold numbers: document_key's checks are args's
        "v": SCHEMA_VERSION,
        "surface": "tool_result",
        "ns": namespace,
        "tool": tool,
        "tool_version": tool_version,
        "arg_skip": skip,
        "cache_errors": cache_errors,
        "args": args,
    }
    return document_key(document)
