"""LLM APIs behind one protocol (:class:`pytest_llm.providers.base.Provider`), internal.

Adding a provider is one module in this folder and one line in :data:`REGISTRY`: the rest of
the plugin asks the functions below, never an API itself. See ``docs/adding-a-provider.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from urllib.parse import urlsplit

from pytest_llm.providers import anthropic, bedrock, cohere, gemini, ollama, openai
from pytest_llm.providers.base import Answer, Provider
from pytest_llm.providers.sse import Event

#: Asked in order; the last one (OpenAI's format) claims whatever no other provider does.
REGISTRY: tuple[Provider, ...] = (
    anthropic.PROVIDER,
    cohere.PROVIDER,
    gemini.PROVIDER,
    bedrock.PROVIDER,
    ollama.PROVIDER,
    openai.PROVIDER,
)

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


def _union(attribute: str) -> frozenset[str]:
    """One set attribute of every registered provider, together."""
    return frozenset().union(*(getattr(provider, attribute) for provider in REGISTRY))


def _in_order(attribute: str) -> tuple[str, ...]:
    """One tuple attribute of every registered provider, together, first seen first."""
    return tuple(dict.fromkeys(item for p in REGISTRY for item in getattr(p, attribute)))


def credential_headers() -> frozenset[str]:
    return _union("credential_headers")


def credential_query_parameters() -> frozenset[str]:
    return _union("credential_query_parameters")


def credential_env_vars() -> tuple[str, ...]:
    return _in_order("credential_env_vars")


def volatile_fields() -> frozenset[str]:
    return _union("volatile_fields")


def volatile_headers() -> frozenset[str]:
    return _union("volatile_headers")


def volatile_header_prefixes() -> tuple[str, ...]:
    return _in_order("volatile_header_prefixes")


def replay_placeholders() -> dict[str, str]:
    """Every provider's placeholder credentials for replay (set only where unset)."""
    return {name: value for p in REGISTRY for name, value in p.replay_placeholders.items()}


def credential_placeholders() -> dict[str, str]:
    """The replay placeholders that stand for credentials (not the other settings some
    providers need in replay, such as Bedrock's ``AWS_EC2_METADATA_DISABLED``)."""
    credentials = set(credential_env_vars())
    return {name: value for name, value in replay_placeholders().items() if name in credentials}


def missing_credentials_hint(error: BaseException | None) -> str | None:
    """What to set, when a recording failed because an SDK found no credentials before sending
    anything (botocore's ``NoCredentialsError``). Asks each provider's optional
    ``missing_credentials_hint(error)``; None when none knows the error."""
    for provider in REGISTRY:
        hint = getattr(provider, "missing_credentials_hint", None)
        found = hint(error) if callable(hint) and error is not None else None
        if isinstance(found, str):
            return found
    return None


def first_content_offset(provider: Provider, events: Sequence[Event]) -> int | None:
    """Byte offset of the first event that carries answer text (for time to first token)."""
    return next((event.offset for event in events if provider.event_text(event.json())), None)
