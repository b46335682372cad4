"""Amazon Bedrock's Converse API on the local server: ``POST /model/<modelId>/converse`` (JSON)
and ``POST /model/<modelId>/converse-stream`` (an AWS event stream of binary frames with valid
checksums), as boto3's ``bedrock-runtime`` client reads them.

Point boto3 here with ``boto3.client("bedrock-runtime", endpoint_url=server.root_url, ...)``.
Replies name the endpoint ``bedrock.converse`` (plain and streamed). Errors are AWS JSON
errors: ``{"message": ...}`` with the error's name in the ``x-amzn-errortype`` header, which
botocore turns into ``ThrottlingException``, ``ValidationException``, ... A ``truncate`` fault
leaves out the closing events (``messageStop`` and ``metadata``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

from pytest_llm.providers import aws_event_stream
from pytest_llm.testing import fake_model
from pytest_llm.testing.script import register_endpoints
from pytest_llm.testing.server import register_api_routes

if TYPE_CHECKING:
    from pytest_llm.testing.server import CallPlan, OpenAIRequestHandler

ENDPOINT = "bedrock.converse"
PATH = re.compile(r"/model/(?P<model>[^/]+)/(?P<operation>converse|converse-stream)")
ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"

#: The error botocore raises for each status, as Bedrock names them.
ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_DEFAULT_MESSAGES = {
    400: "Malformed input request, please reformat your input and try again.",
    403: "You don't have access to the model with the specified model ID.",
    429: "Too many requests, please wait before trying again.",
    503: "Model is currently overloaded, please try again later.",
}

Phase = Literal["opening", "content", "closing"]


def error_type(status: int) -> str:
    fallback = "InternalServerException" if status >= 500 else "ValidationException"
    return ERROR_TYPES.get(status, fallback)


def error_body(status: int, message: str = "") -> dict[str, Any]:
    """AWS's JSON error body: ``{"message": ...}`` (the type is in ``x-amzn-errortype``)."""
    return {"message": message or _DEFAULT_MESSAGES.get(status, "The request failed.")}


def send_error(handler: OpenAIRequestHandler, status: int, message: str = "") -> None:
    handler.send_json(
        status,
        error_body(status, message),
        {
            "x-amzn-errortype": f"{error_type(status)}:{ERROR_NAMESPACE}",
            "x-amzn-requestid": str(uuid.uuid4()),
        },
    )


class ValidationError(Exception):
    """A request Bedrock answers with 400 ValidationException."""


# ---------------------------------------------------------------- reading requests


def _blocks(message: Any) -> list[Mapping[str, Any]]:
    content = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, Mapping)]


def _texts(blocks: list[Mapping[str, Any]]) -> list[str]:
    return [block["text"] for block in blocks if isinstance(block.get("text"), str)]


def _tool_result_texts(blocks: list[Mapping[str, Any]]) -> list[str]:
    texts = []
    for block in blocks:
        result = block.get("toolResult")
        if isinstance(result, Mapping):
            for part in _blocks(result):
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif "json" in part:
                    texts.append(json.dumps(part["json"]))
    return texts


def messages_of(request: Any) -> list[Mapping[str, Any]]:
    if not isinstance(request, Mapping):
        raise ValidationError("The request body must be a JSON object.")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValidationError("A conversation must start with a user message.")
    if not all(isinstance(message, Mapping) for message in messages):
        raise ValidationError("Each message must be an object with a role and content.")
    return messages


def last_user_text(messages: list[Mapping[str, Any]]) -> str:
    """The text of the last user message with text (a tool result is not user text)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            texts = _texts(_blocks(message))
            if texts:
                return " ".join(texts)
    return ""


def prompt_texts(request: Mapping[str, Any], messages: list[Mapping[str, Any]]) -> list[str]:
    system = request.get("system")
    texts = (
        _texts([block for block in system if isinstance(block, Mapping)])
        if isinstance(system, list)
        else []
    )
    for message in messages:
        blocks = _blocks(message)
        texts += _texts(blocks) + _tool_result_texts(blocks)
    return texts


# ---------------------------------------------------------------- answers


def new_tool_use_id() -> str:
    return "tooluse_" + secrets.token_urlsafe(16)


def _tool_uses(answer: fake_model.Answer) -> list[dict[str, Any]]:
    return [
        {
            "toolUseId": new_tool_use_id(),
            "name": call["function"]["name"],
            "arguments": call["function"]["arguments"],
        }
        for call in answer.tool_calls
    ]


def _usage(answer: fake_model.Answer) -> dict[str, int]:
    return {
        "inputTokens": answer.prompt_tokens,
        "outputTokens": answer.completion_tokens,
        "totalTokens": answer.prompt_tokens + answer.completion_tokens,
    }


def _stop_reason(answer: fake_model.Answer) -> str:
    return "tool_use" if answer.tool_calls else "end_turn"


def converse_body(answer: fake_model.Answer, latency_ms: int) -> dict[str, Any]:
    """A ``ConverseResponse``: text and ``toolUse`` blocks, stop reason, usage, metrics."""
    content: list[dict[str, Any]] = [{"text": answer.text}] if answer.text else []
    content += [
        {
            "toolUse": {
                "toolUseId": use["toolUseId"],
                "name": use["name"],
                "input": json.loads(use["arguments"]),
            }
        }
        for use in _tool_uses(answer)
    ]
    return {
        "output": {"message": {"role": "assistant", "content": content or [{"text": ""}]}},
        "stopReason": _stop_reason(answer),
        "usage": _usage(answer),
        "metrics": {"latencyMs": latency_ms},
    }


@dataclasses.dataclass(frozen=True)
class EventFrame:
    """One event of a ConverseStream as sent: a binary frame; ``phase`` drives delays."""

    event_type: str
    payload: Mapping[str, Any]
    phase: Phase

    def encode(self) -> bytes:
        headers = {
            ":event-type": self.event_type,
            ":content-type": "application/json",
            ":message-type": "event",
        }
        return aws_event_stream.encode_frame(headers, json.dumps(self.payload).encode("utf-8"))


def converse_stream_events(answer: fake_model.Answer, latency_ms: int) -> list[EventFrame]:
    """``messageStart``, text deltas, tool uses (start, input pieces, stop), ``messageStop``,
    ``metadata``."""
    events = [EventFrame("messageStart", {"role": "assistant"}, "opening")]
    index = 0
    if answer.text or not answer.tool_calls:
        events += [
            EventFrame(
                "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}, "content"
            )
            for piece in fake_model.split_into_pieces(answer.text, answer.chunk_chars)
        ]
        events.append(EventFrame("contentBlockStop", {"contentBlockIndex": 0}, "content"))
        index = 1
    for offset, use in enumerate(_tool_uses(answer)):
        block = index + offset
        start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
        events.append(
            EventFrame("contentBlockStart", {"contentBlockIndex": block, "start": start}, "opening")
        )
        events += [
            EventFrame(
                "contentBlockDelta",
                {"contentBlockIndex": block, "delta": {"toolUse": {"input": piece}}},
                "content",
            )
            for piece in fake_model.split_into_pieces(use["arguments"], answer.chunk_chars)
        ]
        events.append(EventFrame("contentBlockStop", {"contentBlockIndex": block}, "content"))
    events.append(EventFrame("messageStop", {"stopReason": _stop_reason(answer)}, "closing"))
    metadata = {"usage": _usage(answer), "metrics": {"latencyMs": latency_ms}}
    events.append(EventFrame("metadata", metadata, "closing"))
    return events


# ---------------------------------------------------------------- the route


def serve_converse(handler: OpenAIRequestHandler, payload: Any, match: re.Match[str]) -> None:
    """``converse`` and ``converse-stream`` for any model id."""
    try:
        messages = messages_of(payload)
    except ValidationError as error:
        send_error(handler, 400, str(error))
        return
    said = last_user_text(messages)
    plan: CallPlan = handler.state.plan(ENDPOINT, [said])
    if plan.status != 200:
        send_error(handler, plan.status, plan.rule_text)
        return
    tokens = fake_model.count_prompt_tokens(prompt_texts(payload, messages))
    answer = plan.answer({"model": unquote(match["model"])}, said, tokens)
    latency_ms = int(plan.latency_s * 1000)
    handler.respond(
        ENDPOINT,
        plan,
        match["operation"] == "converse-stream",
        lambda: converse_body(answer, latency_ms),
        lambda: converse_stream_events(answer, latency_ms),
        stream_type=aws_event_stream.CONTENT_TYPE,
        error_body=error_body,
    )


register_endpoints([ENDPOINT])
register_api_routes([("POST", PATH, serve_converse)])
