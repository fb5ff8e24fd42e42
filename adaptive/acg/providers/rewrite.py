"""The provider-native rewrite of one request, for callers with their own HTTP client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adaptive.acg.providers.base import CacheProvider
from adaptive.acg.providers.codec_fields import JsonObject
from adaptive.acg.providers.registry import provider_named
from adaptive.hot_cache import HotCache


def rewrite_request(
    provider: CacheProvider | str,
    request: Mapping[str, Any],
    hot_cache: HotCache,
    *,
    agent_id: str,
) -> JsonObject:
    """The request body NeMo Relay 0.10.4 would send for the same learned state.

    ``provider`` is a provider from ``provider_named`` (reuse it: it memoizes
    decoded scaffolds and plans) or a name (a fresh provider each call).
    ``hot_cache`` is read only: the learned result for the request's learning
    key in ``acg_profiles`` (with ``acg_profile_observation_counts``), else
    the aggregate ``acg_stability``/``acg_observation_count``. ``agent_id`` is
    the id learned state is stored under (NeMo Relay's ``agent_id``).

    The input is never mutated. The result is a new dict that shares every
    member it does not change with ``request`` (and canonical tool schemas
    with the provider's memo, checked before each reuse): send it, do not
    edit it in place. NeMo Relay additionally
    hands its provider callable every object with sorted keys:
    ``json.dumps(result, sort_keys=True)`` (or ``relay_key_order(result)``)
    gives the bytes NeMo Relay's body serializes to.
    """
    chosen = provider_named(provider) if isinstance(provider, str) else provider
    return chosen.rewrite(request, hot_cache, agent_id=agent_id)


def learning_key(
    request: Mapping[str, Any], *, agent_id: str, provider: CacheProvider | None = None
) -> str | None:
    """The learning key NeMo Relay's ACG derives for a raw request (None if it cannot decode it).

    This is the key whose learned result ``rewrite_request`` consults; load it
    with ``backend.load_stability(key)`` to fill ``HotCache.acg_profiles``.
    """
    chosen = provider if provider is not None else provider_named("passthrough")
    return chosen.learning_key(request, agent_id=agent_id)
