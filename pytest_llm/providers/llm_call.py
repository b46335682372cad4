"""What an LLM call was: endpoint, model, input, answer text, timing and token usage."""

from __future__ import annotations

import dataclasses
from typing import Any

from pytest_llm.cassette.interaction import Interaction
from pytest_llm.providers import provider_for


@dataclasses.dataclass(frozen=True)
class LLMCall:
    """One call the case made, as ``llm_calls`` shows it (recorded values in replay)."""

    endpoint: str
    model: str | None
    messages: Any
    text: str | None
    latency_s: float | None
    ttft_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    status: int = 200
    stream: bool = False
    tool_calls: tuple[dict[str, Any], ...] = ()
    request: Any = None
    response: Any = None
    #: "openai", "anthropic", ...: the provider whose API the call spoke.
    provider: str = "openai"

    @property
    def total_tokens(self) -> int:
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


def endpoint_of(path: str) -> str:
    """The provider's short endpoint name for a URL path (``chat.completions``)."""
    return provider_for(path).endpoint_of(path)


def describe(interaction: Interaction) -> LLMCall:
    """Build the :class:`LLMCall` view of a recorded interaction, as its provider reads it."""
    provider = interaction.provider
    request = interaction.request_json()
    request_map = request if isinstance(request, dict) else {}
    endpoint = provider.endpoint_of(interaction.path)
    if interaction.is_stream:
        answer = provider.stream_answer(interaction.events())
    else:
        answer = provider.answer(interaction.response_json(), endpoint)
    model = answer.model or provider.request_model(interaction.path, request_map)
    return LLMCall(
        endpoint=endpoint,
        model=model,
        messages=provider.request_input(request_map),
        text=answer.text,
        latency_s=interaction.timing.latency_s,
        ttft_s=interaction.timing.ttft_s if interaction.is_stream else None,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        status=interaction.status,
        stream=interaction.is_stream,
        tool_calls=answer.tool_calls,
        request=request,
        response=answer.document,
        provider=provider.name,
    )
