"""Streamed answers of either wire form: server-sent events (``text/event-stream``) and the AWS
event stream's binary frames (``application/vnd.amazon.eventstream``), as one list of events."""

from __future__ import annotations

from pytest_llm.providers import aws_event_stream, sse
from pytest_llm.providers.sse import Event


def is_stream(content_type: str | None) -> bool:
    """Whether a response of this content type is a stream of events."""
    return sse.is_event_stream(content_type) or aws_event_stream.is_aws_event_stream(content_type)


def parse_stream(content_type: str | None, body: bytes) -> list[Event]:
    """The events of a streamed body (none when the content type is not a stream's)."""
    if aws_event_stream.is_aws_event_stream(content_type):
        return aws_event_stream.events(body)
    if sse.is_event_stream(content_type):
        return sse.parse_events(body.decode("utf-8", "replace"))
    return []
