"""Provider-native prompt-cache rewriting of LLM requests from what ACG learned.

Given a raw provider request and the hot cache, produce exactly the body NeMo
Relay 0.10.4's ACG sends: Anthropic ``cache_control`` breakpoints on the
learned stable prefix, OpenAI byte-stable tool schemas and prefix content,
or nothing (``passthrough``); ``usage`` reads back what the provider cached.
"""
