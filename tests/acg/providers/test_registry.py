"""Provider names as NeMo Relay's ``acg.provider`` accepts them."""

from __future__ import annotations

import json

import pytest

from adaptive.acg.providers import (
    PROVIDER_NAMES,
    AnthropicCacheProvider,
    OpenAICacheProvider,
    PassthroughCacheProvider,
    provider_named,
    rewrite_request,
)
from adaptive.errors import ConfigError
from tests.acg.providers.support import AGENT, anthropic_request, anthropic_tools, learn


def test_the_three_providers_nemo_relay_accepts() -> None:
    assert PROVIDER_NAMES == ("anthropic", "openai", "passthrough")
    assert isinstance(provider_named("anthropic"), AnthropicCacheProvider)
    assert isinstance(provider_named("openai"), OpenAICacheProvider)
    assert isinstance(provider_named("passthrough"), PassthroughCacheProvider)
    assert provider_named("openai") is not provider_named("openai")  # each caller its own memos


@pytest.mark.parametrize("name", ["gemini", "Anthropic", "", "oci"])
def test_any_other_name_is_a_config_error_naming_the_allowed_ones(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        provider_named(name)
    message = str(raised.value)
    assert repr(name) in message and "anthropic, openai, passthrough" in message
    assert "\n" not in message


def test_rewrite_request_takes_a_provider_or_its_name() -> None:
    requests = [anthropic_request(f"q{n}", tools=anthropic_tools()) for n in range(5)]
    cache = learn(requests[:4])
    by_name = rewrite_request("anthropic", requests[4], cache, agent_id=AGENT)
    by_provider = rewrite_request(provider_named("anthropic"), requests[4], cache, agent_id=AGENT)
    assert json.dumps(by_name) == json.dumps(by_provider)
    assert "cache_control" in json.dumps(by_name)
    with pytest.raises(ConfigError):
        rewrite_request("gemini", requests[4], cache, agent_id=AGENT)


def test_passthrough_never_changes_a_request() -> None:
    requests = [anthropic_request(f"q{n}", tools=anthropic_tools()) for n in range(5)]
    cache = learn(requests[:4])
    body = rewrite_request("passthrough", requests[4], cache, agent_id=AGENT)
    assert json.dumps(body) == json.dumps(requests[4]) and body is not requests[4]
