"""Google's Gemini API for the local server: ``generateContent`` and
``streamGenerateContent?alt=sse``, on the Gemini Developer API paths (``/v1beta/models/<model>:...``)
and the Vertex AI ones (``/v1/projects/<p>/locations/<l>/publishers/google/models/<model>:...``,
and Vertex express mode's ``/v1/publishers/google/models/<model>:...``).

Bodies are shaped as the google-genai SDK reads them: ``candidates[0].content.parts`` with
``text`` or ``functionCall`` parts, ``finishReason``, ``usageMetadata``, ``modelVersion``,
``responseId`` (and ``createTime`` on Vertex); errors as ``{"error": {code, message, status}}``.
A stream is a series of whole response chunks; its last one carries the ``finishReason`` (the
closing event a ``truncate`` fault leaves out).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pytest_llm.testing import fake_model
from pytest_llm.testing.fake_model import StreamEvent
from pytest_llm.testing.script import register_endpoints
from pytest_llm.testing.server import register_api_routes

if TYPE_CHECKING:
    from pytest_llm.testing.server import OpenAIRequestHandler

DEFAULT_MODEL = "gemini-2.5-flash"
GENERATE = "generateContent"
STREAM = "streamGenerateContent"

#: Every path the SDK sends generateContent to: API version, then Vertex's project and location
#: (absent in express mode and on the Gemini Developer API), then the model.
PATH = re.compile(
    r"/(?P<version>v1|v1beta|v1beta1|v1alpha)"
    r"(?P<vertex>(?:/projects/[^/]+/locations/[^/]+)?/publishers/google)?"
    r"/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)"
)

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "API key not valid. Please pass a valid API key.",
    403: "The caller does not have permission.",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}


def error_body(status: int, message: str = "") -> dict[str, Any]:
    """Google's error JSON: ``{"error": {"code", "message", "status"}}``."""
    fallback = "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"
    return {
        "error": {
            "code": status,
            "message": message or _DEFAULT_MESSAGES.get(status, "Error."),
            "status": _STATUS_NAMES.get(status, fallback),
        }
    }


class InvalidArgument(Exception):
    """A request the fake Gemini API answers with 400 INVALID_ARGUMENT."""


# ---------------------------------------------------------------- reading requests


def _parts(content: Any) -> list[Mapping[str, Any]]:
    parts = content.get("parts") if isinstance(content, Mapping) else None
    return [part for part in parts if isinstance(part, Mapping)] if isinstance(parts, list) else []


def _part_texts(content: Any) -> list[str]:
    return [part["text"] for part in _parts(content) if isinstance(part.get("text"), str)]


def contents_of(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The request's ``contents``; InvalidArgument when missing or not a list of contents."""
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        raise InvalidArgument("* GenerateContentRequest.contents: contents is not specified")
    if not all(isinstance(content, Mapping) for content in contents):
        raise InvalidArgument(
            "Invalid JSON payload received. 'contents' must hold Content objects."
        )
    return contents


def last_user_text(contents: list[Mapping[str, Any]]) -> str:
    """The text of the last ``user`` content ("" if none): what a reply's ``match`` sees."""
    for content in reversed(contents):
        if content.get("role", "user") == "user":
            texts = _part_texts(content)
            if texts:
                return " ".join(texts)
    return ""


def prompt_texts(request: Mapping[str, Any], contents: list[Mapping[str, Any]]) -> list[str]:
    """Every text of the prompt: system instruction and contents (for the token count)."""
    texts = _part_texts(request.get("systemInstruction"))
    for content in contents:
        texts += _part_texts(content)
        texts += [
            json.dumps(part["functionResponse"])
            for part in _parts(content)
            if "functionResponse" in part
        ]
    return texts


# ---------------------------------------------------------------- answers


def _function_call_part(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call["function"]
    return {"functionCall": {"name": function["name"], "args": json.loads(function["arguments"])}}


def _usage(answer: fake_model.Answer, completion: bool = True) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "promptTokenCount": answer.prompt_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": answer.prompt_tokens}],
    }
    if completion:
        usage["candidatesTokenCount"] = answer.completion_tokens
    usage["totalTokenCount"] = answer.prompt_tokens + (
        answer.completion_tokens if completion else 0
    )
    return usage


def _envelope(answer: fake_model.Answer, vertex: bool, response_id: str) -> dict[str, Any]:
    envelope: dict[str, Any] = {"modelVersion": answer.model, "responseId": response_id}
    if vertex:
        envelope["createTime"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    return envelope


def _candidate(parts: list[dict[str, Any]], finish: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    return candidate


def _new_response_id() -> str:
    return secrets.token_urlsafe(18)


def response_body(answer: fake_model.Answer, vertex: bool) -> dict[str, Any]:
    """One ``GenerateContentResponse``."""
    parts: list[dict[str, Any]] = [{"text": answer.text}] if answer.text else []
    parts += [_function_call_part(call) for call in answer.tool_calls]
    return {
        "candidates": [_candidate(parts or [{"text": ""}], finish=True)],
        "usageMetadata": _usage(answer),
        **_envelope(answer, vertex, _new_response_id()),
    }


def stream_events(answer: fake_model.Answer, vertex: bool) -> list[StreamEvent]:
    """The chunks of one ``streamGenerateContent?alt=sse`` stream: text pieces and function
    calls, then a closing chunk with the ``finishReason`` and the whole usage."""
    envelope = _envelope(answer, vertex, _new_response_id())
    pieces: list[dict[str, Any]] = [
        {"text": piece} for piece in fake_model.split_into_pieces(answer.text, answer.chunk_chars)
    ]
    pieces += [_function_call_part(call) for call in answer.tool_calls]
    events = [
        StreamEvent(
            {
                "candidates": [_candidate([part], finish=False)],
                "usageMetadata": _usage(answer, completion=False),
                **envelope,
            },
            "content",
        )
        for part in pieces
    ]
    closing = {
        "candidates": [_candidate([{"text": ""}], finish=True)],
        "usageMetadata": _usage(answer),
        **envelope,
    }
    events.append(StreamEvent(closing, "closing"))
    return events


# ---------------------------------------------------------------- the route


def serve_generate_content(
    handler: OpenAIRequestHandler, payload: Any, match: re.Match[str]
) -> None:
    """``:generateContent`` and ``:streamGenerateContent`` on any of the API's paths."""
    method = match["method"]
    try:
        if not isinstance(payload, dict):
            raise InvalidArgument("Invalid JSON payload received. The body must be a JSON object.")
        contents = contents_of(payload)
    except InvalidArgument as error:
        handler.send_json(400, error_body(400, str(error)))
        return
    said = last_user_text(contents)
    plan = handler.state.plan(method, [said])
    tokens = fake_model.count_prompt_tokens(prompt_texts(payload, contents))
    answer = plan.answer({"model": match["model"] or DEFAULT_MODEL}, said, tokens)
    vertex = match["vertex"] is not None
    handler.respond(
        method,
        plan,
        method == STREAM,
        lambda: response_body(answer, vertex),
        lambda: stream_events(answer, vertex),
        error_body=error_body,
    )


register_endpoints([GENERATE, STREAM])
register_api_routes([("POST", PATH, serve_generate_content)])
