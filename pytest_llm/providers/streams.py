"""Streamed answers of every wire form: server-sent events (``text/event-stream``), NDJSON
(``application/x-ndjson``, one JSON document a line, as Ollama streams) and the AWS event
stream's binary frames (``application/vnd.amazon.eventstream``), as one list of events."""

from __future__ import annotations

from typing import Literal

from pytest_llm.providers import aws_event_stream, ndjson, sse
from pytest_llm.providers.sse import Event

#: How a streamed answer is framed.
StreamFormat = Literal["sse", "ndjson", "aws_event_stream"]


def stream_format(content_type: str | None) -> StreamFormat | None:
    """The wire form of a response of this content type; None when it is not a stream."""
    if sse.is_event_stream(content_type):
        return "sse"
    if ndjson.is_ndjson_stream(content_type):
        return "ndjson"
    if aws_event_stream.is_aws_event_stream(content_type):
        return "aws_event_stream"
    return None


def is_stream(content_type: str | None) -> bool:
    """Whether a response of this content type is a stream of events."""
    return stream_format(content_type) is not None


def parse_stream(content_type: str | None, body: bytes | str) -> list[Event]:
    """The events of a streamed body (none when the content type is not a stream's)."""
    return events_of(stream_format(content_type), body)


def events_of(form: StreamFormat | None, body: bytes | str) -> list[Event]:
    """The events of a body of this wire form (none when it is no stream): an SSE stream's
    events, an NDJSON stream's lines, an AWS event stream's frames."""
    if form is None:
        return []
    if form == "aws_event_stream":
        return aws_event_stream.events(body.encode("utf-8") if isinstance(body, str) else body)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return ndjson.parse_lines(text) if form == "ndjson" else sse.parse_events(text)
