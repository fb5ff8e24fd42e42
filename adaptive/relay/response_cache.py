"""Registers a ``ResponseCache`` on NeMo Relay, where its native response cache would sit.

Three execution intercepts, under the names ``{name}_llm_execution``,
``{name}_llm_stream_execution`` and ``{name}_tool_execution``: LLM ones at
``response_cache.priority`` and the tool one at ``response_cache.tools.priority``
(both 150 by default in 0.10.4; lower runs first, so guardrails at 100 run
before the cache, and on a hit every later intercept and the provider are
skipped). The tool intercept is registered only when ``tools.enabled``.
Every decision is emitted as NeMo Relay's ``response_cache`` mark:
``data = {"status": hit|miss|bypass}`` and ``nemo_relay.response_cache.*``
metadata, plus ours under ``adaptive.response_cache.*``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from adaptive.cache.facade import ResponseCache, ToolOutcome
from adaptive.cache.savings import MARK_NAME, CacheDecision
from adaptive.errors import ConfigError
from adaptive.relay.registrar import GlobalRegistrar, Registrar

DEFAULT_NAME = "adaptive_response_cache"


def _import_relay() -> Any:
    try:
        import nemo_relay
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "registering the response cache needs the nemo-relay package: "
            "pip install 'adaptive-runtime[relay]'"
        ) from error
    return nemo_relay


def emit_mark(decision: CacheDecision) -> None:
    """The ``response_cache`` mark, under the current scope (never fails the call)."""
    relay = _import_relay()
    try:
        relay.scope.event(MARK_NAME, data=decision.mark_data(), metadata=decision.mark_metadata())
    except Exception as error:  # a mark must never fail the call it describes
        import logging

        logging.getLogger(__name__).debug("response_cache mark not emitted: %s", error)


@dataclass
class Registration:
    """What ``register_response_cache`` registered; ``deregister()`` removes all of it."""

    cache: ResponseCache
    registrar: Registrar
    names: dict[str, str] = field(default_factory=dict)
    """Intercept kind (``llm_execution``, ...) to its registered name."""
    listener: Callable[[CacheDecision], None] | None = None

    def deregister(self) -> None:
        for kind, name in self.names.items():
            self.registrar.deregister(kind, name)
        self.names.clear()
        if self.listener is not None:
            self.cache.remove_listener(self.listener)
            self.listener = None


def register_response_cache(
    cache: ResponseCache,
    *,
    name: str = DEFAULT_NAME,
    emit_marks: bool = True,
    registrar: Registrar | None = None,
) -> Registration:
    """Put ``cache`` in front of every managed LLM call, stream and classified tool call.

    ``registrar`` is where the intercepts go: NeMo Relay's process-wide
    registries by default, or a plugin component's ``PluginContext``.
    """
    relay = _import_relay()
    registrar = registrar if registrar is not None else GlobalRegistrar(relay)
    registration = Registration(cache, registrar)
    if emit_marks:
        registration.listener = emit_mark
        cache.add_listener(emit_mark)
    priority = cache.config.priority
    names = registration.names
    names["llm_execution"] = f"{name}_llm_execution"
    registrar.llm_execution(names["llm_execution"], priority, _llm(cache))
    names["llm_stream_execution"] = f"{name}_llm_stream_execution"
    registrar.llm_stream_execution(names["llm_stream_execution"], priority, _llm_stream(cache))
    if cache.tools is not None:
        names["tool_execution"] = f"{name}_tool_execution"
        registrar.tool_execution(names["tool_execution"], cache.tools.priority, _tool(cache, relay))
    return registration


def _llm(cache: ResponseCache) -> Callable[..., Awaitable[Any]]:
    async def intercept(provider: str, request: Any, context: Any, next_call: Any) -> Any:
        async def call() -> Any:
            return await next_call(request)

        return await cache.call_llm(provider, request.headers, request.content, call)

    return intercept


def _llm_stream(cache: ResponseCache) -> Callable[..., Awaitable[AsyncIterator[Any]]]:
    async def intercept(
        provider: str, request: Any, context: Any, next_call: Any
    ) -> AsyncIterator[Any]:
        async def call() -> AsyncIterator[Any]:
            stream: AsyncIterator[Any] = await next_call(request)
            return stream

        return await cache.stream_llm(provider, request.headers, request.content, call)

    return intercept


def _tool(cache: ResponseCache, relay: Any) -> Callable[..., Awaitable[Any]]:
    async def intercept(context: Any, next_call: Any) -> Any:
        args = context.args

        async def call() -> ToolOutcome:
            result = await next_call(args)
            return ToolOutcome(result.result, result.annotation)

        outcome = await cache.call_tool(context.tool_name, args, call)
        return relay.ToolExecutionInterceptOutcome(outcome.result, annotation=outcome.annotation)

    return intercept
