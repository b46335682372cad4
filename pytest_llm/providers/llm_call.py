"""What an LLM call was: endpoint, model, input, answer text, timing and token usage."""

from __future__ import annotations

import dataclasses
from typing import Any

from pytest_llm.cassette.interaction import Interaction
from pytest_llm.providers import sse

ENDPOINTS = {
    "chat/completions": "chat.completions",
    "responses": "responses",
    "embeddings": "embeddings",
    "moderations": "moderations",
    "completions": "completions",
}


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

    @property
    def total_tokens(self) -> int:
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


def endpoint_of(path: str) -> str:
    """``chat.completions`` for ``/v1/chat/completions``; the bare path for other APIs."""
    bare = path.split("?", 1)[0].rstrip("/")
    for suffix, name in ENDPOINTS.items():
        if bare.endswith("/" + suffix):
            return name
    return bare or "/"


def describe(interaction: Interaction) -> LLMCall:
    """Build the :class:`LLMCall` view of a recorded interaction."""
    request = interaction.request_json()
    request_map = request if isinstance(request, dict) else {}
    endpoint = endpoint_of(interaction.path)
    if interaction.is_stream:
        events = interaction.events()
        payloads = [event.json() for event in events]
        text: str | None = sse.assemble_text(events)
        final = _final_stream_object(payloads)
        tool_calls = tuple(sse.assemble_tool_calls(events))
        response: Any = final
    else:
        response = interaction.response_json()
        final = response if isinstance(response, dict) else {}
        text = _response_text(final, endpoint)
        tool_calls = tuple(_tool_calls(final))
    usage = _usage(final)
    model = final.get("model") if isinstance(final.get("model"), str) else request_map.get("model")
    return LLMCall(
        endpoint=endpoint,
        model=model if isinstance(model, str) else None,
        messages=request_map.get("messages", request_map.get("input", request_map.get("prompt"))),
        text=text,
        latency_s=interaction.timing.latency_s,
        ttft_s=interaction.timing.ttft_s if interaction.is_stream else None,
        prompt_tokens=usage[0],
        completion_tokens=usage[1],
        status=interaction.status,
        stream=interaction.is_stream,
        tool_calls=tool_calls,
        request=request,
        response=response,
    )


def _final_stream_object(payloads: list[Any]) -> dict[str, Any]:
    """What a stream says about the whole answer: model and usage, from whichever event has them."""
    merged: dict[str, Any] = {}
    for payload in payloads:
        if not isinstance(payload, dict):
            continue
        if isinstance(payload.get("response"), dict):  # Responses API: response.completed et al.
            payload = payload["response"]
        if isinstance(payload.get("model"), str):
            merged["model"] = payload["model"]
        if isinstance(payload.get("usage"), dict):
            merged["usage"] = payload["usage"]
    return merged


def _response_text(body: dict[str, Any], endpoint: str) -> str | None:
    if endpoint == "responses":
        return _responses_output_text(body)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    message = choice.get("message")
    if isinstance(message, dict):
        content = message.get("content")
        return content if isinstance(content, str) else ("" if content is None else str(content))
    text = choice.get("text")
    return text if isinstance(text, str) else None


def _responses_output_text(body: dict[str, Any]) -> str | None:
    if isinstance(body.get("output_text"), str):
        return str(body["output_text"])
    output = body.get("output")
    if not isinstance(output, list):
        return None
    texts = [
        part.get("text", "")
        for item in output
        if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or ()
        if isinstance(part, dict) and part.get("type") == "output_text"
    ]
    return "".join(texts)


def _tool_calls(body: dict[str, Any]) -> list[dict[str, Any]]:
    output = body.get("output")
    if isinstance(output, list):  # Responses API: function_call items among the output
        return [call for call in map(sse.function_call_item, output) if call is not None]
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return []
    message = choices[0].get("message") or {}
    found = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        found.append(
            {
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": function.get("arguments"),
            }
        )
    return found


def _usage(body: dict[str, Any]) -> tuple[int | None, int | None]:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None, None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    return (
        prompt if isinstance(prompt, int) else None,
        completion if isinstance(completion, int) else None,
    )
