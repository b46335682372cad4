"""Server-sent events: parse a recorded stream and assemble what the model said."""

from __future__ import annotations

import dataclasses
import json
from typing import Any


@dataclasses.dataclass(frozen=True)
class Event:
    """One SSE event: its ``event:`` name (or None), its data, and where it starts in the stream."""

    name: str | None
    data: str
    offset: int

    def json(self) -> Any | None:
        """The data parsed as JSON, or None when it is not JSON (e.g. ``[DONE]``)."""
        try:
            return json.loads(self.data)
        except ValueError:
            return None


def is_event_stream(content_type: str | None) -> bool:
    return bool(content_type) and "text/event-stream" in (content_type or "").lower()


def parse_events(text: str) -> list[Event]:
    """Split an event stream into events (blank-line separated, per the SSE specification).

    Comment lines (``:``) and unknown fields are ignored; a truncated last event is kept.
    """
    events: list[Event] = []
    name: str | None = None
    data: list[str] = []
    start: int | None = None
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        if not stripped:
            if data or name is not None:
                events.append(Event(name, "\n".join(data), start if start is not None else offset))
            name, data, start = None, [], None
        elif not stripped.startswith(":"):
            field, _, value = stripped.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if start is None:
                start = offset
            if field == "data":
                data.append(value)
            elif field == "event":
                name = value
        offset += len(line.encode("utf-8"))
    if data or name is not None:
        events.append(Event(name, "\n".join(data), start if start is not None else offset))
    return events


def event_text(payload: Any) -> str:
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


def assemble_text(events: list[Event]) -> str:
    """The answer text of a stream: all content deltas in order."""
    return "".join(event_text(event.json()) for event in events)


def first_content_offset(events: list[Event]) -> int | None:
    """Byte offset of the first event that carries answer text (for time to first token)."""
    for event in events:
        if event_text(event.json()):
            return event.offset
    return None


def function_call_item(item: Any) -> dict[str, Any] | None:
    """A Responses API output item of type ``function_call`` as ``{id, name, arguments}``."""
    if not isinstance(item, dict) or item.get("type") != "function_call":
        return None
    return {
        "id": item.get("call_id") or item.get("id"),
        "name": item.get("name"),
        "arguments": item.get("arguments"),
    }


def assemble_tool_calls(events: list[Event]) -> list[dict[str, Any]]:
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


#: Events that close a stream properly; a stream without one was cut off.
_END_MARKERS = frozenset({"response.completed", "response.failed", "response.incomplete", "error"})


def is_complete(events: list[Event]) -> bool:
    """Whether an OpenAI-style stream reached its end (``[DONE]`` or a final Responses event)."""
    for event in reversed(events):
        if event.data.strip() == "[DONE]" or event.name in _END_MARKERS:
            return True
        payload = event.json()
        if isinstance(payload, dict) and payload.get("type") in _END_MARKERS:
            return True
    return False
