"""The protocol every LLM API module in :mod:`pytest_llm.providers` implements.

A provider knows one wire format: which requests are its own, what its requests ask and its
answers say (plain and streamed), how its streams end, which of its values change on every call,
and where its credentials live. Everything else in the plugin asks the registry
(:func:`pytest_llm.providers.provider_for`) instead of knowing an API itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pytest_llm.providers.sse import Event


@dataclasses.dataclass(frozen=True)
class Answer:
    """What one answer said, plain or assembled from a stream. None: the API did not say."""

    text: str | None
    tool_calls: tuple[dict[str, Any], ...] = ()
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    #: The answer as one JSON document (a stream's last word on model and usage).
    document: Any = None


class Provider(Protocol):
    """One LLM API. Implemented by a module-level object in its own module."""

    #: ``llm_calls[i].provider``: "openai", "anthropic", ...
    name: str
    #: Endpoints whose answers are model text (drift is measured on them).
    answer_endpoints: frozenset[str]
    #: Endpoints whose streams must end with the provider's end marker to be stored.
    streamed_endpoints: frozenset[str]
    #: How a stream of this API ends, for the message on a cut-off stream.
    end_marker_description: str
    #: Body fields made up afresh on every call (ids, timestamps): carried over on re-record.
    volatile_fields: frozenset[str]
    #: Response headers (lower case) that change on every call; and prefixes of such headers.
    volatile_headers: frozenset[str]
    volatile_header_prefixes: tuple[str, ...]
    #: Request headers (lower case) and query parameters that carry credentials.
    credential_headers: frozenset[str]
    credential_query_parameters: frozenset[str]
    #: Environment variables holding credentials: their values are scrubbed wherever they appear.
    credential_env_vars: tuple[str, ...]
    #: Environment variables set in replay when unset, so clients build without a key.
    replay_placeholders: Mapping[str, str]

    def owns(self, host: str, path: str) -> bool:
        """Whether a request to ``host`` + ``path`` speaks this API."""
        ...

    def endpoint_of(self, path: str) -> str:
        """A short endpoint name for a URL path (``chat.completions``)."""
        ...

    def request_input(self, request: Mapping[str, Any]) -> Any:
        """The messages or input of a request body."""
        ...

    def request_model(self, path: str, request: Mapping[str, Any]) -> str | None:
        """The model a request asks for: from its body, or its path (Gemini, Bedrock)."""
        ...

    def last_user_text(self, request: Mapping[str, Any]) -> str | None:
        """The last thing the user said in a request (for miss messages and summaries)."""
        ...

    def answer(self, body: Any, endpoint: str) -> Answer:
        """What a plain (non-streamed) response body says."""
        ...

    def stream_answer(self, events: Sequence[Event]) -> Answer:
        """What an assembled stream says."""
        ...

    def event_text(self, payload: Any) -> str:
        """The answer text one streamed event adds (for time to first token)."""
        ...

    def stream_is_complete(self, events: Sequence[Event]) -> bool:
        """Whether a stream reached its end marker (a cut-off stream is never stored)."""
        ...
