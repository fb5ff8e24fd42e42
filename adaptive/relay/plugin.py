"""Our runtime as a NeMo Relay plugin kind, ``adaptive_runtime``, activated by NeMo Relay.

A ``plugins.toml`` written for NeMo Relay's own ``adaptive`` component works
with ``kind`` changed to ``adaptive_runtime``; its ``[components.config]`` is
read as NeMo Relay reads it (``ConfigSemantics.RELAY``), with our backend
kinds (``sqlite``, ``postgres``, ``tiered``, or a backend URL) besides::

    from adaptive.relay import register_plugin

    register_plugin()  # once, before NeMo Relay initializes its plugins
    async with nemo_relay.plugin.activate({}, "plugins.toml"):
        ...  # the agent

``validate`` returns NeMo Relay's diagnostics (errors block the activation).
``register`` builds the runtime and starts it on a thread of its own: NeMo
Relay calls ``register`` on one of its threads, with no event loop, and an
activation may outlive the agent's loops; that thread's loop owns the
backend, the drain and the learners. The bridge's callbacks are registered
through the ``PluginContext``: the subscriber hands events to that loop, the
intercepts run on the agent's loop and read only the in-process hot cache
(and their own Redis clients, for cluster-wide cohort gates and the response
cache, which are closed on the agent's loop).

Closing the activation (``activation.close()``, leaving ``activate``) makes
NeMo Relay deliver every event to its subscribers and then drop the
callbacks; the component notices (``Lifeline``), hands every delivered event
to the runtime, stores every run, closes the backend and stops its thread,
all before ``close()`` returns. ``await wait_for_idle()`` waits until every
event emitted so far is learned from and stored.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import time
import weakref
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from adaptive.config import (
    PLUGIN_KIND,
    AdaptiveConfig,
    BackendKind,
    BackendSpec,
    ConfigSemantics,
    relay_config,
    validate_table,
)
from adaptive.errors import ConfigError, one_line
from adaptive.relay.registrar import ContextRegistrar, Lifeline

if TYPE_CHECKING:
    from adaptive.intercepts.cohort_gate import CohortGate
    from adaptive.relay.bridge import RelayBridge
    from adaptive.runtime import AdaptiveRuntime

T = TypeVar("T")
logger = logging.getLogger(__name__)

EXIT_SETTLE_S = 0.05
"""How long interpreter exit waits after a component closed (see ``_settle_at_exit``)."""
SHUTDOWN_GRACE_S = 30.0
"""Beyond ``drain.close_timeout_s``: how long closing waits for the runtime's thread."""
AGENT_SIDE_CLOSE_TIMEOUT_S = 5.0


def _import_relay() -> Any:
    try:
        import nemo_relay
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "the adaptive_runtime plugin needs the nemo-relay package: "
            "pip install 'adaptive-runtime[relay]'"
        ) from error
    return nemo_relay


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class RuntimeThread:
    """An event loop on a daemon thread of its own, where the component's runtime lives."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> None:
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``work`` on this loop and wait for it, from any other thread."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    async def run_async(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on this loop and await it from another loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.loop))

    @property
    def current(self) -> bool:
        return threading.current_thread() is self.thread

    def stop(self) -> None:
        """Stop the loop and close it (joined unless called from the loop's own thread)."""
        if not self.thread.is_alive():
            self.loop.close()
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if not self.current:
            self.thread.join()
            self.loop.close()


class ActiveComponent:
    """One activated ``adaptive_runtime`` component: its runtime, bridge and thread."""

    def __init__(self, config: AdaptiveConfig, kind: str, name: str) -> None:
        self.config = config
        self.kind = kind
        self.name = name
        self.thread = RuntimeThread(f"adaptive-{kind}")
        self.runtime: AdaptiveRuntime | None = None
        self.bridge: RelayBridge | None = None
        self.registrar: ContextRegistrar | None = None
        self.gate: CohortGate | None = None
        self.closed = False
        self.close_error: BaseException | None = None
        """Why closing could not store every run (``RunsNotStoredError``), if it could not."""

    def start(self, context: Any) -> bool:
        """Start the runtime and register through ``context``; False when nothing is on."""
        self.thread.start()
        try:
            self.runtime = self.thread.run(self._open())
            self.gate = agent_side_gate(self.config.backend)
            self.runtime.warm_first.gate = self.gate
            from adaptive.relay.bridge import RelayBridge

            self.bridge = RelayBridge(self.runtime, name=self.name)
            lifeline = Lifeline()
            self.registrar = ContextRegistrar(context, lifeline)
            self.bridge.register(self.registrar, self.thread.loop)
        except BaseException:
            self.close()
            raise
        if not self.registrar.registered:
            logger.info("%s component: no section turns anything on; nothing registered", self.kind)
            self.close()
            return False
        weakref.finalize(lifeline, self.close)
        self.registrar.release_lifeline()
        return True

    async def _open(self) -> AdaptiveRuntime:
        from adaptive.runtime import AdaptiveRuntime

        runtime = AdaptiveRuntime(self.config)
        await runtime.start()
        return runtime

    async def wait_for_idle(self) -> None:
        """Wait until every event NeMo Relay emitted so far is learned from and stored.

        Flushes NeMo Relay's subscribers first, so the last run is not missed.
        """
        if self.closed or self.runtime is None:
            return
        await self.thread.run_async(self.runtime.wait_for_idle())

    def close(self) -> None:
        """Store every run, close the backend and the agent-side clients, stop the thread.

        Runs when NeMo Relay dropped our callbacks (the activation closed), on
        whichever thread dropped them. A failure to store is logged and kept
        in ``close_error``: NeMo Relay's ``close()`` has no way to report it.
        """
        if self.closed:
            return
        self.closed = True
        try:
            if self.runtime is not None:
                if self.thread.current:
                    self.thread.loop.create_task(self._shutdown())
                else:
                    timeout = self.config.drain.close_timeout_s + SHUTDOWN_GRACE_S
                    self.thread.run(self._shutdown(), timeout)
        except BaseException as error:  # a finalizer must not raise
            self.close_error = error
            logger.error("%s component: closing failed: %s", self.kind, one_line(error))
        finally:
            self._close_agent_side()
            self.thread.stop()
            _forget(self)
            _CLOSED_AT.append(time.monotonic())

    async def _shutdown(self) -> None:
        runtime = self.runtime
        assert runtime is not None
        if self.bridge is not None:
            await self.bridge.released()
        await runtime.close()

    def _close_agent_side(self) -> None:
        """Close the response cache and the gate's client on the loop that used them."""
        closers: list[Coroutine[Any, Any, None]] = []
        runtime = self.runtime
        if runtime is not None and runtime.response_cache is not None:
            closers.append(runtime.response_cache.close())
        aclose = getattr(self.gate, "aclose", None)
        if aclose is not None:
            closers.append(aclose())
        loop = self.registrar.loop if self.registrar is not None else None
        for closer in closers:
            try:
                _run_on(loop, closer, self.thread)
            except Exception as error:
                logger.debug("%s component: a client was not closed: %s", self.kind, error)


def _run_on(
    loop: asyncio.AbstractEventLoop | None, work: Coroutine[Any, Any, None], thread: RuntimeThread
) -> None:
    """Run ``work`` where its connections live: the agent's loop if it used one, else ours."""
    if loop is None or loop.is_closed():
        thread.run(work, AGENT_SIDE_CLOSE_TIMEOUT_S)  # nothing connected, or gone with its loop
    elif _running_loop() is loop:
        loop.create_task(work)  # closing from inside that very loop: cannot wait for it
    elif loop.is_running():
        asyncio.run_coroutine_threadsafe(work, loop).result(AGENT_SIDE_CLOSE_TIMEOUT_S)
    else:
        work.close()  # a stopped loop: its connections go with it


def agent_side_gate(spec: BackendSpec) -> CohortGate:
    """The cohort gate the intercepts use on the agent's loop.

    Cluster-wide (Redis) when the backend shares gates, with a client of its
    own: the backend's client belongs to the runtime's loop.
    """
    from adaptive.intercepts.cohort_gate import LocalCohortGate, RedisCohortGate

    if spec.kind is BackendKind.TIERED:
        hot = spec.config.get("hot")
        spec = (
            BackendSpec.from_url(hot) if isinstance(hot, str) else BackendSpec.model_validate(hot)
        )
    if spec.kind is not BackendKind.REDIS:
        return LocalCohortGate()
    prefix = spec.config.get("key_prefix")
    return RedisCohortGate.from_url(str(spec.config["url"]), key_prefix=prefix)


class AdaptiveRuntimePlugin:
    """The NeMo Relay plugin (``validate`` and ``register``) for one kind."""

    def __init__(self, kind: str = PLUGIN_KIND, *, name: str = "adaptive") -> None:
        self.kind = kind
        self.name = name
        """Registration name of the subscriber and intercepts (NeMo Relay scopes it)."""

    def validate(self, plugin_config: dict[str, Any]) -> list[dict[str, str]]:
        """NeMo Relay's diagnostics for one component's config; never raises."""
        try:
            report = validate_table(plugin_config, ConfigSemantics.RELAY, component=self.kind)
        except Exception as error:  # a validator bug must read as a diagnostic, not a crash
            return [
                {
                    "level": "error",
                    "code": "adaptive.invalid_plugin_config",
                    "component": self.kind,
                    "message": f"configuration could not be validated: {one_line(error)}",
                }
            ]
        return [diagnostic.as_relay() for diagnostic in report.diagnostics]

    def register(self, plugin_config: dict[str, Any], context: Any) -> None:
        """Start a runtime for this component and register its callbacks with ``context``."""
        existing = _ACTIVE.get(self.kind)
        if existing is not None and not existing.closed:
            raise ConfigError(
                f"a {self.kind} component is already active in this process; NeMo Relay "
                "activates one per process: keep one in plugins.toml"
            )
        config = relay_config(plugin_config, component=self.kind)
        component = ActiveComponent(config, self.kind, self.name)
        if component.start(context):
            _ACTIVE[self.kind] = component


_ACTIVE: dict[str, ActiveComponent] = {}
_CLOSED_AT: list[float] = []


def _settle_at_exit() -> None:
    """Let NeMo Relay finish the call that completed ``activation.close()`` before Python exits.

    NeMo Relay 0.10.4 completes an awaited native call from one of its own
    threads, which then still needs the GIL for a moment (to wake the event
    loop). A program that ends right after ``close()`` can start finalizing
    in that moment, and that thread then takes the process down (SIGSEGV at
    exit: measured about 1 exit in 3 after closing a learning component,
    1 in 40 with a bare Python plugin). Sleeping here releases the GIL.
    """
    if _CLOSED_AT and time.monotonic() - _CLOSED_AT[-1] < 1.0:
        time.sleep(EXIT_SETTLE_S)


atexit.register(_settle_at_exit)
_PLUGINS: dict[str, AdaptiveRuntimePlugin] = {}
_LOCK = threading.Lock()


def _forget(component: ActiveComponent) -> None:
    if _ACTIVE.get(component.kind) is component:
        del _ACTIVE[component.kind]


def register_plugin(kind: str = PLUGIN_KIND) -> AdaptiveRuntimePlugin:
    """Make ``kind`` (``adaptive_runtime``) a NeMo Relay plugin kind; calling it again is a no-op.

    Call once before ``nemo_relay.plugin.initialize``/``activate`` (or
    ``validate``) reads a ``plugins.toml`` naming the kind.
    """
    relay = _import_relay()
    with _LOCK:
        plugin = _PLUGINS.get(kind)
        if plugin is not None and kind in relay.plugin.list_kinds():
            return plugin
        plugin = AdaptiveRuntimePlugin(kind)
        try:
            relay.plugin.register(kind, plugin)
        except RuntimeError as error:
            raise ConfigError(
                f"plugin kind {kind!r} is already registered by another plugin: {error}"
            ) from error
        _PLUGINS[kind] = plugin
        return plugin


def deregister_plugin(kind: str = PLUGIN_KIND) -> bool:
    """Remove the kind for future activations (an active component runs on until closed)."""
    relay = _import_relay()
    with _LOCK:
        _PLUGINS.pop(kind, None)
        return bool(relay.plugin.deregister(kind))


def active_component(kind: str = PLUGIN_KIND) -> ActiveComponent | None:
    """The component NeMo Relay activated for ``kind``, until its activation closes."""
    return _ACTIVE.get(kind)


async def wait_for_idle(kind: str = PLUGIN_KIND) -> None:
    """Wait until every event emitted so far is learned from and stored (NeMo Relay's
    ``AdaptiveRuntime.wait_for_idle``, for the active component; subscribers flushed first)."""
    component = active_component(kind)
    if component is None:
        raise ConfigError(
            f"no {kind} component is active; activate a plugins.toml with kind = {kind!r} "
            "(after adaptive.relay.register_plugin())"
        )
    await component.wait_for_idle()
