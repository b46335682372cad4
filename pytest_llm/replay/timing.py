"""Latency and time to first token, measured at the transport while recording.

vcrpy reads a whole response before the client sees any of it, so timing taken in the
client is wrong for streams. While recording, pytest_llm wraps the connection pool of
httpcore / httpcore2 (below vcrpy, where the bytes arrive from the socket), and the read of
``http.client`` responses (urllib3, requests, boto3), and notes when the request was sent and
when each chunk arrived. The measurement travels to the recorder
in a context variable: each thread and each asyncio task has its own, so concurrent
requests are timed separately.
"""

from __future__ import annotations

import contextvars
import dataclasses
import http.client
import importlib.util
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from pytest_llm.providers import Provider, first_content_offset, streams


@dataclasses.dataclass
class TransportTiming:
    """When one request was sent and when each chunk of its response arrived."""

    started: float
    chunks: list[tuple[int, float]] = dataclasses.field(default_factory=list)  # (offset, time)
    received: int = 0
    finished: float | None = None

    def note_chunk(self, size: int) -> None:
        self.chunks.append((self.received, time.perf_counter()))
        self.received += size

    def latency_s(self) -> float:
        end = self.finished if self.finished is not None else time.perf_counter()
        return end - self.started

    def time_at_offset_s(self, offset: int) -> float | None:
        """Seconds from the request to the arrival of the chunk holding byte ``offset``."""
        arrived = None
        for start, at in self.chunks:
            if start > offset:
                break
            arrived = at
        return None if arrived is None else arrived - self.started

    def ttft_s(self, body: bytes, provider: Provider, content_type: str) -> float | None:
        """Time to the first chunk holding answer text of a stream (any wire form)."""
        events = streams.parse_stream(content_type, body)
        offset = first_content_offset(provider, events)
        return None if offset is None else self.time_at_offset_s(offset)


_current: contextvars.ContextVar[TransportTiming | None] = contextvars.ContextVar(
    "pytest_llm_transport_timing", default=None
)


def start() -> TransportTiming:
    """Begin timing a request in the current thread / task."""
    timing = TransportTiming(started=time.perf_counter())
    _current.set(timing)
    return timing


def take() -> TransportTiming | None:
    """The timing of the request that just completed here, cleared for the next one."""
    timing = _current.get()
    _current.set(None)
    return timing


class _TimedStream:
    def __init__(self, stream: Any, timing: TransportTiming) -> None:
        self._stream = stream
        self._timing = timing

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            self._timing.note_chunk(len(chunk))
            yield chunk
        self._timing.finished = time.perf_counter()

    def close(self) -> None:
        self._stream.close()


class _AsyncTimedStream:
    def __init__(self, stream: Any, timing: TransportTiming) -> None:
        self._stream = stream
        self._timing = timing

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            self._timing.note_chunk(len(chunk))
            yield chunk
        self._timing.finished = time.perf_counter()

    async def aclose(self) -> None:
        await self._stream.aclose()


def _timed_handle_request(original: Any) -> Any:
    def handle_request(self: Any, request: Any) -> Any:
        timing = start()
        response = original(self, request)
        response.stream = _TimedStream(response.stream, timing)
        return response

    return handle_request


def _timed_handle_async_request(original: Any) -> Any:
    async def handle_async_request(self: Any, request: Any) -> Any:
        timing = start()
        response = await original(self, request)
        response.stream = _AsyncTimedStream(response.stream, timing)
        return response

    return handle_async_request


def _timed_read(original: Any) -> Any:
    """``http.client.HTTPResponse.read`` that, while a request made through http.client
    (urllib3, requests, boto3) is being timed, reads the whole body piece by piece as it
    arrives and notes each piece: vcrpy reads the body at once, so this is where its chunks can
    be timed."""

    def read(self: Any, amt: int | None = None) -> bytes:
        timing = _current.get()
        if amt is not None or timing is None or timing.chunks:
            return bytes(original(self, amt))
        pieces = []
        while piece := self.read1(_READ_PIECE):
            timing.note_chunk(len(piece))
            pieces.append(piece)
        pieces.append(original(self, None))  # whatever is left; closes the response
        timing.finished = time.perf_counter()
        return b"".join(pieces)

    return read


_READ_PIECE = 65536


def transport_patches() -> list[tuple[Any, str, Any]]:
    """(object, attribute, replacement) triples for vcrpy's ``custom_patches``: the connection
    pools of every installed httpcore flavour and http.client's responses (under urllib3,
    requests, boto3), wrapped to time their responses."""
    patches: list[tuple[Any, str, Any]] = [
        (http.client.HTTPResponse, "read", _timed_read(http.client.HTTPResponse.read))
    ]
    for name in ("httpcore2", "httpcore"):
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        sync_pool, async_pool = module.ConnectionPool, module.AsyncConnectionPool
        patches.append(
            (sync_pool, "handle_request", _timed_handle_request(sync_pool.handle_request))
        )
        patches.append(
            (
                async_pool,
                "handle_async_request",
                _timed_handle_async_request(async_pool.handle_async_request),
            )
        )
    return patches
