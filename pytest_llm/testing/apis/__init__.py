"""The other LLM APIs the local server speaks besides OpenAI's, one module each.

Each module builds its API's bodies and streams from the same script
(:mod:`pytest_llm.testing.script`) and, on import, registers its paths with
:func:`pytest_llm.testing.server.register_api_routes` and its endpoint names with
:func:`pytest_llm.testing.script.register_endpoints`. Importing :mod:`pytest_llm.testing`
imports them all (one import line per API below).
"""

from pytest_llm.testing.apis import (  # noqa: F401 - each registers its API's routes
    anthropic_messages,
    bedrock,
    cohere_chat,
    gemini,
    ollama,
)
