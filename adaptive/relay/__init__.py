"""Everything specific to NeMo Relay: the live bridge that plugs a runtime into a
running NeMo Relay process (subscriber and intercepts), and the response cache's
intercepts.

Needs the ``relay`` extra (``pip install 'adaptive-runtime[relay]'``);
``nemo_relay`` is imported only when a bridge is attached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adaptive.relay.bridge import RelayBridge

__all__ = ["RelayBridge"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from adaptive.relay import bridge

        return getattr(bridge, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
