"""Google's Gemini API (the google-genai SDK), on both its hosts: the Gemini Developer API
(``/v1beta/models/<model>:generateContent``, an API key in ``x-goog-api-key`` or ``?key=``) and
Vertex AI (``/v1/projects/<p>/locations/<l>/publishers/google/models/<model>:generateContent``,
an OAuth bearer token). ``:streamGenerateContent?alt=sse`` streams server-sent events whose data
are whole ``GenerateContentResponse`` chunks, without ``event:`` names; the last one carries the
candidate's ``finishReason``.

The model is named in the path, not the body; the answer names the model that served it in
``modelVersion``; usage is ``usageMetadata.promptTokenCount`` / ``candidatesTokenCount``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llm.providers.base import Answer
from pytest_llm.providers.sse import Event

#: Given to clients in replay when GEMINI_API_KEY is unset; never sent anywhere.
PLACEHOLDER_API_KEY = "pytest-llm-replay-placeholder-gemini-key"
API_KEY_VARIABLE = "GEMINI_API_KEY"
#: The google-genai SDK's base URL variable for the Gemini Developer API.
BASE_URL_VARIABLE = "GOOGLE_GEMINI_BASE_URL"

#: ``.../models/<model>:<method>`` (also ``tunedModels/`` and Vertex ``endpoints/``).
_METHOD_PATH = re.compile(
    r"/(?:models|tunedModels|endpoints)/(?P<model>[^/:]+):"
    r"(?P<method>generateContent|streamGenerateContent|countTokens|embedContent|batchEmbedContents)$"
)
#: Finish reasons are on the last chunk; a prompt blocked outright has no candidates at all.
_ANSWERING_METHODS = frozenset({"generateContent", "streamGenerateContent"})


class GeminiProvider:
    name = "gemini"
    answer_endpoints = _ANSWERING_METHODS
    streamed_endpoints = frozenset({"streamGenerateContent"})
    end_marker_description = "a last chunk whose candidate has a finishReason"
    volatile_fields = frozenset({"responseId", "createTime"})
    volatile_headers = frozenset({"server-timing", "x-cloud-trace-context", "x-goog-request-id"})
    volatile_header_prefixes: tuple[str, ...] = ()
    credential_headers = frozenset({"x-goog-api-key"})
    credential_query_parameters = frozenset({"key"})
    credential_env_vars: tuple[str, ...] = (API_KEY_VARIABLE, "GOOGLE_API_KEY")
    replay_placeholders: Mapping[str, str] = {API_KEY_VARIABLE: PLACEHOLDER_API_KEY}
    #: Where the SDK reads its endpoint from: at loopback, recording needs no key.
    base_url_env_vars: tuple[str, ...] = (BASE_URL_VARIABLE,)

    def owns(self, host: str, path: str) -> bool:
        return _METHOD_PATH.search(_bare(path)) is not None

    def endpoint_of(self, path: str) -> str:
        """``generateContent``, ``streamGenerateContent``, ...: the method after the colon."""
        match = _METHOD_PATH.search(_bare(path))
        return match["method"] if match else _bare(path) or "/"

    def request_input(self, request: Mapping[str, Any]) -> Any:
        return request.get("contents")

    def request_model(self, path: str, request: Mapping[str, Any]) -> str | None:
        match = _METHOD_PATH.search(_bare(path))
        return match["model"] if match else None

    def last_user_text(self, request: Mapping[str, Any]) -> str | None:
        contents = request.get("contents")
        if isinstance(contents, str):
            return contents
        if not isinstance(contents, list):
            return None
        for content in reversed(contents):
            if isinstance(content, dict) and content.get("role", "user") == "user":
                texts = [part.get("text") for part in _parts(content)]
                joined = " ".join(text for text in texts if isinstance(text, str) and text)
                if joined:
                    return joined
        return None

    def answer(self, body: Any, endpoint: str) -> Answer:
        document = body if isinstance(body, dict) else {}
        prompt, completion = _usage(document)
        return Answer(
            text=_text(document) if "candidates" in document else None,
            tool_calls=tuple(_function_calls(document)),
            model=_model(document),
            prompt_tokens=prompt,
            completion_tokens=completion,
            document=body,
        )

    def stream_answer(self, events: Sequence[Event]) -> Answer:
        chunks = [chunk for chunk in (event.json() for event in events) if isinstance(chunk, dict)]
        final = _final_chunk(chunks)
        prompt, completion = _usage(final)
        return Answer(
            text="".join(self.event_text(chunk) for chunk in chunks),
            tool_calls=tuple(call for chunk in chunks for call in _function_calls(chunk)),
            model=_model(final),
            prompt_tokens=prompt,
            completion_tokens=completion,
            document=final,
        )

    def event_text(self, payload: Any) -> str:
        return _text(payload) if isinstance(payload, dict) else ""

    def stream_is_complete(self, events: Sequence[Event]) -> bool:
        """The last chunk's candidate has a ``finishReason``, the prompt was blocked
        (``promptFeedback.blockReason``), or the stream ended with an error object."""
        for event in reversed(events):
            payload = event.json()
            if not isinstance(payload, dict):
                continue
            if "error" in payload:
                return True
            feedback = payload.get("promptFeedback")
            if isinstance(feedback, dict) and feedback.get("blockReason"):
                return True
            candidate = _first_candidate(payload)
            return bool(candidate and candidate.get("finishReason"))
        return False


PROVIDER = GeminiProvider()


def _bare(path: str) -> str:
    return path.split("?", 1)[0].rstrip("/")


def _first_candidate(document: Mapping[str, Any]) -> dict[str, Any] | None:
    candidates = document.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return None


def _parts(content: Any) -> list[dict[str, Any]]:
    parts = content.get("parts") if isinstance(content, dict) else None
    return [part for part in parts if isinstance(part, dict)] if isinstance(parts, list) else []


def _candidate_parts(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    candidate = _first_candidate(document)
    return _parts(candidate.get("content")) if candidate else []


def _text(document: Mapping[str, Any]) -> str:
    """The answer text of the first candidate (thought summaries left out)."""
    return "".join(
        part["text"]
        for part in _candidate_parts(document)
        if isinstance(part.get("text"), str) and not part.get("thought")
    )


def _function_calls(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``functionCall`` parts as ``{id, name, arguments}``, arguments a JSON text (as OpenAI's)."""
    calls = []
    for part in _candidate_parts(document):
        call = part.get("functionCall")
        if isinstance(call, dict):
            arguments = call.get("args", {})
            calls.append(
                {
                    "id": call.get("id"),
                    "name": call.get("name"),
                    "arguments": json.dumps(arguments if arguments is not None else {}),
                }
            )
    return calls


def _model(document: Mapping[str, Any]) -> str | None:
    model = document.get("modelVersion")
    return model if isinstance(model, str) and model else None


def _final_chunk(chunks: Sequence[Any]) -> dict[str, Any]:
    """What a stream says about the whole answer: the last model version and usage seen."""
    merged: dict[str, Any] = {}
    for chunk in chunks:
        if not isinstance(chunk, dict):
            continue
        for field in ("modelVersion", "usageMetadata", "responseId"):
            if chunk.get(field) is not None:
                merged[field] = chunk[field]
    return merged


def _usage(document: Mapping[str, Any]) -> tuple[int | None, int | None]:
    usage = document.get("usageMetadata")
    if not isinstance(usage, dict):
        return None, None
    prompt = usage.get("promptTokenCount")
    completion = usage.get("candidatesTokenCount")
    return (
        prompt if isinstance(prompt, int) else None,
        completion if isinstance(completion, int) else None,
    )
