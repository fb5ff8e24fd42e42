"""Provider-native prompt-cache rewriting of LLM requests from what ACG learned.

Given a raw provider request and the hot cache, produce exactly the body NeMo
Relay 0.10.4's ACG sends: Anthropic ``cache_control`` breakpoints on the
learned stable prefix, OpenAI byte-stable tool schemas and prefix content,
or nothing (``passthrough``); ``usage`` reads back what the provider cached.
"""

from adaptive.acg.providers.anthropic import AnthropicCacheProvider, AnthropicTtl
from adaptive.acg.providers.base import CacheProvider, LearnedPrefix, learned_prefix
from adaptive.acg.providers.capabilities import ModelFamily, anthropic_model_family
from adaptive.acg.providers.decoder import detect_surface
from adaptive.acg.providers.openai import OpenAICacheProvider
from adaptive.acg.providers.passthrough import PassthroughCacheProvider
from adaptive.acg.providers.registry import PROVIDER_NAMES, provider_named
from adaptive.acg.providers.relay_json import relay_key_order
from adaptive.acg.providers.request_view import RequestSurface
from adaptive.acg.providers.rewrite import learning_key, rewrite_request
from adaptive.acg.providers.usage import CacheUsage, cache_usage, cache_usage_from_llm_end

__all__ = [
    "PROVIDER_NAMES",
    "AnthropicCacheProvider",
    "AnthropicTtl",
    "CacheProvider",
    "CacheUsage",
    "LearnedPrefix",
    "ModelFamily",
    "OpenAICacheProvider",
    "PassthroughCacheProvider",
    "RequestSurface",
    "anthropic_model_family",
    "cache_usage",
    "cache_usage_from_llm_end",
    "detect_surface",
    "learned_prefix",
    "learning_key",
    "provider_named",
    "relay_key_order",
    "rewrite_request",
]
