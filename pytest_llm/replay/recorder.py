"""The cassette that vcrpy's interception talks to during one run of a case.

vcrpy patches the HTTP libraries (httpx, httpx2, requests, urllib3, http.client, aiohttp, ...)
and asks this object whether it can answer a request (``can_play_response_for`` /
``play_response``) or hands it a live response to keep (``append``). Matching, scrubbing,
timing and the replay-miss message live here; reading and writing files do not.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from pytest_llm.cassette import matching
from pytest_llm.cassette.file_format import decode_content, decode_request_body
from pytest_llm.cassette.interaction import Interaction, Timing, parse_json, path_of
from pytest_llm.cassette.scrubbing import Scrubber
from pytest_llm.errors import ReplayMiss, UndecodableContent
from pytest_llm.replay import timing
from pytest_llm.replay.network_guard import NO_ALLOWED_HOSTS, AllowedHosts

#: Statuses that say something about the environment, not about the model's behaviour:
#: never stored as a case's recording.
UNSTORABLE_STATUSES = frozenset({401, 403, 408, 429})
#: OpenAI endpoints whose event streams end with a marker, so a cut-off stream can be told.


@dataclasses.dataclass(frozen=True)
class MissContext:
    """What a replay-miss message needs to say beyond the request itself."""

    nodeid: str
    shown_path: str
    record_command: str
    cassette_exists: bool


@dataclasses.dataclass
class FailedExchange:
    """A live request that must not be stored: an error status, or no answer at all."""

    request: str
    status: int
    problem: str


class CassetteRecorder:
    """One run's view of a cassette: replays ``recorded`` or records new interactions.

    Duck-types the parts of ``vcr.cassette.Cassette`` that vcrpy's stubs and patch builder use.
    """

    record_mode = "none"
    rewound = True
    _match_on: tuple[Any, ...] = ()

    def __init__(
        self,
        path: Path,
        recorded: Sequence[Interaction],
        *,
        recording: bool,
        scrubber: Scrubber,
        on_call: Callable[[Interaction], None],
        miss_context: MissContext,
        positional: bool = False,
        bypass: AllowedHosts = NO_ALLOWED_HOSTS,
        replay_first: bool = False,
    ) -> None:
        """``positional``: answer the n-th call to an endpoint with the n-th recording of that
        endpoint, whatever the request says (the "before" side of a re-record comparison).
        ``bypass``: hosts (``llm_allowed_hosts``) whose requests go live, neither matched nor
        recorded. ``replay_first`` (with ``recording``): a request that a recording answers is
        replayed, any other goes live; ``new`` then holds both, in the order they completed
        (a fixture's setup cannot be run again after a miss, as a case's body is)."""
        self._bypass = bypass
        self.replay_first = replay_first and recording
        #: requests that went live (with ``replay_first``, the others were replayed)
        self.live = 0
        self._path = str(path)
        self.path = path
        self.recording = recording
        self.record_mode = "all" if recording else "none"
        self.recorded = list(recorded)
        self.new: list[Interaction] = []
        self.failures: list[FailedExchange] = []
        self.misses: list[ReplayMiss] = []
        self.played: list[int] = []
        self._scrubber = scrubber
        self._on_call = on_call
        self.miss_context = miss_context
        self._lock = threading.Lock()
        self._unplayed: dict[matching.MatchKey, collections.deque[int]] = collections.defaultdict(
            collections.deque
        )
        self._key = matching.endpoint_key if positional else matching.match_key
        for index, interaction in enumerate(self.recorded):
            key = self._key(interaction.method, interaction.path, interaction.request_body)
            self._unplayed[key].append(index)
        self._known_keys = frozenset(self._unplayed)
        #: By position (the "before" run of a re-record): a request that still matches a
        #: recording exactly takes that one, whatever the order concurrent calls arrive in.
        self._exact: dict[matching.MatchKey, collections.deque[int]] | None = None
        if positional:
            self._exact = collections.defaultdict(collections.deque)
            for index, interaction in enumerate(self.recorded):
                self._exact[
                    matching.match_key(
                        interaction.method, interaction.path, interaction.request_body
                    )
                ].append(index)
        self._chosen: dict[int, int] = {}
        self._pending: dict[int, Any] = {}

    # -- what vcrpy's stubs call ------------------------------------------------------

    @property
    def write_protected(self) -> bool:
        return not self.recording

    @property
    def play_counts(self) -> collections.Counter[int]:
        return collections.Counter(self.played)

    def exhausted(self) -> bool:
        """Whether every recording has been played (replay): a sequential case stops there."""
        with self._lock:
            return not any(self._unplayed.values())

    def __len__(self) -> int:
        return len(self.recorded) + len(self.new)

    def filter_request(self, request: Any) -> Any:
        return None if self._bypassed(request) else request

    def _bypassed(self, request: Any) -> bool:
        if not self._bypass:
            return False
        try:
            parts = urlsplit(str(request.uri))
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return False
        return bool(parts.hostname) and self._bypass.allows(str(parts.hostname), port)

    def find_requests_with_most_matches(self, request: Any) -> list[Any]:
        return []

    def can_play_response_for(self, request: Any) -> bool:
        if self._bypassed(request):
            return False  # goes live; filter_request says "not the cassette's" to vcrpy
        if id(request) in self._chosen:  # asked again (vcrpy's connect, then getresponse)
            return True
        if self.recording and not self.replay_first:
            return self._goes_live(request)
        method, path, body = self._scrubbed_request(request)
        key = self._key(method, path, body)
        with self._lock:
            chosen = self._take(key, method, path, body)
            if chosen is not None:
                self._chosen[id(request)] = chosen
                return True
        if self.replay_first:
            return self._goes_live(request)
        miss = ReplayMiss(
            self._miss_message(method, path, body, already_played=key in self._known_keys)
        )
        self.misses.append(miss)
        raise miss

    def _goes_live(self, request: Any) -> bool:
        with self._lock:
            self._pending[id(request)] = request
        timing.start()
        return False

    def _take(self, key: matching.MatchKey, method: str, path: str, body: bytes) -> int | None:
        """The recording that answers a request (under the lock), taken off the unplayed."""
        queue = self._unplayed.get(key)
        if not queue:
            return None
        if self._exact is None:
            return queue.popleft()
        exact = self._exact.get(matching.match_key(method, path, body))
        if exact:  # the same request as recorded: its own recording
            index = exact.popleft()
            queue.remove(index)
        else:  # a changed request: the next recording of its endpoint
            index = queue.popleft()
            recorded = self.recorded[index]
            self._exact[
                matching.match_key(recorded.method, recorded.path, recorded.request_body)
            ].remove(index)
        return index

    def play_response(self, request: Any) -> dict[str, Any]:
        with self._lock:
            index = self._chosen.pop(id(request))
            self.played.append(index)
            interaction = self.recorded[index]
            if self.replay_first:  # part of the new recording, as it was
                self.new.append(interaction)
        self._on_call(interaction)
        return interaction.to_vcr_response()

    def append(self, request: Any, response: dict[str, Any]) -> None:
        if self._bypassed(request):
            return
        measured = timing.take()
        method, path, body = self._scrubbed_request(request)
        status = int(response["status"]["code"])
        headers: dict[str, list[str]] = {}
        for name, values in (response.get("headers") or {}).items():
            headers.setdefault(str(name).lower(), []).extend(
                values if isinstance(values, list) else [values]
            )
        raw = response["body"]["string"]
        too_large: str | None = None
        try:
            content = decode_content(raw if isinstance(raw, bytes) else str(raw).encode(), headers)
        except UndecodableContent as error:
            content, too_large = b"", f"the API's answer is refused: {error}"
        interaction = Interaction(
            method=method,
            path=path,
            request_body=body,
            request_content_type=_first(request.headers.get("content-type")),
            status=status,
            reason=str(response["status"].get("message") or ""),
            response_headers=self._scrubber.headers(headers),
            response_body=self._scrubber.body(content, _first(headers.get("content-type"))),
        )
        if measured is not None:
            interaction.timing = Timing(
                latency_s=measured.latency_s(),
                ttft_s=measured.ttft_s(content, interaction.provider, interaction.content_type)
                if interaction.is_stream
                else None,
            )
        problem = too_large or _unstorable_response(interaction)
        with self._lock:
            self._pending.pop(id(request), None)
            if problem is not None:
                self.failures.append(
                    FailedExchange(matching.describe_request(method, path, body), status, problem)
                )
            else:
                self.new.append(interaction)
                self.live += 1
        self._on_call(interaction)

    # -- what the runner asks afterwards -----------------------------------------------

    def unanswered(self) -> list[str]:
        """Live requests that got no complete response (connection refused, dropped, ...)."""
        return [
            matching.describe_request(*self._scrubbed_request(request))
            for request in self._pending.values()
        ]

    def _scrubbed_request(self, request: Any) -> tuple[str, str, bytes]:
        headers = request.headers
        self._scrubber.learn_from_headers(
            (str(name), item) for name, value in headers.items() for item in _all(value)
        )
        content_type = _first(headers.get("content-type"))
        body = _body_bytes(request.body, content_type or "")
        encoding = [
            item
            for name, value in headers.items()
            if str(name).lower() == "content-encoding"
            for item in _all(value)
        ]
        if encoding:
            body = decode_request_body(body, {"content-encoding": encoding})
        return (
            str(request.method).upper(),
            self._scrubber.url_path(path_of(request.uri)),
            self._scrubber.body(body, content_type),
        )

    def _miss_message(self, method: str, path: str, body: bytes, *, already_played: bool) -> str:
        context = self.miss_context
        lines = [
            f"pytest-llm: no recorded answer for a request of {context.nodeid} (replay mode).",
            f"  request:  {matching.describe_request(method, path, body)}",
        ]
        if not context.cassette_exists:
            lines.append(f"  cassette: {context.shown_path} does not exist yet.")
        else:
            lines.append(
                f"  cassette: {context.shown_path} ({len(self.recorded)} recorded, {len(self.played)} replayed so far)"
            )
            if already_played:
                lines.append(
                    "  The recordings of this request were all replayed already: the test now makes "
                    "this call more often than when it was recorded."
                )
            else:
                lines.extend(self._nearest_lines(method, path, body))
        lines.append(f"  To record it: {context.record_command}")
        return "\n".join(lines)

    def _nearest_lines(self, method: str, path: str, body: bytes) -> list[str]:
        found = matching.nearest(method, path, body, self.recorded)
        if found is None:
            return ["  The cassette holds no interactions."]
        index, interaction = found
        head = f"  nearest recording: #{index + 1} {interaction.method} {interaction.path}"
        if (interaction.method, matching.canonical_path(interaction.path)) != (
            method,
            matching.canonical_path(path),
        ):
            return [head + " (a different endpoint)"]
        differences = matching.data_differences(interaction.request_json(), _json_or_text(body))
        return [head + ", which differs in:"] + [f"    {line}" for line in differences]


def _json_or_text(body: bytes) -> Any:
    parsed = parse_json(body)
    return parsed if parsed is not None else body.decode("utf-8", "replace")


def _body_bytes(raw: Any, content_type: str) -> bytes:
    """A request body as sent. aiohttp's stub hands over ``json=`` and ``data=`` mappings as
    they were given: a form (its content type says so) is URL-encoded, anything else is JSON."""
    if isinstance(raw, bytes):
        return raw
    if raw is None:
        return b""
    if isinstance(raw, (dict, list, tuple)):
        if "form" in content_type.lower():
            return urlencode(list(raw.items()) if isinstance(raw, dict) else list(raw)).encode()
        try:
            return json.dumps(raw, ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError):
            pass
    return str(raw).encode("utf-8")


def _all(value: Any) -> list[str]:
    """A header's values as text (boto3 passes bytes)."""
    values = value if isinstance(value, (list, tuple)) else [] if value is None else [value]
    return [
        item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in values
    ]


def _first(value: Any) -> str | None:
    values = _all(value)
    return values[0] if values else None


def _unstorable_response(interaction: Interaction) -> str | None:
    """Why a live response must not become the case's recording, if it must not."""
    if interaction.status in UNSTORABLE_STATUSES or interaction.status >= 500:
        problem = f"the API answered {interaction.status}: {_error_detail(interaction)}"
        variables = interaction.provider.credential_env_vars
        if interaction.status in (401, 403) and variables:
            problem += f" (is {variables[0]} set to a valid key?)"
        return problem
    provider = interaction.provider
    streamed = interaction.is_stream and (
        provider.endpoint_of(interaction.path) in provider.streamed_endpoints
    )
    if streamed and not provider.stream_is_complete(interaction.events()):
        return (
            f"the {'NDJSON' if interaction.stream_format == 'ndjson' else 'event'} stream was "
            "cut off before its end marker "
            f"({provider.end_marker_description})"
        )
    declared_json = not interaction.is_stream and "json" in interaction.content_type.lower()
    if declared_json and interaction.response_body and interaction.response_json() is None:
        excerpt = interaction.response_body[:80].decode("utf-8", "replace")
        return f"the answer is not valid JSON although its content-type says so ({excerpt!r})"
    return None


def _error_detail(interaction: Interaction) -> str:
    data = interaction.response_json()
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        message = data["error"].get("message")
        if isinstance(message, str):
            return message
    return interaction.response_body.decode("utf-8", "replace")[:200]
