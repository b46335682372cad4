"""One recorded HTTP exchange, as pytest_llm keeps it in memory and hands it to vcrpy."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit

from pytest_llm.cassette.bounded_json import MAX_JSON_DEPTH, parse_json
from pytest_llm.providers import Provider, provider_for, sse, streams
from pytest_llm.providers.streams import StreamFormat

__all__ = ["MAX_JSON_DEPTH", "Interaction", "StreamFormat", "Timing", "parse_json", "path_of"]


@dataclasses.dataclass
class Timing:
    """Measured at the transport while recording: seconds from sending the request."""

    latency_s: float | None = None
    ttft_s: float | None = None


#: The phases of a case's function-scoped fixtures whose calls its cassette holds.
FIXTURE_PHASES = ("setup", "teardown")


@dataclasses.dataclass
class Interaction:
    """A request and its response; bodies as bytes, headers with lower-case names."""

    method: str
    path: str  # path and query, no scheme/host/port: the host is not part of a match
    request_body: bytes
    status: int
    response_headers: dict[str, list[str]]
    response_body: bytes
    reason: str = ""
    request_content_type: str | None = None
    timing: Timing = dataclasses.field(default_factory=Timing)
    #: A foreign (vcrpy) cassette's request headers, read so that ``convert`` can learn the
    #: credentials they hold; never written, never compared.
    request_headers: dict[str, list[str]] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )
    #: Made by a function-scoped fixture of the case: ``setup`` or ``teardown``; None for the
    #: test body's calls.
    phase: str | None = None

    @property
    def content_type(self) -> str:
        values = self.response_headers.get("content-type") or [""]
        return values[0]

    @property
    def stream_format(self) -> StreamFormat | None:
        """``sse``, ``ndjson`` (Ollama), ``aws_event_stream`` (Bedrock), or None for an answer
        that is not a stream."""
        return streams.stream_format(self.content_type)

    @property
    def is_stream(self) -> bool:
        return self.stream_format is not None

    def request_json(self) -> Any | None:
        return parse_json(self.request_body)

    def response_json(self) -> Any | None:
        return None if self.is_stream else parse_json(self.response_body)

    @property
    def provider(self) -> Provider:
        """The LLM API this exchange speaks (OpenAI's format unless another provider claims it)."""
        return provider_for(self.path)

    def events(self) -> list[sse.Event]:
        """The events of a streamed answer (an NDJSON stream's lines, an AWS event stream's
        frames); [] for a plain one."""
        return streams.parse_stream(self.content_type, self.response_body)

    def to_vcr_response(self) -> dict[str, Any]:
        """The response in the shape vcrpy's stubs replay."""
        return {
            "status": {"code": self.status, "message": self.reason},
            "headers": {name: list(values) for name, values in self.response_headers.items()},
            "body": {"string": self.response_body},
        }


def path_of(uri: str) -> str:
    """``/v1/chat/completions?x=1`` from a full URL (scheme, host and port dropped)."""
    parts = urlsplit(uri)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path
