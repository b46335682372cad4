"""Anthropic's Messages API on the local server: ``POST /v1/messages``, plain and streamed.

Bodies and events follow the shapes the official ``anthropic`` SDK parses: a ``message`` with
``text`` and ``tool_use`` content blocks and ``usage.input_tokens`` / ``output_tokens``; a
stream of named events (``message_start`` carrying the input tokens, ``content_block_*``,
``message_delta`` carrying the output tokens, ``message_stop``); errors as
``{"type": "error", "error": {"type", "message"}}``.

A scripted tool call's id ``call_...`` (the script's default) is sent as ``toolu_...``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pytest_llm.testing import fake_model
from pytest_llm.testing.fake_model import Answer, StreamEvent, split_into_pieces
from pytest_llm.testing.script import register_endpoints
from pytest_llm.testing.server import OpenAIRequestHandler, register_api_routes

ENDPOINT = "messages"

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str = "") -> dict[str, Any]:
    """Anthropic's error JSON for an HTTP status; `message` overrides the default text."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message or f"{kind} ({status})"}}


# ---------------------------------------------------------------- reading requests


def block_texts(content: Any) -> list[str]:
    """The texts of a message content: a string, or text and tool_result blocks."""
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, Mapping):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_result":
            texts += block_texts(block.get("content"))
        elif block.get("type") == "tool_use":
            texts.append(json.dumps(block.get("input") or {}))
    return texts


def request_texts(request: Mapping[str, Any]) -> list[str]:
    """The system prompt's and every message's texts."""
    texts = block_texts(request.get("system"))
    for message in request.get("messages") or ():
        if isinstance(message, Mapping):
            texts += block_texts(message.get("content"))
    return texts


def last_user_text(messages: Sequence[Any]) -> str:
    """The text blocks of the last ``user`` message that has any ("" if none). A user turn
    that holds only tool results is skipped: the question is still the last text a person
    typed, as the other APIs' servers read it."""
    for message in reversed(messages):
        if not (isinstance(message, Mapping) and message.get("role") == "user"):
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        blocks = content if isinstance(content, list) else []
        texts = [
            block["text"]
            for block in blocks
            if isinstance(block, Mapping) and isinstance(block.get("text"), str)
        ]
        if texts:
            return " ".join(texts)
    return ""


def request_problem(request: Any) -> str | None:
    """Why a request body is not a valid Messages request, or None."""
    if not isinstance(request, Mapping):
        return "The request body must be a JSON object."
    if not isinstance(request.get("model"), str):
        return "model: Field required"
    max_tokens = request.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Field required (a positive integer)"
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required (a non-empty list)"
    return None


# ---------------------------------------------------------------- bodies and streams


def _tool_use_block(call: Mapping[str, Any]) -> dict[str, Any]:
    call_id = str(call["id"])
    if call_id.startswith("call_"):
        call_id = "toolu_" + call_id.removeprefix("call_")
    try:
        tool_input = json.loads(call["function"]["arguments"])
    except ValueError:
        tool_input = call["function"]["arguments"]
    if not isinstance(tool_input, dict):
        tool_input = {"input": tool_input}
    return {
        "type": "tool_use",
        "id": call_id,
        "name": call["function"]["name"],
        "input": tool_input,
    }


def content_blocks(answer: Answer) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": answer.text}] if answer.text else []
    return blocks + [_tool_use_block(call) for call in answer.tool_calls]


def _stop_reason(answer: Answer) -> str:
    return "tool_use" if answer.tool_calls else "end_turn"


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "service_tier": "standard",
    }


def _message(answer: Answer, message_id: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": content,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _usage(answer.prompt_tokens, 1),
    }


def message_body(answer: Answer) -> dict[str, Any]:
    """A complete ``message`` object."""
    message = _message(answer, fake_model.new_id("msg_"), content_blocks(answer))
    message["stop_reason"] = _stop_reason(answer)
    message["usage"] = _usage(answer.prompt_tokens, answer.completion_tokens)
    return message


Phase = Literal["opening", "content", "closing"]


def _event(kind: str, phase: Phase, **fields: Any) -> StreamEvent:
    return StreamEvent({"type": kind, **fields}, phase, event=kind)


def message_stream_events(answer: Answer) -> list[StreamEvent]:
    """The named events of one streamed message, ending with ``message_stop``.

    Block starts and stops are framing ("opening": no delay, kept when truncated); the deltas
    are content; ``message_delta`` and ``message_stop`` close the stream."""
    message = _message(answer, fake_model.new_id("msg_"), [])
    events = [_event("message_start", "opening", message=message)]
    for index, block in enumerate(content_blocks(answer)):
        if block["type"] == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [
                {"type": "text_delta", "text": piece}
                for piece in split_into_pieces(block["text"], answer.chunk_chars)
            ]
        else:
            start = {**block, "input": {}}
            arguments = json.dumps(block["input"])
            deltas = [
                {"type": "input_json_delta", "partial_json": piece}
                for piece in split_into_pieces(arguments, answer.chunk_chars)
            ]
        events.append(_event("content_block_start", "opening", index=index, content_block=start))
        if index == 0:
            events.append(_event("ping", "opening"))
        events += [
            _event("content_block_delta", "content", index=index, delta=delta) for delta in deltas
        ]
        events.append(_event("content_block_stop", "opening", index=index))
    events.append(
        _event(
            "message_delta",
            "closing",
            delta={"stop_reason": _stop_reason(answer), "stop_sequence": None},
            usage={"output_tokens": answer.completion_tokens},
        )
    )
    events.append(_event("message_stop", "closing"))
    return events


# ---------------------------------------------------------------- the route


def serve_messages(handler: OpenAIRequestHandler, payload: Any, _match: re.Match[str]) -> None:
    problem = request_problem(payload)
    if problem is not None:
        handler.send_json(400, error_body(400, problem))
        return
    request: Mapping[str, Any] = payload
    said = last_user_text(request["messages"])
    plan = handler.state.plan(ENDPOINT, [said])
    answer = plan.answer(request, said, fake_model.count_prompt_tokens(request_texts(request)))
    handler.respond(
        ENDPOINT,
        plan,
        request.get("stream") is True,
        lambda: message_body(answer),
        lambda: message_stream_events(answer),
        error_body=error_body,
    )


register_endpoints([ENDPOINT])
register_api_routes([("POST", re.compile(r"/v1/messages/?"), serve_messages)])
