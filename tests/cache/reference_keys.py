"""Cache keys as ``adaptive/cache/keys.py`` derived them before its fast paths: the oracle.

This is the pre-optimization derivation, kept verbatim in behaviour: every
text through the pure-Python ``rfc8785`` package, ``unrepresentable`` asked
first, and ``LlmKeyer.key``'s old contract (a request a plain JSON dump
refuses bypasses as ``canonicalization_failed``) without its memo. The request
decoding it reuses (``is_plain_openai_chat``, ``decode_openai_chat``,
``renumber_tool_call_ids``, ``bypass_reason``...) is unchanged code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import rfc8785

from adaptive.cache import keys
from adaptive.cache.config import KeyStrategy, ResponseCacheConfig
from adaptive.cache.keys import Bypass, KeyOutcome

_dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def fingerprint(document: Any) -> str:
    return "sha256:" + hashlib.sha256(rfc8785.dumps(document)).hexdigest()


def key_headers(headers: Mapping[str, Any], allowlist: list[str]) -> dict[str, Any]:
    wanted = {name.lower() for name in allowlist}
    kept = {name.lower(): value for name, value in headers.items() if name.lower() in wanted}
    for name, value in headers.items():
        if name.lower() == keys.DISPATCH_HEADER:
            kept[keys.DISPATCH_HEADER] = value
    return kept


def key_body(provider: str, body: Any, strategy: KeyStrategy) -> tuple[Any, str | None]:
    codec: str | None = None
    if isinstance(body, dict) and keys.is_plain_openai_chat(provider, body):
        body, codec = keys.decode_openai_chat(body), "openai_chat"
    if not isinstance(body, dict):
        return body, codec
    trimmed = {name: value for name, value in body.items() if name not in keys.SKIP_KEYS}
    trimmed = keys.renumber_tool_call_ids(trimmed)
    if strategy is KeyStrategy.LOGICAL and "tools" in trimmed:
        tools = trimmed["tools"]
        if isinstance(tools, list):
            stripped = [keys._without_descriptions(tool) for tool in tools]
            trimmed["tools"] = sorted(stripped, key=rfc8785.dumps)
    return trimmed, codec


def derive(
    config: ResponseCacheConfig, provider: str, headers: Mapping[str, Any], body: Any
) -> KeyOutcome:
    reason = keys.bypass_reason(body, config)
    if reason is not None:
        return Bypass(reason)
    allowlist = sorted({name.lower() for name in config.header_allowlist})
    strategy = config.strategy
    normalized, codec = key_body(provider, body, strategy)
    cap = keys.token_cap_spelling(body) if codec == "openai_chat" else None
    document: dict[str, Any] = {
        "v": keys.SCHEMA_VERSION,
        "ns": config.namespace,
        "provider": provider,
        "strategy": strategy.value,
        "codec": codec,
        "openai_chat_token_cap": cap,
        "body": normalized,
        "headers": key_headers(headers, allowlist),
    }
    if allowlist:
        document["header_allowlist"] = allowlist
    if keys.unrepresentable(document):
        return Bypass("unrepresentable_number")
    try:
        return fingerprint(document)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError):
        return Bypass("canonicalization_failed")


def key(
    config: ResponseCacheConfig, provider: str, headers: Mapping[str, Any], body: Any
) -> KeyOutcome:
    """What ``LlmKeyer.key`` answered, memo aside."""
    allowlist = sorted({name.lower() for name in config.header_allowlist})
    kept = key_headers(headers, allowlist) if headers else {}
    try:
        _dump((provider, kept, body))
    except (TypeError, ValueError):
        return Bypass("canonicalization_failed")
    return derive(config, provider, headers, body)


def tool_key(
    *,
    namespace: str,
    tool: str,
    tool_version: str | None,
    args: Any,
    arg_skip: list[str],
    cache_errors: bool,
) -> KeyOutcome:
    skip = sorted(set(arg_skip))
    if skip and isinstance(args, dict):
        args = {name: value for name, value in args.items() if name not in skip}
    if keys.unrepresentable(args):
        return Bypass("unrepresentable_number")
    document = {
        "v": keys.SCHEMA_VERSION,
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
