"""What an LLM call was: endpoint, model, input, answer text, timing and token usage."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
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
        tool_calls=parsed_tool_calls(answer.tool_calls),
        request=request,
        response=answer.document,
        provider=provider.name,
    )


def parsed_tool_calls(tool_calls: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Tool calls as ``{id, name, arguments}``, the arguments parsed to a dict when they are a
    JSON object's text (every provider's wire format: OpenAI's JSON text, Anthropic's and
    Gemini's objects); other arguments (not JSON, a cut-off fragment) stay as they came."""
    return tuple(
        {
            "id": call.get("id"),
            "name": call.get("name"),
            "arguments": _parsed_arguments(call.get("arguments")),
        }
        for call in tool_calls
    )


def _parsed_arguments(arguments: Any) -> Any:
    if not isinstance(arguments, str):
        return arguments
    try:
        parsed = json.loads(arguments or "{}")
    except (ValueError, RecursionError):
        return arguments
    return parsed if isinstance(parsed, dict) else arguments
