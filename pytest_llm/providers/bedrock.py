"""Amazon Bedrock's Converse API (boto3's ``bedrock-runtime`` client): ``POST
/model/<modelId>/converse`` answers JSON, ``POST /model/<modelId>/converse-stream`` answers an
AWS event stream (``application/vnd.amazon.eventstream``, binary frames:
:mod:`pytest_llm.providers.aws_event_stream`).

The model is the path's (URL-encoded: ``anthropic.claude-3-5-sonnet-20240620-v1%3A0``); answers
do not name it. A plain answer is ``output.message.content`` blocks (``text``, ``toolUse``
with ``toolUseId``, ``name``, ``input``), ``stopReason``, ``usage.inputTokens`` /
``outputTokens``. A stream is events named by their ``:event-type``: ``messageStart``,
``contentBlockStart`` (a tool use's id and name), ``contentBlockDelta`` (``delta.text``, or
``delta.toolUse.input`` pieces of a tool's JSON input), ``contentBlockStop``, ``messageStop``
(``stopReason``: the end marker) and ``metadata`` (usage). Requests are signed with SigV4.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from pytest_llm.providers.base import Answer
from pytest_llm.providers.sse import Event

#: Given to botocore in replay when unset; never sent anywhere (and not shaped like a real key,
#: so that no scrubber mistakes it for one).
PLACEHOLDER_ACCESS_KEY_ID = "pytest-llm-replay-placeholder-aws-access-key-id"
PLACEHOLDER_SECRET_ACCESS_KEY = "pytest-llm-replay-placeholder-aws-secret-access-key"
ACCESS_KEY_VARIABLE = "AWS_ACCESS_KEY_ID"
SECRET_KEY_VARIABLE = "AWS_SECRET_ACCESS_KEY"
SESSION_TOKEN_VARIABLE = "AWS_SESSION_TOKEN"
#: Bedrock API keys (botocore sends them as ``Authorization: Bearer``).
BEARER_TOKEN_VARIABLE = "AWS_BEARER_TOKEN_BEDROCK"
#: Set in replay so botocore never asks the instance metadata endpoint (169.254.169.254) for
#: credentials or a region.
METADATA_DISABLED_VARIABLE = "AWS_EC2_METADATA_DISABLED"
REGION_VARIABLE = "AWS_DEFAULT_REGION"
PLACEHOLDER_REGION = "us-east-1"

CONVERSE = "converse"
CONVERSE_STREAM = "converse-stream"
_PATH = re.compile(r"(?:.*)/model/(?P<model>[^/]+)/(?P<operation>converse|converse-stream)")

#: Frames that end a stream: ``messageStop``, or an exception the service sent instead.
END_EVENT = "messageStop"


class BedrockProvider:
    name = "bedrock"
    answer_endpoints = frozenset({CONVERSE, CONVERSE_STREAM})
    streamed_endpoints = frozenset({CONVERSE_STREAM})
    end_marker_description = "a messageStop event"
    #: Tool-use ids are made up on every call; ``p`` is the padding Bedrock adds to stream
    #: events so that their sizes say nothing.
    volatile_fields = frozenset({"toolUseId", "p"})
    volatile_headers = frozenset({"x-amzn-requestid", "x-amzn-bedrock-invocation-latency"})
    volatile_header_prefixes: tuple[str, ...] = ()
    credential_headers = frozenset({"x-amz-security-token"})
    credential_query_parameters = frozenset(
        {"x-amz-signature", "x-amz-credential", "x-amz-security-token"}
    )
    credential_env_vars: tuple[str, ...] = (
        ACCESS_KEY_VARIABLE,
        SECRET_KEY_VARIABLE,
        SESSION_TOKEN_VARIABLE,
        BEARER_TOKEN_VARIABLE,
    )
    replay_placeholders: Mapping[str, str] = {
        ACCESS_KEY_VARIABLE: PLACEHOLDER_ACCESS_KEY_ID,
        SECRET_KEY_VARIABLE: PLACEHOLDER_SECRET_ACCESS_KEY,
        METADATA_DISABLED_VARIABLE: "true",
        REGION_VARIABLE: PLACEHOLDER_REGION,
    }

    def owns(self, host: str, path: str) -> bool:
        return _PATH.fullmatch(_bare(path)) is not None

    def missing_credentials_hint(self, error: BaseException) -> str | None:
        """botocore's ``NoCredentialsError`` (anywhere in the chain) says which variables to
        set; it names none itself ("Unable to locate credentials")."""
        seen: BaseException | None = error
        for _ in range(5):
            if seen is None:
                break
            kind = type(seen)
            if kind.__name__ == "NoCredentialsError" and kind.__module__.startswith("botocore"):
                return (
                    f"botocore found no AWS credentials: set {ACCESS_KEY_VARIABLE} and "
                    f"{SECRET_KEY_VARIABLE} (and {SESSION_TOKEN_VARIABLE} for temporary "
                    "credentials), or AWS_PROFILE (they are never written to a cassette)"
                )
            seen = seen.__cause__ or seen.__context__
        return None

    def endpoint_of(self, path: str) -> str:
        """``converse`` or ``converse-stream``: the path's last word."""
        match = _PATH.fullmatch(_bare(path))
        return match["operation"] if match else _bare(path) or "/"

    def request_input(self, request: Mapping[str, Any]) -> Any:
        return request.get("messages")

    def request_model(self, path: str, request: Mapping[str, Any]) -> str | None:
        """The path's model id, URL-decoded (``anthropic.claude-3-5-sonnet-20240620-v1:0``)."""
        match = _PATH.fullmatch(_bare(path))
        return unquote(match["model"]) if match else None

    def last_user_text(self, request: Mapping[str, Any]) -> str | None:
        messages = request.get("messages")
        if not isinstance(messages, list):
            return None
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                texts = [block.get("text") for block in _blocks(message.get("content"))]
                joined = " ".join(text for text in texts if isinstance(text, str) and text)
                if joined:
                    return joined
        return None

    def answer(self, body: Any, endpoint: str) -> Answer:
        document = body if isinstance(body, dict) else {}
        output = document.get("output")
        message = output.get("message") if isinstance(output, dict) else None
        blocks = _blocks(message.get("content")) if isinstance(message, dict) else []
        prompt, completion = _usage(document.get("usage"))
        return Answer(
            text=_blocks_text(blocks) if isinstance(message, dict) else None,
            tool_calls=tuple(_tool_uses(blocks)),
            prompt_tokens=prompt,
            completion_tokens=completion,
            document=body,
        )

    def stream_answer(self, events: Sequence[Event]) -> Answer:
        message = _assembled_message(events)
        prompt, completion = _usage(message.get("usage"))
        blocks = _blocks(message["output"]["message"]["content"])
        return Answer(
            text="".join(self.event_text(_payload(event)) for event in events),
            tool_calls=tuple(_tool_uses(blocks)),
            prompt_tokens=prompt,
            completion_tokens=completion,
            document=message,
        )

    def event_text(self, payload: Any) -> str:
        """The text of a ``contentBlockDelta``'s ``delta.text``."""
        if not isinstance(payload, dict):
            return ""
        delta = payload.get("delta")
        if isinstance(delta, dict) and "toolUse" not in delta:
            return _string(delta.get("text")) or ""
        return ""

    def stream_is_complete(self, events: Sequence[Event]) -> bool:
        """A ``messageStop`` event, or an exception frame (the service's error ends it)."""
        return any(
            event.name == END_EVENT or event.message_type in ("exception", "error")
            for event in events
        )


PROVIDER = BedrockProvider()


def _bare(path: str) -> str:
    return path.split("?", 1)[0].rstrip("/")


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _payload(event: Event) -> Any:
    """A stream event's payload; text-delta events only (no stray ``delta`` elsewhere)."""
    return event.json() if event.name in (None, "contentBlockDelta") else None


def _blocks(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, dict)]


def _usage(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    return _count(usage.get("inputTokens")), _count(usage.get("outputTokens"))


def _blocks_text(blocks: list[dict[str, Any]]) -> str:
    return "".join(block["text"] for block in blocks if isinstance(block.get("text"), str))


def _tool_uses(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``toolUse`` blocks as ``{id, name, arguments}`` (arguments as JSON text, as OpenAI's)."""
    calls = []
    for block in blocks:
        tool_use = block.get("toolUse")
        if not isinstance(tool_use, dict):
            continue
        tool_input = tool_use.get("input")
        arguments = tool_input if isinstance(tool_input, str) else json.dumps(tool_input or {})
        calls.append(
            {"id": tool_use.get("toolUseId"), "name": tool_use.get("name"), "arguments": arguments}
        )
    return calls


def _assembled_message(events: Sequence[Event]) -> dict[str, Any]:
    """The Converse answer a stream builds: ``{output: {message: {role, content}},
    stopReason, usage, metrics}``, tool inputs parsed from their joined pieces."""
    role: Any = "assistant"
    blocks: dict[int, dict[str, Any]] = {}
    tool_inputs: dict[int, str] = {}
    message: dict[str, Any] = {}
    for event in events:
        payload = event.json()
        if not isinstance(payload, dict):
            continue
        index = _index(payload)
        if event.name == "messageStart":
            role = payload.get("role", role)
        elif event.name == "contentBlockStart":
            start = payload.get("start")
            tool_use = start.get("toolUse") if isinstance(start, dict) else None
            if isinstance(tool_use, dict):
                blocks[index] = {"toolUse": dict(tool_use)}
        elif event.name == "contentBlockDelta" and isinstance(payload.get("delta"), dict):
            delta = payload["delta"]
            if isinstance(delta.get("toolUse"), dict):
                blocks.setdefault(index, {"toolUse": {}})
                piece = _string(delta["toolUse"].get("input")) or ""
                tool_inputs[index] = tool_inputs.get(index, "") + piece
            elif isinstance(delta.get("text"), str):
                block = blocks.setdefault(index, {"text": ""})
                block["text"] = (_string(block.get("text")) or "") + delta["text"]
        elif event.name == END_EVENT:
            message["stopReason"] = payload.get("stopReason")
        elif event.name == "metadata":
            for field in ("usage", "metrics"):
                if isinstance(payload.get(field), dict):
                    message[field] = payload[field]
    for index, text in tool_inputs.items():
        tool_use = blocks[index].get("toolUse")
        if isinstance(tool_use, dict):
            tool_use["input"] = _parsed_input(text)
    content = [blocks[index] for index in sorted(blocks)]
    return {"output": {"message": {"role": role, "content": content}}, **message}


def _parsed_input(text: str) -> Any:
    """A streamed tool input: the object its JSON pieces make, else the raw text."""
    try:
        return json.loads(text or "{}")
    except (ValueError, RecursionError):
        return text


def _index(payload: Mapping[str, Any]) -> int:
    index = payload.get("contentBlockIndex")
    return index if isinstance(index, int) and not isinstance(index, bool) else 0
