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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import rfc8785

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
    return "sha256:" + hashlib.sha256(rfc8785.dumps(document)).hexdigest()


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
    return sorted(stripped, key=rfc8785.dumps)


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
    wanted = {name.lower() for name in allowlist}
    kept = {name.lower(): value for name, value in headers.items() if name.lower() in wanted}
    for name, value in headers.items():
        if name.lower() == DISPATCH_HEADER:
            kept[DISPATCH_HEADER] = value
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


class LlmKeyer:
    """Derives LLM keys for one configuration, remembering recent requests' keys.

    Deriving a key canonicalizes the whole request; repeated requests (the
    ones a cache hits) are found in a bounded memo keyed by a C-speed JSON dump,
    which is injective on JSON values, so a hit costs one dump, not a derivation.
    """

    def __init__(self, config: ResponseCacheConfig, memo_entries: int = 1024) -> None:
        self.config = config
        self._allowlist = sorted({name.lower() for name in config.header_allowlist})
        self._memo: LruCache[str, KeyOutcome] = LruCache(memo_entries)

    def key(self, provider: str, headers: Mapping[str, Any], body: Any) -> KeyOutcome:
        kept = key_headers(headers, self._allowlist) if headers else _NO_HEADERS
        try:
            memo_key = _dump((provider, kept, body))
        except (TypeError, ValueError):
            return Bypass("canonicalization_failed")
        found = self._memo.get(memo_key)
        if found is None:
            found = self.derive(provider, headers, body)
            if len(memo_key) <= 65_536:
                self._memo.put(memo_key, found)
        return found

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
            "headers": key_headers(headers, self._allowlist),
        }
        if self._allowlist:
            document["header_allowlist"] = self._allowlist
        if unrepresentable(document):
            return Bypass("unrepresentable_number")
        try:
            return fingerprint(document)
        except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError):
            return Bypass("canonicalization_failed")


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
    if unrepresentable(args):
        return Bypass("unrepresentable_number")
    document = {
        "v": SCHEMA_VERSION,
        "surface": "tool_result",
        "ns": namespace,
        "tool": tool,
        "tool_version": tool_version,
        "arg_skip": skip,
        "cache_errors": cache_errors,
        "args": args,
    }
    try:
        return fingerprint(document)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError):
        return Bypass("canonicalization_failed")
