"""Anthropic's Messages API (``POST /v1/messages``), plain and streamed (server-sent events).

A plain answer is one ``message`` object: ``content`` blocks of type ``text`` and
``tool_use`` (``id``, ``name``, ``input``), ``usage.input_tokens`` / ``output_tokens``.
A stream is named events: ``message_start`` (the message, with ``usage.input_tokens``),
``content_block_start`` / ``content_block_delta`` (``text_delta`` text or
``input_json_delta`` partial JSON of a tool call's input) / ``content_block_stop``,
``message_delta`` (``usage.output_tokens``, cumulative), and ``message_stop``, its end marker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llm.providers import chat_messages
from pytest_llm.providers.base import Answer
from pytest_llm.providers.sse import Event

#: Given to clients in replay when ANTHROPIC_API_KEY is unset; never sent anywhere.
PLACEHOLDER_API_KEY = "sk-ant-pytest-llm-replay-placeholder"
API_KEY_VARIABLE = "ANTHROPIC_API_KEY"
BASE_URL_VARIABLE = "ANTHROPIC_BASE_URL"

#: ``/v1/messages`` and its sub-resources, behind any prefix (a gateway's ``/anthropic``).
_MESSAGES_PATH = re.compile(r"(?:.*/)?v1/messages(?P<rest>/count_tokens|/batches(?:/.*)?)?")
ENDPOINTS = {"": "messages", "/count_tokens": "messages.count_tokens"}
BATCHES_ENDPOINT = "messages.batches"

#: Events that close a stream properly; a stream without one was cut off.
_END_MARKERS = frozenset({"message_stop", "error"})


class AnthropicProvider:
    name = "anthropic"
    answer_endpoints = frozenset({"messages"})
    streamed_endpoints = frozenset({"messages"})
    end_marker_description = "event: message_stop"
    volatile_fields = frozenset({"id"})
    volatile_headers = frozenset(
        {"request-id", "anthropic-organization-id", "cf-ray", "x-request-id"}
    )
    volatile_header_prefixes: tuple[str, ...] = ("anthropic-ratelimit-", "x-stainless-")
    credential_headers = frozenset({"x-api-key", "anthropic-organization-id"})
    credential_query_parameters = frozenset({"x-api-key"})
    credential_env_vars: tuple[str, ...] = (API_KEY_VARIABLE, "ANTHROPIC_AUTH_TOKEN")
    replay_placeholders: Mapping[str, str] = {API_KEY_VARIABLE: PLACEHOLDER_API_KEY}
    #: Where the SDK reads its endpoint from: at loopback, recording needs no key.
    base_url_env_vars: tuple[str, ...] = (BASE_URL_VARIABLE,)

    def owns(self, host: str, path: str) -> bool:
        bare = path.split("?", 1)[0].rstrip("/")
        return _MESSAGES_PATH.fullmatch(bare.lstrip("/")) is not None

    def endpoint_of(self, path: str) -> str:
        """``messages`` for ``/v1/messages``; ``messages.count_tokens``, ``messages.batches``."""
        bare = path.split("?", 1)[0].rstrip("/")
        match = _MESSAGES_PATH.fullmatch(bare.lstrip("/"))
        if match is None:
            return bare or "/"
        rest = match.group("rest") or ""
        return ENDPOINTS.get(rest, BATCHES_ENDPOINT)

    def request_input(self, request: Mapping[str, Any]) -> Any:
        return request.get("messages")

    def request_model(self, path: str, request: Mapping[str, Any]) -> str | None:
        return chat_messages.body_model(request)

    def last_user_text(self, request: Mapping[str, Any]) -> str | None:
        return chat_messages.last_user_content(request, _content_text)

    def answer(self, body: Any, endpoint: str) -> Answer:
        document = body if isinstance(body, dict) else {}
        prompt, completion = _usage(document.get("usage"))
        blocks = document.get("content")
        return Answer(
            text=_blocks_text(blocks) if isinstance(blocks, list) else None,
            tool_calls=tuple(_tool_uses(blocks if isinstance(blocks, list) else [])),
            model=_string(document.get("model")),
            prompt_tokens=prompt,
            completion_tokens=completion,
            document=body,
        )

    def stream_answer(self, events: Sequence[Event]) -> Answer:
        payloads = [event.json() for event in events]
        message = _assembled_message(payloads)
        prompt, completion = _usage(message.get("usage"))
        return Answer(
            text="".join(self.event_text(payload) for payload in payloads),
            tool_calls=tuple(_tool_uses(message["content"])),
            model=_string(message.get("model")),
            prompt_tokens=prompt,
            completion_tokens=completion,
            document=message,
        )

    def event_text(self, payload: Any) -> str:
        """The text one ``content_block_delta`` of type ``text_delta`` adds."""
        if not isinstance(payload, dict) or payload.get("type") != "content_block_delta":
            return ""
        delta = payload.get("delta")
        if isinstance(delta, dict) and delta.get("type") == "text_delta":
            return _string(delta.get("text")) or ""
        return ""

    def stream_is_complete(self, events: Sequence[Event]) -> bool:
        """A ``message_stop`` (or ``error``) event."""
        for event in reversed(events):
            if event.name in _END_MARKERS:
                return True
            payload = event.json()
            if isinstance(payload, dict) and payload.get("type") in _END_MARKERS:
                return True
        return False


PROVIDER = AnthropicProvider()


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _usage(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    return _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type", "text") == "text"
        ]
        return " ".join(part for part in parts if isinstance(part, str) and part) or None
    return None


def _blocks_text(blocks: list[Any]) -> str:
    return "".join(
        block["text"]
        for block in blocks
        if isinstance(block, dict)
        and block.get("type") == "text"
        and isinstance(block.get("text"), str)
    )


def _tool_uses(blocks: list[Any]) -> list[dict[str, Any]]:
    """``tool_use`` blocks as ``{id, name, arguments}`` (arguments as JSON text, as OpenAI's)."""
    calls = []
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "tool_use":
            continue
        tool_input = block.get("input")
        arguments = tool_input if isinstance(tool_input, str) else json.dumps(tool_input or {})
        calls.append({"id": block.get("id"), "name": block.get("name"), "arguments": arguments})
    return calls


def _assembled_message(payloads: list[Any]) -> dict[str, Any]:
    """The message a stream builds: ``message_start``'s message, its content blocks filled in
    from the deltas, and the usage of ``message_delta`` (output tokens are cumulative there)."""
    message: dict[str, Any] = {}
    usage: dict[str, Any] = {}
    blocks: dict[int, dict[str, Any]] = {}
    partial_json: dict[int, str] = {}
    for payload in payloads:
        if not isinstance(payload, dict):
            continue
        kind = payload.get("type")
        if kind == "message_start" and isinstance(payload.get("message"), dict):
            message = {k: v for k, v in payload["message"].items() if k != "content"}
            if isinstance(message.get("usage"), dict):
                usage.update(message["usage"])
        elif kind == "content_block_start" and isinstance(payload.get("content_block"), dict):
            blocks[_index(payload, len(blocks))] = dict(payload["content_block"])
        elif kind == "content_block_delta" and isinstance(payload.get("delta"), dict):
            index = _index(payload, len(blocks) - 1)
            delta = payload["delta"]
            # a delta whose block never started is taken for the kind its delta says
            kind_of_block = "tool_use" if delta.get("type") == "input_json_delta" else "text"
            block = blocks.setdefault(index, {"type": kind_of_block})
            if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                block["text"] = _string(block.get("text")) or ""
                block["text"] += delta["text"]
            elif delta.get("type") == "input_json_delta":
                partial_json[index] = partial_json.get(index, "") + (
                    _string(delta.get("partial_json")) or ""
                )
        elif kind == "message_delta":
            if isinstance(payload.get("usage"), dict):
                usage.update({k: v for k, v in payload["usage"].items() if _count(v) is not None})
            if isinstance(payload.get("delta"), dict):
                message.update(payload["delta"])
    for index, text in partial_json.items():
        blocks.setdefault(index, {"type": "tool_use"})["input"] = _parsed_input(text)
    message["content"] = [blocks[index] for index in sorted(blocks)]
    if usage:
        message["usage"] = usage
    return message


def _parsed_input(text: str) -> Any:
    """A streamed tool input: the object its JSON fragments make, else the raw text."""
    try:
        return json.loads(text or "{}")
    except (ValueError, RecursionError):
        return text


def _index(payload: Mapping[str, Any], default: int) -> int:
    index = payload.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else max(default, 0)
