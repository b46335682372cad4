"""Newline-delimited JSON streams (``application/x-ndjson``): one JSON document per line, as
Ollama streams its answers. Each line is one :class:`~pytest_llm.providers.sse.Event` (no name),
so every provider reads both kinds of stream the same way.

What the lines say is each provider's business (:mod:`pytest_llm.providers`)."""

from __future__ import annotations

from pytest_llm.providers.sse import Event

#: Content types of NDJSON streams (lower case, without parameters).
CONTENT_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)


def is_ndjson_stream(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type in CONTENT_TYPES


def parse_lines(text: str) -> list[Event]:
    """One event per non-blank line (its data the line without its line ending), with the byte
    offset where the line starts; a truncated last line is kept."""
    events: list[Event] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        data = line.rstrip("\r\n")
        if data.strip():
            events.append(Event(None, data, offset))
        offset += len(line.encode("utf-8"))
    return events
