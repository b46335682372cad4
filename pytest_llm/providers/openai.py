"""OpenAI's API (and every OpenAI-compatible server): chat completions, completions, the
Responses API, embeddings and moderations, plain and streamed (server-sent events).

An OpenAI-compatible endpoint (Azure OpenAI, a local llama.cpp or vLLM server, Mistral's
chat route) is this provider too: it is the registry's fallback for any request no other
provider claims.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llm.providers import chat_messages
from pytest_llm.providers.base import Answer
from pytest_llm.providers.sse import Event

#: Given to clients in replay when OPENAI_API_KEY is unset; never sent anywhere.
PLACEHOLDER_API_KEY = "sk-pytest-llm-replay-placeholder"
API_KEY_VARIABLE = "OPENAI_API_KEY"
BASE_URL_VARIABLE = "OPENAI_BASE_URL"

ENDPOINTS = {
    "chat/completions": "chat.completions",
    "responses": "responses",
    "embeddings": "embeddings",
    "moderations": "moderations",
    "completions": "completions",
}

#: Events that close a stream properly; a stream without one (or ``[DONE]``) was cut off.
_END_MARKERS = frozenset({"response.completed", "response.failed", "response.incomplete", "error"})


class OpenAIProvider:
    name = "openai"
    answer_endpoints = frozenset({"chat.completions", "responses", "completions"})
    streamed_endpoints = frozenset({"chat.completions", "completions", "responses"})
    end_marker_description = "[DONE] / response.completed"
    volatile_fields = frozenset(
        {
            "id",
            "created",
            "created_at",
            "completed_at",
            "system_fingerprint",
            "item_id",
            "response_id",
            "obfuscation",
        }
    )
    volatile_headers = frozenset(
        {"openai-processing-ms", "x-request-id", "apim-request-id", "azureml-model-session"}
    )
    volatile_header_prefixes: tuple[str, ...] = ("x-ratelimit-", "x-stainless-")
    credential_headers = frozenset({"api-key", "openai-organization", "openai-project"})
    credential_query_parameters = frozenset({"api-key", "api_key"})
    credential_env_vars: tuple[str, ...] = (
        API_KEY_VARIABLE,
        "AZURE_OPENAI_API_KEY",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
    )
    replay_placeholders: Mapping[str, str] = {API_KEY_VARIABLE: PLACEHOLDER_API_KEY}
    #: Where the SDK reads its endpoint from: at loopback, recording needs no key.
    base_url_env_vars: tuple[str, ...] = (BASE_URL_VARIABLE,)

    def owns(self, host: str, path: str) -> bool:
        return True  # the fallback: any API no other provider claims speaks OpenAI's format

    def endpoint_of(self, path: str) -> str:
        """``chat.completions`` for ``/v1/chat/completions``; the bare path for other APIs."""
        bare = path.split("?", 1)[0].rstrip("/")
        for suffix, name in ENDPOINTS.items():
            if bare.endswith("/" + suffix):
                return name
        return bare or "/"

    def request_input(self, request: Mapping[str, Any]) -> Any:
        return request.get("messages", request.get("input", request.get("prompt")))

    def request_model(self, path: str, request: Mapping[str, Any]) -> str | None:
        return chat_messages.body_model(request)

    def last_user_text(self, request: Mapping[str, Any]) -> str | None:
        return last_user_text(request)

    def answer(self, body: Any, endpoint: str) -> Answer:
        document = body if isinstance(body, dict) else {}
        return Answer(
            text=_response_text(document, endpoint),
            tool_calls=tuple(_tool_calls(document)),
            model=_model(document),
            prompt_tokens=_usage(document)[0],
            completion_tokens=_usage(document)[1],
            document=body,
        )

    def stream_answer(self, events: Sequence[Event]) -> Answer:
        final = _final_stream_object([event.json() for event in events])
        prompt, completion = _usage(final)
        return Answer(
            text="".join(self.event_text(event.json()) for event in events),
            tool_calls=tuple(assemble_tool_calls(events)),
            model=_model(final),
            prompt_tokens=prompt,
            completion_tokens=completion,
            document=final,
        )

    def event_text(self, payload: Any) -> str:
        """The text one streamed event adds to the answer (chat, completions or Responses API)."""
        if not isinstance(payload, dict):
            return ""
        if payload.get("type") == "response.output_text.delta":
            delta = payload.get("delta")
            return delta if isinstance(delta, str) else ""
        pieces: list[str] = []
        for choice in payload.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                pieces.append(delta["content"])
            elif isinstance(choice.get("text"), str):  # legacy completions stream
                pieces.append(choice["text"])
        return "".join(pieces)

    def stream_is_complete(self, events: Sequence[Event]) -> bool:
        """``[DONE]`` or a final Responses API event."""
        for event in reversed(events):
            if event.data.strip() == "[DONE]" or event.name in _END_MARKERS:
                return True
            payload = event.json()
            if isinstance(payload, dict) and payload.get("type") in _END_MARKERS:
                return True
        return False


PROVIDER = OpenAIProvider()


def function_call_item(item: Any) -> dict[str, Any] | None:
    """A Responses API output item of type ``function_call`` as ``{id, name, arguments}``."""
    if not isinstance(item, dict) or item.get("type") != "function_call":
        return None
    return {
        "id": item.get("call_id") or item.get("id"),
        "name": item.get("name"),
        "arguments": item.get("arguments"),
    }


def assemble_tool_calls(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Tool calls of a stream, in order: a chat completion's argument fragments joined, or a
    Responses API stream's finished ``function_call`` items."""
    calls: dict[int, dict[str, Any]] = {}
    finished: dict[int, dict[str, Any]] = {}
    for event in events:
        payload = event.json()
        if not isinstance(payload, dict):
            continue
        if payload.get("type") == "response.output_item.done":
            call = function_call_item(payload.get("item"))
            index = payload.get("output_index")
            if call is not None:
                finished[index if isinstance(index, int) else len(finished)] = call
            continue
        for choice in payload.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            for fragment in (delta or {}).get("tool_calls") or ():
                index = fragment.get("index", 0)
                call = calls.setdefault(index, {"id": None, "name": "", "arguments": ""})
                call["id"] = fragment.get("id") or call["id"]
                function = fragment.get("function") or {}
                call["name"] += function.get("name") or ""
                call["arguments"] += function.get("arguments") or ""
    return [calls[index] for index in sorted(calls)] + [finished[i] for i in sorted(finished)]


def _model(document: Mapping[str, Any]) -> str | None:
    model = document.get("model")
    return model if isinstance(model, str) else None


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
        return [call for call in map(function_call_item, output) if call is not None]
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


def _usage(body: Mapping[str, Any]) -> tuple[int | None, int | None]:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None, None
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    return (
        prompt if isinstance(prompt, int) else None,
        completion if isinstance(completion, int) else None,
    )


def last_user_text(request: Mapping[str, Any]) -> str | None:
    messages = request.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _content_text(message.get("content"))
    value = request.get("input", request.get("prompt"))
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:
        last = value[-1]
        if isinstance(last, str):
            return last
        if isinstance(last, dict):
            return _content_text(last.get("content"))
    return None


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict)]
        return " ".join(part for part in parts if part) or None
    return None
