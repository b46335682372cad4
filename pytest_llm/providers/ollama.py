"""Ollama's native API (the ``ollama`` SDK): ``/api/chat``, ``/api/generate``, ``/api/embed`` and
the older ``/api/embeddings``, plain and streamed (NDJSON, one JSON document a line).

A chat answer is ``{model, created_at, message: {role, content, tool_calls}, done: true,
done_reason, prompt_eval_count, eval_count, *_duration}``; a generate answer carries its text in
``response`` instead of ``message``. A stream is such documents one a line: each adds a piece of
text (a tool call arrives whole in one line), and the last one says ``done: true`` and carries
the counts. A stream without it was cut off. Tool call arguments are a JSON object, not a JSON
text. Ollama's OpenAI-compatible route (``/v1/chat/completions``) is not this provider: it
speaks OpenAI's format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llm.providers import chat_messages
from pytest_llm.providers.base import Answer
from pytest_llm.providers.sse import Event

#: Ollama's cloud (ollama.com) key: sent as ``Authorization: Bearer``. A local server needs none,
#: and the SDK builds a client without one, so replay needs no placeholder.
API_KEY_VARIABLE = "OLLAMA_API_KEY"
#: Where the SDK sends requests (read when a client is built); not a credential.
HOST_VARIABLE = "OLLAMA_HOST"

CHAT_ENDPOINT = "ollama.chat"
GENERATE_ENDPOINT = "ollama.generate"
EMBED_ENDPOINT = "ollama.embed"
EMBEDDINGS_ENDPOINT = "ollama.embeddings"
#: Path suffix -> endpoint name (behind any prefix: a proxy's ``/ollama/api/chat`` too).
ENDPOINTS = {
    "/api/chat": CHAT_ENDPOINT,
    "/api/generate": GENERATE_ENDPOINT,
    "/api/embed": EMBED_ENDPOINT,
    "/api/embeddings": EMBEDDINGS_ENDPOINT,
}


class OllamaProvider:
    name = "ollama"
    answer_endpoints = frozenset({CHAT_ENDPOINT, GENERATE_ENDPOINT})
    streamed_endpoints = frozenset({CHAT_ENDPOINT, GENERATE_ENDPOINT})
    end_marker_description = 'a last line with "done": true'
    #: Timestamps and nanosecond durations differ on every call (pytest-llm measures latency
    #: itself); ``context`` (the token ids of a generate call) says nothing a diff needs.
    volatile_fields = frozenset(
        {"created_at", "total_duration", "load_duration", "prompt_eval_duration", "eval_duration"}
    )
    volatile_headers: frozenset[str] = frozenset()
    volatile_header_prefixes: tuple[str, ...] = ()
    credential_headers = frozenset({"authorization"})
    credential_query_parameters: frozenset[str] = frozenset()
    credential_env_vars: tuple[str, ...] = (API_KEY_VARIABLE,)
    replay_placeholders: Mapping[str, str] = {}

    def owns(self, host: str, path: str) -> bool:
        return _endpoint(path) is not None

    def endpoint_of(self, path: str) -> str:
        return _endpoint(path) or _bare(path) or "/"

    def request_input(self, request: Mapping[str, Any]) -> Any:
        for field in ("messages", "prompt", "input"):
            if field in request:
                return request[field]
        return None

    def request_model(self, path: str, request: Mapping[str, Any]) -> str | None:
        return chat_messages.body_model(request)

    def last_user_text(self, request: Mapping[str, Any]) -> str | None:
        if isinstance(request.get("messages"), list):
            return chat_messages.last_user_content(request, _string)
        value = request.get("prompt", request.get("input"))
        if isinstance(value, list):
            value = value[-1] if value else None
        return _string(value)

    def answer(self, body: Any, endpoint: str) -> Answer:
        document = body if isinstance(body, dict) else {}
        if endpoint in (EMBED_ENDPOINT, EMBEDDINGS_ENDPOINT):
            text = None
        elif endpoint == GENERATE_ENDPOINT:
            text = _string(document.get("response"))
        else:
            message = document.get("message")
            text = _string(message.get("content")) if isinstance(message, dict) else None
        prompt, completion = _counts(document)
        return Answer(
            text=text,
            tool_calls=tuple(_tool_calls(document)),
            model=chat_messages.body_model(document),
            prompt_tokens=prompt,
            completion_tokens=completion,
            document=body,
        )

    def stream_answer(self, events: Sequence[Event]) -> Answer:
        payloads = [event.json() for event in events]
        documents = [payload for payload in payloads if isinstance(payload, dict)]
        final = next((doc for doc in reversed(documents) if doc.get("done") is True), {})
        prompt, completion = _counts(final)
        return Answer(
            text="".join(self.event_text(payload) for payload in payloads),
            tool_calls=tuple(call for doc in documents for call in _tool_calls(doc)),
            model=chat_messages.body_model(final)
            or next((m for m in map(chat_messages.body_model, documents) if m), None),
            prompt_tokens=prompt,
            completion_tokens=completion,
            document=final or None,
        )

    def event_text(self, payload: Any) -> str:
        """The piece of answer text one line adds: ``message.content`` (chat) or ``response``
        (generate); thinking is not the answer."""
        if not isinstance(payload, dict):
            return ""
        message = payload.get("message")
        if isinstance(message, dict):
            return _string(message.get("content")) or ""
        return _string(payload.get("response")) or ""

    def stream_is_complete(self, events: Sequence[Event]) -> bool:
        """A line with ``"done": true``, or an ``error`` line (Ollama's way to end a stream that
        failed after it began)."""
        for event in reversed(events):
            payload = event.json()
            if isinstance(payload, dict) and (
                payload.get("done") is True or isinstance(payload.get("error"), str)
            ):
                return True
        return False


PROVIDER = OllamaProvider()


def _bare(path: str) -> str:
    return path.split("?", 1)[0].rstrip("/")


def _endpoint(path: str) -> str | None:
    bare = _bare(path)
    return next((name for suffix, name in ENDPOINTS.items() if bare.endswith(suffix)), None)


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _counts(document: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``prompt_eval_count`` and ``eval_count``: None where the answer did not say (Ollama leaves
    ``prompt_eval_count`` out when the whole prompt came from its cache)."""
    return _count(document.get("prompt_eval_count")), _count(document.get("eval_count"))


def _tool_calls(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``message.tool_calls[].function`` as ``{id, name, arguments}``; the arguments object
    as JSON text, the shape every provider gives (``json.loads`` gives Ollama's object back)."""
    message = document.get("message")
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    if not isinstance(calls, list):
        return []
    found = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            try:
                arguments = json.dumps(arguments, ensure_ascii=False)
            except (TypeError, ValueError, RecursionError):
                arguments = None
        identifier = call.get("id") if isinstance(call, dict) else None
        found.append(
            {
                "id": identifier if isinstance(identifier, str) else None,
                "name": _string(function.get("name")),
                "arguments": arguments,
            }
        )
    return found
