"""Cohere's v2 chat API on the local server: ``POST /v2/chat``, plain and streamed, as the
``cohere`` SDK's ``ClientV2`` reads it.

Point the SDK here with ``cohere.ClientV2(base_url=server.root_url)`` (the SDK reads
``CO_API_URL`` only when it is imported). Replies name the endpoint ``cohere.chat``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pytest_llm.testing import fake_model
from pytest_llm.testing.fake_model import Answer, StreamEvent
from pytest_llm.testing.script import register_endpoints
from pytest_llm.testing.server import OpenAIRequestHandler, register_api_routes

ENDPOINT = "cohere.chat"
#: Tokens Cohere's prompt template adds to every call: counted in ``usage.tokens`` but not
#: in ``usage.billed_units``, as the real API reports them.
TEMPLATE_TOKENS = 200

Phase = Literal["opening", "content", "closing"]

_ERROR_MESSAGES = {
    400: "invalid request",
    401: "invalid api token",
    404: "not found",
    422: "unprocessable entity",
    429: "You are using a Trial key, which is limited to 10 API calls / minute.",
}


def error_body(status: int, message: str = "") -> dict[str, Any]:
    """Cohere's error JSON: ``{id, message}``."""
    default = "internal server error" if status >= 500 else _ERROR_MESSAGES.get(status, "error")
    return {"id": str(uuid.uuid4()), "message": message or default}


def _finish_reason(answer: Answer) -> str:
    return "TOOL_CALL" if answer.tool_calls else "COMPLETE"


def _usage(answer: Answer) -> dict[str, Any]:
    return {
        "billed_units": {
            "input_tokens": answer.prompt_tokens,
            "output_tokens": answer.completion_tokens,
        },
        "tokens": {
            "input_tokens": answer.prompt_tokens + TEMPLATE_TOKENS,
            "output_tokens": answer.completion_tokens,
        },
    }


def _tool_call(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call["function"]
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": function["name"], "arguments": function["arguments"]},
    }


def chat_body(answer: Answer) -> dict[str, Any]:
    """A ``V2ChatResponse``: text content, or a tool plan and tool calls."""
    message: dict[str, Any] = {"role": "assistant"}
    if answer.tool_calls:
        message["tool_plan"] = answer.text
        message["tool_calls"] = [_tool_call(call) for call in answer.tool_calls]
    else:
        message["content"] = [{"type": "text", "text": answer.text}]
    return {
        "id": str(uuid.uuid4()),
        "message": message,
        "finish_reason": _finish_reason(answer),
        "usage": _usage(answer),
    }


def _event(kind: str, phase: Phase, **fields: Any) -> StreamEvent:
    return StreamEvent({"type": kind, **fields}, phase, event=kind)


def _message(**fields: Any) -> dict[str, Any]:
    return {"message": fields}


def chat_stream_events(answer: Answer) -> list[StreamEvent]:
    """The typed events of one stream, ending with ``message-end`` (finish reason, usage)."""
    pieces = fake_model.split_into_pieces(answer.text, answer.chunk_chars)
    start = _message(role="assistant", content=[], tool_plan="", tool_calls=[], citations=[])
    events = [_event("message-start", "opening", id=str(uuid.uuid4()), delta=start)]
    if answer.tool_calls:
        events += [
            _event("tool-plan-delta", "content", delta=_message(tool_plan=piece))
            for piece in pieces
        ]
        for index, call in enumerate(answer.tool_calls):
            first = {**_tool_call(call), "function": {**call["function"], "arguments": ""}}
            events.append(
                _event("tool-call-start", "content", index=index, delta=_message(tool_calls=first))
            )
            arguments = call["function"]["arguments"]
            events += [
                _event(
                    "tool-call-delta",
                    "content",
                    index=index,
                    delta=_message(tool_calls={"function": {"arguments": piece}}),
                )
                for piece in fake_model.split_into_pieces(arguments, answer.chunk_chars)
            ]
            events.append(_event("tool-call-end", "content", index=index))
    else:
        opening = _message(content={"type": "text", "text": ""})
        events.append(_event("content-start", "opening", index=0, delta=opening))
        events += [
            _event("content-delta", "content", index=0, delta=_message(content={"text": piece}))
            for piece in pieces
        ]
        events.append(_event("content-end", "closing", index=0))
    end = {"finish_reason": _finish_reason(answer), "usage": _usage(answer)}
    events.append(_event("message-end", "closing", delta=end))
    return events


def _serve_chat(handler: OpenAIRequestHandler, payload: Any, _match: re.Match[str]) -> None:
    request = payload if isinstance(payload, dict) else {}
    messages = request.get("messages")
    if not isinstance(messages, list) or not isinstance(request.get("model"), str):
        handler.send_json(400, error_body(400, "invalid request: model and messages are required"))
        return
    last_user_text = fake_model.last_user_chat_text(messages)
    plan = handler.state.plan(ENDPOINT, [last_user_text])
    prompt_tokens = fake_model.count_prompt_tokens(fake_model.chat_texts(messages))
    answer = plan.answer(request, last_user_text, prompt_tokens)
    handler.respond(
        ENDPOINT,
        plan,
        request.get("stream") is True,
        lambda: chat_body(answer),
        lambda: chat_stream_events(answer),
        error_body=error_body,
    )


register_endpoints([ENDPOINT])
register_api_routes([("POST", re.compile(r"/v2/chat/?"), _serve_chat)])
