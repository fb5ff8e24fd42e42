"""Where the bridge's subscriber and intercepts are registered: globally, or by a plugin.

``RelayBridge.attach`` registers them in NeMo Relay's process-wide registries
(``GlobalRegistrar``) and removes them on ``detach``. The plugin-host component
registers them through the ``PluginContext`` NeMo Relay hands its ``register``
(``ContextRegistrar``), and NeMo Relay removes them when the activation closes.
Both go through one protocol, so what is registered, and when, is decided in
one place (``RelayBridge.register``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any, Protocol

Callback = Callable[..., Any]

KINDS = (
    "subscriber",
    "tool_execution",
    "llm_request",
    "llm_execution",
    "llm_stream_execution",
)


class Registrar(Protocol):
    """Registers one callback of a kind under a name (and a priority, for intercepts)."""

    def subscriber(self, name: str, callback: Callback) -> None: ...

    def tool_execution(self, name: str, priority: int, callback: Callback) -> None: ...

    def llm_request(
        self, name: str, priority: int, break_chain: bool, callback: Callback
    ) -> None: ...

    def llm_execution(self, name: str, priority: int, callback: Callback) -> None: ...

    def llm_stream_execution(self, name: str, priority: int, callback: Callback) -> None: ...

    def deregister(self, kind: str, name: str) -> None:
        """Remove one registration (a no-op where NeMo Relay owns the registrations)."""
        ...

    def deregister_all(self) -> None:
        """Remove every registration made through this registrar that is still in place."""
        ...


class GlobalRegistrar:
    """NeMo Relay's process-wide registries; remembers what it registered, to remove it."""

    def __init__(self, relay: Any) -> None:
        self.relay = relay
        self.registered: list[tuple[str, str]] = []

    def subscriber(self, name: str, callback: Callback) -> None:
        self.relay.subscribers.register(name, callback)
        self.registered.append(("subscriber", name))

    def tool_execution(self, name: str, priority: int, callback: Callback) -> None:
        self.relay.intercepts.register_tool_execution(name, priority, callback)
        self.registered.append(("tool_execution", name))

    def llm_request(self, name: str, priority: int, break_chain: bool, callback: Callback) -> None:
        self.relay.intercepts.register_llm_request(name, priority, break_chain, callback)
        self.registered.append(("llm_request", name))

    def llm_execution(self, name: str, priority: int, callback: Callback) -> None:
        self.relay.intercepts.register_llm_execution(name, priority, callback)
        self.registered.append(("llm_execution", name))

    def llm_stream_execution(self, name: str, priority: int, callback: Callback) -> None:
        self.relay.intercepts.register_llm_stream_execution(name, priority, callback)
        self.registered.append(("llm_stream_execution", name))

    def deregister(self, kind: str, name: str) -> None:
        if (kind, name) not in self.registered:
            return
        self.registered.remove((kind, name))
        if kind == "subscriber":
            self.relay.subscribers.deregister(name)
        else:
            getattr(self.relay.intercepts, f"deregister_{kind}")(name)

    def deregister_all(self) -> None:
        for kind, name in reversed(list(self.registered)):
            self.deregister(kind, name)


class Lifeline:
    """Held by every callback a plugin component registered, and by nothing else.

    NeMo Relay's plugin API has no deactivation hook: when an activation
    closes (or its initialization rolls back) NeMo Relay drops the callbacks
    it was given, which frees this object, and ``weakref.finalize`` on it
    runs the component's shutdown.
    """

    __slots__ = ("__weakref__",)


class ContextRegistrar:
    """A plugin's ``PluginContext``: registration names are scoped by NeMo Relay, which
    removes every registration itself when the activation closes.

    Each callback is wrapped so that it holds ``lifeline``; asynchronous ones
    also note the event loop they first run on (``loop``: the agent's), on
    which their resources (a Redis client) must be closed.
    """

    def __init__(self, context: Any, lifeline: Lifeline) -> None:
        self.context = context
        self.registered: list[tuple[str, str]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lifeline: Lifeline | None = lifeline

    def release_lifeline(self) -> None:
        """Drop our own reference: from now on only NeMo Relay's callbacks hold it."""
        self._lifeline = None

    def subscriber(self, name: str, callback: Callback) -> None:
        self.context.register_subscriber(name, self._held(callback))
        self.registered.append(("subscriber", name))

    def tool_execution(self, name: str, priority: int, callback: Callback) -> None:
        self.context.register_tool_execution_intercept(name, priority, self._held(callback))
        self.registered.append(("tool_execution", name))

    def llm_request(self, name: str, priority: int, break_chain: bool, callback: Callback) -> None:
        self.context.register_llm_request_intercept(
            name, priority, break_chain, self._held(callback)
        )
        self.registered.append(("llm_request", name))

    def llm_execution(self, name: str, priority: int, callback: Callback) -> None:
        self.context.register_llm_execution_intercept(name, priority, self._held(callback))
        self.registered.append(("llm_execution", name))

    def llm_stream_execution(self, name: str, priority: int, callback: Callback) -> None:
        self.context.register_llm_stream_execution_intercept(name, priority, self._held(callback))
        self.registered.append(("llm_stream_execution", name))

    def deregister(self, kind: str, name: str) -> None:
        """NeMo Relay removes a plugin's registrations when its activation closes."""

    def deregister_all(self) -> None:
        """As ``deregister``: nothing to do here (a failed ``register`` is rolled back)."""

    def _held(self, callback: Callback) -> Callback:
        lifeline = self._lifeline
        if lifeline is None:
            raise RuntimeError("the component's registrations are sealed")
        if inspect.iscoroutinefunction(callback):

            @functools.wraps(callback)
            async def noting_loop(*args: Any) -> Any:
                if self.loop is None:
                    self.loop = asyncio.get_running_loop()
                _ = lifeline
                return await callback(*args)

            return noting_loop

        @functools.wraps(callback)
        def held(*args: Any) -> Any:
            _ = lifeline
            return callback(*args)

        return held
