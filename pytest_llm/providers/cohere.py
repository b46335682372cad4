"""Cohere's v2 chat API (``POST /v2/chat``, the ``cohere`` SDK's ``ClientV2``), plain and
streamed (server-sent events).

A plain answer is ``{id, message: {content: [{type: text, text}], tool_plan, tool_calls},
finish_reason, usage: {billed_units, tokens}}``; it does not name the model, so the call's model
is the request's. A stream is typed events (``message-start``, ``content-delta``,
``tool-call-start``/``-delta``/``-end``, ...) and ends with ``message-end``, which carries the
finish reason and the usage. Cohere's OpenAI-compatible route (``/compatibility/v1/chat/
completions``) is not this provider: it speaks OpenAI's format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llm.providers import chat_messages
from pytest_llm.providers.base import Answer
from pytest_llm.providers.sse import Event

#: Given to clients in replay when CO_API_KEY is unset (``cohere.ClientV2()`` refuses to build
#: without a key); never sent anywhere.
PLACEHOLDER_API_KEY = "co-pytest-llm-replay-placeholder"
API_KEY_VARIABLE = "CO_API_KEY"
#: The key variable the SDK also reads (after CO_API_KEY).
LEGACY_API_KEY_VARIABLE = "COHERE_API_KEY"
#: Read by the SDK when ``cohere`` is imported (a default argument), not when a client is built.
BASE_URL_VARIABLE = "CO_API_URL"

CHAT_ENDPOINT = "cohere.chat"
_CHAT_PATH = "/v2/chat"
#: The event that closes a stream; a stream without it was cut off.
_END_MARKER = "message-end"


class CohereProvider:
    name = "cohere"
    answer_endpoints = frozenset({CHAT_ENDPOINT})
    streamed_endpoints = frozenset({CHAT_ENDPOINT})
    end_marker_description = f"event: {_END_MARKER}"
    volatile_fields = frozenset({"id", "generation_id", "response_id"})
    volatile_headers = frozenset(
        {
            "x-debug-trace-id",
            "x-envoy-upstream-service-time",
            "x-trial-endpoint-call-limit",
            "x-trial-endpoint-call-remaining",
            "x-endpoint-monthly-call-limit",
            "num_chars",
            "num_tokens",
        }
    )
    volatile_header_prefixes: tuple[str, ...] = ()
    #: The key travels as ``Authorization: Bearer <key>`` (already a credential header).
    credential_headers = frozenset({"authorization"})
    credential_query_parameters: frozenset[str] = frozenset()
    credential_env_vars: tuple[str, ...] = (API_KEY_VARIABLE, LEGACY_API_KEY_VARIABLE)
    replay_placeholders: Mapping[str, str] = {API_KEY_VARIABLE: PLACEHOLDER_API_KEY}
    #: Where the SDK reads its endpoint from: at loopback, recording needs no key.
    base_url_env_vars: tuple[str, ...] = (BASE_URL_VARIABLE,)

    def owns(self, host: str, path: str) -> bool:
        return _bare(path).endswith(_CHAT_PATH)

    def endpoint_of(self, path: str) -> str:
        return CHAT_ENDPOINT if self.owns("", path) else _bare(path) or "/"

    def request_input(self, request: Mapping[str, Any]) -> Any:
        return request.get("messages")

    def request_model(self, path: str, request: Mapping[str, Any]) -> str | None:
        return chat_messages.body_model(request)

    def last_user_text(self, request: Mapping[str, Any]) -> str | None:
        return chat_messages.last_user_content(request, _content_text)

    def answer(self, body: Any, endpoint: str) -> Answer:
        document = body if isinstance(body, dict) else {}
        message = document.get("message")
        prompt, completion = _usage(document.get("usage"))
        return Answer(
            text=_message_text(message) if isinstance(message, dict) else None,
            tool_calls=tuple(_message_tool_calls(message)),
            model=None,  # Cohere's answers do not name the model: the request's is the call's
            prompt_tokens=prompt,
            completion_tokens=completion,
            document=body,
        )

    def stream_answer(self, events: Sequence[Event]) -> Answer:
        payloads = [event.json() for event in events]
        final = _message_end_delta(payloads)
        prompt, completion = _usage(final.get("usage"))
        return Answer(
            text="".join(self.event_text(payload) for payload in payloads),
            tool_calls=tuple(assemble_tool_calls(payloads)),
            prompt_tokens=prompt,
            completion_tokens=completion,
            document=final or None,
        )

    def event_text(self, payload: Any) -> str:
        """The answer text of a ``content-start`` or ``content-delta`` event (thinking and tool
        plans are not the answer)."""
        if not isinstance(payload, dict) or payload.get("type") not in (
            "content-start",
            "content-delta",
        ):
            return ""
        content = _dig(payload, "delta", "message", "content")
        text = content.get("text") if isinstance(content, dict) else None
        return text if isinstance(text, str) else ""

    def stream_is_complete(self, events: Sequence[Event]) -> bool:
        """A ``message-end`` event (by its ``event:`` name or its ``type``)."""
        for event in reversed(events):
            if event.name == _END_MARKER:
                return True
            payload = event.json()
            if isinstance(payload, dict) and payload.get("type") == _END_MARKER:
                return True
        return False


PROVIDER = CohereProvider()


def assemble_tool_calls(payloads: Sequence[Any]) -> list[dict[str, Any]]:
    """Tool calls of a stream as ``{id, name, arguments}``, in index order: ``tool-call-start``
    gives the id and name, each ``tool-call-delta`` a fragment of the arguments."""
    calls: dict[int, dict[str, Any]] = {}
    for payload in payloads:
        if not isinstance(payload, dict):
            continue
        kind = payload.get("type")
        if kind not in ("tool-call-start", "tool-call-delta"):
            continue
        index = payload.get("index")
        if not isinstance(index, int):  # no index: a start opens the next call, a delta the last
            index = len(calls) if kind == "tool-call-start" else max(calls, default=0)
        call = calls.setdefault(index, {"id": None, "name": "", "arguments": ""})
        fragment = _dig(payload, "delta", "message", "tool_calls")
        if not isinstance(fragment, dict):
            continue
        if isinstance(fragment.get("id"), str):
            call["id"] = fragment["id"]
        function = fragment.get("function")
        if isinstance(function, dict):
            if isinstance(function.get("name"), str):
                call["name"] += function["name"]
            if isinstance(function.get("arguments"), str):
                call["arguments"] += function["arguments"]
    return [calls[index] for index in sorted(calls)]


def _bare(path: str) -> str:
    return path.split("?", 1)[0].rstrip("/")


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text") for part in content if isinstance(part, dict)]
        return " ".join(part for part in parts if isinstance(part, str) and part) or None
    return None


def _message_text(message: Mapping[str, Any]) -> str:
    """The text items of an assistant message's content, joined ("" for a tool-call turn)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(
        item["text"]
        for item in content
        if isinstance(item, dict)
        and item.get("type") == "text"
        and isinstance(item.get("text"), str)
    )


def _message_tool_calls(message: Any) -> list[dict[str, Any]]:
    if not isinstance(message, dict) or not isinstance(message.get("tool_calls"), list):
        return []
    found = []
    for call in message["tool_calls"]:
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        found.append(
            {
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": function.get("arguments"),
            }
        )
    return found


def _message_end_delta(payloads: Sequence[Any]) -> dict[str, Any]:
    """The ``delta`` of the stream's ``message-end`` event (finish reason, usage), or {}."""
    for payload in reversed(payloads):
        if isinstance(payload, dict) and payload.get("type") == _END_MARKER:
            delta = payload.get("delta")
            return delta if isinstance(delta, dict) else {}
    return {}


def _usage(usage: Any) -> tuple[int | None, int | None]:
    """Prompt and completion tokens: the billed units (what a call costs), else the tokens the
    model processed (which also count Cohere's prompt template)."""
    if not isinstance(usage, dict):
        return None, None
    prompt = completion = None
    for section in ("tokens", "billed_units"):  # the later one wins where it says
        counts = usage.get(section)
        if isinstance(counts, dict):
            prompt = _count(counts.get("input_tokens"), prompt)
            completion = _count(counts.get("output_tokens"), completion)
    return prompt, completion


def _count(value: Any, fallback: int | None) -> int | None:
    """A token count (the SDK types them as floats; JSON sends whole numbers)."""
    if isinstance(value, bool):
        return fallback
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return fallback
