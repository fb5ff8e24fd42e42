"""Everything specific to NeMo Relay: the live bridge that plugs a runtime into a
running NeMo Relay process (subscriber and intercepts), the plugin-host component
(kind ``adaptive_runtime``) that NeMo Relay activates from a ``plugins.toml``, and
the response cache's intercepts.

Needs the ``relay`` extra (``pip install 'adaptive-runtime[relay]'``);
``nemo_relay`` is imported only when a bridge is attached or the plugin registered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adaptive.relay.bridge import RelayBridge
    from adaptive.relay.plugin import active_component, register_plugin, wait_for_idle

_EXPORTS = {
    "RelayBridge": "adaptive.relay.bridge",
    "register_plugin": "adaptive.relay.plugin",
    "active_component": "adaptive.relay.plugin",
    "wait_for_idle": "adaptive.relay.plugin",
}
__all__ = ["RelayBridge", "active_component", "register_plugin", "wait_for_idle"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)
