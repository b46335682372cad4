"""LLM APIs behind one protocol (:class:`pytest_llm.providers.base.Provider`), internal.

Adding a provider is one module in this folder and one line in :data:`REGISTRY`: the rest of
the plugin asks the functions below, never an API itself. See ``docs/adding-a-provider.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from urllib.parse import urlsplit

from pytest_llm.providers import openai
from pytest_llm.providers.base import Answer, Provider
from pytest_llm.providers.sse import Event

#: Asked in order; the last one (OpenAI's format) claims whatever no other provider does.
REGISTRY: tuple[Provider, ...] = (openai.PROVIDER,)

__all__ = ["REGISTRY", "Answer", "Provider", "provider_for"]


def provider_for(url_or_path: str, host: str = "") -> Provider:
    """The provider whose API a request to this URL (or path, with ``host``) speaks."""
    parts = urlsplit(url_or_path)
    path = parts.path or url_or_path
    return _provider_for(host or parts.hostname or "", path)


@functools.lru_cache(maxsize=4096)
def _provider_for(host: str, path: str) -> Provider:
    for provider in REGISTRY:
        if provider.owns(host, path):
            return provider
    return REGISTRY[-1]


def credential_headers() -> frozenset[str]:
    return frozenset().union(*(provider.credential_headers for provider in REGISTRY))


def credential_query_parameters() -> frozenset[str]:
    return frozenset().union(*(provider.credential_query_parameters for provider in REGISTRY))


def credential_env_vars() -> tuple[str, ...]:
    return tuple(dict.fromkeys(var for p in REGISTRY for var in p.credential_env_vars))


def volatile_fields() -> frozenset[str]:
    return frozenset().union(*(provider.volatile_fields for provider in REGISTRY))


def volatile_headers() -> frozenset[str]:
    return frozenset().union(*(provider.volatile_headers for provider in REGISTRY))


def volatile_header_prefixes() -> tuple[str, ...]:
    return tuple(dict.fromkeys(prefix for p in REGISTRY for prefix in p.volatile_header_prefixes))


def replay_placeholders() -> dict[str, str]:
    """Every provider's placeholder credentials for replay (set only where unset)."""
    return {name: value for p in REGISTRY for name, value in p.replay_placeholders.items()}


def first_content_offset(provider: Provider, events: Sequence[Event]) -> int | None:
    """Byte offset of the first event that carries answer text (for time to first token)."""
    return next((event.offset for event in events if provider.event_text(event.json())), None)
