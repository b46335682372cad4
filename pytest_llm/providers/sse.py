"""Server-sent events: split a recorded stream into events.

What the events say is each provider's business (:mod:`pytest_llm.providers`)."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Event:
    """One streamed event: its name (SSE's ``event:``, an AWS frame's ``:event-type``) or None,
    its data (one line of an NDJSON stream, :mod:`pytest_llm.providers.ndjson`), and where it
    starts in the stream; an AWS frame's ``:message-type`` too."""

    name: str | None
    data: str
    offset: int
    message_type: str | None = None

    def json(self) -> Any | None:
        """The data parsed as JSON, or None when it is not JSON (e.g. ``[DONE]``)."""
        from pytest_llm.cassette.bounded_json import parse_json  # the cassette imports this

        return parse_json(self.data)


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
