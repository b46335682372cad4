"""Keep secrets out of cassettes, reports and terminal output.

A :class:`Scrubber` knows literal secret values (every credential variable in the environment,
and any credential seen at run time in a live request's headers, cookies or URL query), the
shapes of common API keys, and the user's ``llm_redact`` patterns. It is applied to recordings
before they are stored *and* to live requests before they are matched, so a scrubbed cassette
still replays.

It scrubs what a reader sees, not only the raw bytes:

* JSON is scrubbed value by value after decoding, so ``\\/`` and ``\\u002d`` escapes hide
  nothing; string values under credential-named keys (``"api_key"``, ``"token"``, ...) are
  replaced whatever their shape.
* An event stream is scrubbed event by event *and* as assembled: the string values at the same
  place of successive events (``choices[0].delta.content``, a tool call's ``arguments``, a
  Responses ``delta``) are joined, scrubbed together, and a secret split over several chunks is
  replaced in the chunks it spans, so the assembled text a reader sees holds ``REDACTED``.
* Bodies that are not UTF-8 (a multipart audio upload) have their text parts scrubbed; the
  other bytes are kept as they are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pytest_llm import providers
from pytest_llm.cassette.interaction import Interaction
from pytest_llm.providers import aws_event_stream

REDACTED = "REDACTED"

#: Shapes of API keys and tokens that never belong in a file (shared with ``assert_no_pii``).
SECRET_SHAPES: dict[str, re.Pattern[str]] = {
    "openai_key": re.compile(r"\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,}"),
    "aws_access_key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "google_api_key": re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"),
    "github_token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "slack_token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "bearer_token": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}"),
}

#: Text each shape starts with (lower-cased where the shape ignores case): a shape is searched
#: for only where one of its hints is in the text, a fast substring test.
_SHAPE_HINTS: dict[str, tuple[str, ...]] = {
    "openai_key": ("sk-",),
    "aws_access_key": ("AKIA", "ASIA"),
    "google_api_key": ("AIza",),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    "slack_token": ("xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-"),
    "bearer_token": ("bearer",),
}
_CASELESS_SHAPES = frozenset({"bearer_token"})


#: Any hint at all: one search that most texts (no hint) end at.
_ANY_HINT = re.compile(
    "|".join(
        re.escape(hint) if name not in _CASELESS_SHAPES else f"(?i:{re.escape(hint)})"
        for name, hints in _SHAPE_HINTS.items()
        for hint in hints
    )
)


def shapes_in(text: str) -> list[re.Pattern[str]]:
    """The secret shapes that may match ``text`` (those whose hint it contains)."""
    if _ANY_HINT.search(text) is None:
        return []
    lowered: str | None = None
    found = []
    for name, pattern in SECRET_SHAPES.items():
        if name in _CASELESS_SHAPES:
            lowered = text.lower() if lowered is None else lowered
            haystack = lowered
        else:
            haystack = text
        if any(hint in haystack for hint in _SHAPE_HINTS[name]):
            found.append(pattern)
    return found


#: Names that say "this is a credential", in a header, a query parameter, a cookie-less JSON
#: key or an environment variable: ``authorization``, ``x-api-key``, ``api_key``,
#: ``x-goog-api-key``, ``x-amz-security-token``, ``X-Amz-Signature``, ``access_token``, ...
_CREDENTIAL_NAME = re.compile(
    r"(?i)(?:^|[-_.])(?:auth|authorization|api[-_]?key|apikey|key|token|access[-_]?token|"
    r"secret|password|passwd|signature|sig|credential|session[-_]?token|security[-_]?token)$"
)
#: JSON keys named like a credential whose values are short plain words elsewhere (logprobs'
#: ``"token": "Hello"``): their values are replaced only when they look like a secret.
_AMBIGUOUS_KEYS = frozenset({"token", "key", "sig"})
_LOOKS_LIKE_SECRET = re.compile(r"[^\s]{16,}")

#: Request headers whose values are credentials: never stored, and their values are scrubbed
#: wherever else they appear (a key echoed back in a body, say).
CREDENTIAL_HEADERS = (
    frozenset(
        {
            "authorization",
            "proxy-authorization",
            "x-api-key",
            "cookie",
            "set-cookie",
            "x-amz-security-token",
        }
    )
    | providers.credential_headers()
)

#: URL query parameters that carry credentials (besides any credential-named one).
CREDENTIAL_QUERY_PARAMETERS = (
    frozenset({"key", "apikey", "access_token", "token", "auth", "sig", "signature"})
    | providers.credential_query_parameters()
)

#: Environment variables whose values are secrets wherever they appear: every provider's, and
#: any variable named like a credential (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET_ACCESS_KEY``).
_ENV_KEYS = providers.credential_env_vars()
_CREDENTIAL_ENV_NAME = re.compile(
    r"(?i)(?:API_?KEY|TOKEN|SECRET|SECRET_ACCESS_KEY|SESSION_TOKEN|PASSWORD|ACCESS_KEY_ID)$"
)
_MIN_SECRET_LENGTH = 8
#: The shortest piece of a known secret that is scrubbed on its own: a key spelled in two
#: parts (a prompt, a log line) or cut by a stream's chunks leaves no piece this long anywhere.
FRAGMENT_LENGTH = 12
#: Only secrets at least this long (keys, tokens) are looked for piece by piece.
_FRAGMENT_SOURCE_LENGTH = 20


def fragment_windows(secret: str) -> list[str]:
    """Every ``FRAGMENT_LENGTH``-character piece of ``secret`` (none for a short secret)."""
    if len(secret) < _FRAGMENT_SOURCE_LENGTH:
        return []
    return [secret[i : i + FRAGMENT_LENGTH] for i in range(len(secret) - FRAGMENT_LENGTH + 1)]


class _Fragments:
    """Pieces of the known long secrets. Each secret is cut into blocks of ``_BLOCK``
    characters; any run of ``FRAGMENT_LENGTH`` (>= 2 x _BLOCK - 1) of its characters holds a
    whole block, so a block found in a text is grown on both sides along the secret, and the
    run is scrubbed when it is at least ``FRAGMENT_LENGTH`` long."""

    _BLOCK = 6

    def __init__(self) -> None:
        self._sources: list[str] = []
        self._at: dict[str, list[tuple[int, int]]] = {}  # block -> (source, offset)
        self.pattern: re.Pattern[str] | None = None

    def add(self, secret: str) -> None:
        if len(secret) < _FRAGMENT_SOURCE_LENGTH or secret in self._sources:
            return
        index = len(self._sources)
        self._sources.append(secret)
        for offset in range(0, len(secret) - self._BLOCK + 1, self._BLOCK):
            self._at.setdefault(secret[offset : offset + self._BLOCK], []).append((index, offset))
        self.pattern = re.compile("|".join(re.escape(block) for block in self._at))

    def spans(self, text: str) -> list[tuple[int, int]]:
        if self.pattern is None:
            return []
        found: list[tuple[int, int]] = []
        position = 0
        while (match := self.pattern.search(text, position)) is not None:
            best: tuple[int, int] | None = None
            for index, offset in self._at[match.group()]:
                start, end = self._grown(text, match.start(), self._sources[index], offset)
                if end - start >= FRAGMENT_LENGTH and (
                    best is None or end - start > best[1] - best[0]
                ):
                    best = (start, end)
            if best is None:
                position = match.start() + 1
                continue
            found.append(best)
            position = best[1]
        return found

    def _grown(self, text: str, at: int, source: str, offset: int) -> tuple[int, int]:
        """The run around ``text[at:at+_BLOCK]`` that equals ``source`` around ``offset``."""
        left, before = at, offset
        while left > 0 and before > 0 and text[left - 1] == source[before - 1]:
            left, before = left - 1, before - 1
        right, after = at + self._BLOCK, offset + self._BLOCK
        while right < len(text) and after < len(source) and text[right] == source[after]:
            right, after = right + 1, after + 1
        return left, right


@functools.lru_cache(maxsize=4096)  # the same few header names on every request
def is_credential_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in CREDENTIAL_HEADERS or _CREDENTIAL_NAME.search(lowered) is not None


#: Fields of a form-encoded body (OAuth token requests) that are credentials although their
#: names are not credential-like elsewhere.
_FORM_CREDENTIAL_FIELDS = frozenset({"assertion", "client_assertion", "code", "code_verifier"})
_FORM_TYPE = "application/x-www-form-urlencoded"
#: A body that is a form although no content type says so: ``name=value`` pairs joined by ``&``.
_FORM_SHAPE = re.compile(r"[A-Za-z0-9_.~%+\-\[\]]+=[^&=\s]*(?:&[A-Za-z0-9_.~%+\-\[\]]+=[^&=\s]*)*")


#: How many header lines :meth:`Scrubber.learn_from_headers` remembers having learned from.
_HEADERS_SEEN_KEPT = 10_000
#: How many clean texts (of at most how many characters) :meth:`Scrubber.text` remembers.
_CLEAN_KEPT = 20_000
_CLEAN_KEPT_LENGTH = 200


@functools.lru_cache(maxsize=4096)
def is_credential_parameter(name: str) -> bool:
    lowered = name.lower()
    return lowered in CREDENTIAL_QUERY_PARAMETERS or _CREDENTIAL_NAME.search(lowered) is not None


def _is_form_credential(name: str) -> bool:
    return is_credential_parameter(name) or name.lower() in _FORM_CREDENTIAL_FIELDS


def _is_form(text: str, content_type: str | None) -> bool:
    """Whether a body is form-encoded: its content type says so; without one, a body shaped
    like a form with a credential-named field is taken for one."""
    if content_type is not None:
        return content_type.split(";")[0].strip().lower() == _FORM_TYPE
    stripped = text.strip()
    if not _FORM_SHAPE.fullmatch(stripped):
        return False
    return any(_is_form_credential(name) for name, _ in parse_qsl(stripped, keep_blank_values=True))


def credential_environment_values(environ: Mapping[str, str]) -> list[str]:
    """The values of the credential variables in `environ` (every provider's, and any named
    like a credential)."""
    return [
        value
        for name, value in environ.items()
        if name in _ENV_KEYS or _CREDENTIAL_ENV_NAME.search(name)
    ]


class Scrubber:
    """Replaces secrets with ``REDACTED`` in text, JSON data, bodies, URLs and headers."""

    def __init__(self, patterns: Iterable[str] = (), literals: Iterable[str] = ()) -> None:
        self._user_patterns = [re.compile(pattern) for pattern in patterns]
        self._literals: set[str] = set()
        #: Header lines already learned from: a session's clients send the same ones each call.
        self._headers_seen: set[tuple[str, str]] = set()
        #: Short texts :meth:`text` found clean since the last secret was learned: a run scrubs
        #: the same keys, field names and values over and over.
        self._clean: set[str] = set()
        self._literal_pattern: re.Pattern[str] | None = None
        self._fragments = _Fragments()
        self._multiline = 0
        for literal in literals:
            self.add_literal(literal)

    @classmethod
    def from_environment(cls, patterns: Iterable[str], environ: Mapping[str, str]) -> Scrubber:
        return cls(patterns, credential_environment_values(environ))

    def add_literal(self, value: str) -> None:
        """Remember a secret value seen at run time (only values long enough to be secrets)."""
        value = value.strip()
        if value.lower().startswith("bearer "):
            value = value[7:].strip()
        if len(value) < _MIN_SECRET_LENGTH or value in self._literals or value == REDACTED:
            return
        # the value as JSON, repr and pytest's ids escape it (a quote, a backslash, a newline,
        # a non-ASCII letter): "a\nb", 'P\xe4ss'
        self._literals.update(
            {value, json.dumps(value)[1:-1], repr(value)[1:-1], _ascii_escaped(value)}
        )
        if "\n" in value:
            self._multiline = max(self._multiline, len(value))
        self._fragments.add(value)
        alternatives = sorted(self._literals, key=len, reverse=True)
        self._literal_pattern = re.compile("|".join(re.escape(item) for item in alternatives))
        # last, after the patterns: a text found clean before may hold this secret. A new set,
        # not cleared: a text() running in another thread adds its verdict (reached with the
        # old patterns) to the set it started with, which is then no longer consulted.
        self._clean = set()

    def longest_multiline_secret(self) -> int:
        """The length of the longest known secret that spans lines (0: none does)."""
        return self._multiline

    def learn_from_headers(self, headers: Iterable[tuple[str, str | bytes]]) -> None:
        """Remember the credentials of request or response headers (bytes values decoded,
        cookie values one by one, ``Basic``/``Bearer`` schemes stripped). A credential or
        cookie line learned from before is skipped (the session's clients send the same ones
        every call); it is remembered only once learned, so another thread sending it at the
        same moment learns it too."""
        seen = self._headers_seen
        for name, raw in headers:
            lowered = name.lower()
            is_cookie = lowered in ("cookie", "set-cookie")
            if not is_cookie and not is_credential_header(lowered):
                continue
            value = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            if (lowered, value) in seen:  # literals are never forgotten
                continue
            if is_cookie:
                for cookie in _cookie_values(value):
                    self.add_literal(cookie)
            else:
                self.add_literal(value)
                scheme, _, credential = value.strip().partition(" ")
                if credential and scheme.isalpha():
                    self.add_literal(credential)
                for part in re.split(r"[,\s]+", value):  # AWS4-HMAC-SHA256 Credential=..., ...
                    if "=" in part:
                        self.add_literal(part.partition("=")[2])
            if len(seen) >= _HEADERS_SEEN_KEPT:
                seen.clear()
            seen.add((lowered, value))

    # -- text -----------------------------------------------------------------------

    def text(self, text: str) -> str:
        if len(text) < _MIN_SECRET_LENGTH and not self._user_patterns:
            return text  # shorter than any literal, shape or fragment it could hold
        clean = self._clean  # before the patterns are read: see add_literal
        if text in clean:
            return text
        scrubbed = self._scrubbed_text(text)
        if scrubbed == text and len(text) <= _CLEAN_KEPT_LENGTH:
            if len(clean) >= _CLEAN_KEPT:
                clean.clear()
            clean.add(text)
        return scrubbed

    def _scrubbed_text(self, text: str) -> str:
        if self._literal_pattern is not None:
            text = self._literal_pattern.sub(REDACTED, text)
        # Shapes and patterns before pieces of known secrets: a piece scrubbed first would cut
        # a shaped token (``ghp_...``) so that its shape no longer matches and its rest leaks.
        for pattern in shapes_in(text):
            text = pattern.sub(REDACTED, text)
        for pattern in self._user_patterns:
            text = pattern.sub(REDACTED, text)
        if self._fragments.pattern is not None:
            text = _replaced(text, self._fragments.spans(text))
        return text

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where secrets are in `text`: merged, sorted ``(start, end)`` spans."""
        found: list[tuple[int, int]] = []
        patterns = [*shapes_in(text), *self._user_patterns]
        if self._literal_pattern is not None:
            patterns.append(self._literal_pattern)
        for pattern in patterns:
            found += [
                match.span() for match in pattern.finditer(text) if match.end() > match.start()
            ]
        found += self._fragments.spans(text)
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def data(self, value: Any) -> Any:
        """Scrub every string inside JSON-like data (keys included); returns a new structure.
        String values under credential-named keys are replaced (and remembered)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            cleaned: dict[str, Any] = {}
            for key, item in value.items():
                if isinstance(item, str) and _is_credential_value(str(key), item):
                    self.add_literal(item)
                    cleaned[self.text(key)] = REDACTED
                else:
                    cleaned[self.text(key)] = self.data(item)
            return cleaned
        if isinstance(value, list):
            return [self.data(item) for item in value]
        return value

    def _learn_credential_fields(self, value: Any) -> None:
        """Remember the string values under credential-named keys anywhere in ``value``."""
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str) and _is_credential_value(str(key), item):
                    self.add_literal(item)
                else:
                    self._learn_credential_fields(item)
        elif isinstance(value, list):
            for item in value:
                self._learn_credential_fields(item)

    # -- bodies ---------------------------------------------------------------------

    def body(self, body: bytes, content_type: str | None = None) -> bytes:
        """Scrub a body: JSON value by value, an event stream event by event and assembled
        (an AWS event stream's binary frames too: ``content_type`` says so), other text as text,
        the text parts of a body that is not UTF-8."""
        if not body:
            return body
        if aws_event_stream.is_aws_event_stream(content_type):
            return self._aws_event_stream(body)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("utf-8", "surrogateescape")  # the other bytes, kept as they are
            cleaned = self.text(text)
            return body if cleaned == text else cleaned.encode("utf-8", "surrogateescape")
        if _is_event_stream(text):
            cleaned = self._event_stream(text)
            return body if cleaned == text else cleaned.encode("utf-8")
        if _is_form(text, content_type):
            cleaned = self._form(text)
            return body if cleaned == text else cleaned.encode("utf-8")
        escaped = "\\" in text  # a JSON escape (\", \\, \n, \/, \u002d) may hide a secret
        if text.lstrip()[:1] in ("{", "["):
            if not escaped and not self._has_secret(text) and not _credential_key_in(text):
                return body
            try:
                parsed = json.loads(text)
            except (ValueError, RecursionError):
                pass
            else:
                self._learn_credential_fields(parsed)  # first: a key may be echoed before it
                scrubbed = self.data(parsed)
                if scrubbed == parsed:
                    return body
                return json.dumps(scrubbed, ensure_ascii=False, separators=(",", ":")).encode()
        cleaned = self.text(text)
        return body if cleaned == text else cleaned.encode("utf-8")

    def _form(self, text: str) -> str:
        """Scrub a form-encoded body: credential-named fields get ``REDACTED`` values (which are
        remembered, so an answer echoing them is scrubbed too), other values are scrubbed as
        text. An unchanged form is returned as it was."""
        pairs = parse_qsl(text.strip(), keep_blank_values=True)
        secret = [_is_form_credential(name) for name, _ in pairs]
        for (_, value), is_secret in zip(pairs, secret, strict=True):
            if is_secret and value:
                self.add_literal(value)
        cleaned = [
            (name, REDACTED if is_secret and value else self.text(value))
            for (name, value), is_secret in zip(pairs, secret, strict=True)
        ]
        if cleaned == pairs:
            return self.text(text)
        return urlencode(cleaned)

    def _event_stream(self, text: str) -> str:
        """Scrub each event — a ``data:`` line of server-sent events, or a line of NDJSON —
        then the stream as assembled (see the module docstring)."""
        lines = text.splitlines(keepends=True)
        originals: dict[int, tuple[str, Any]] = {}
        for number, line in enumerate(lines):
            prefix = "data: " if line.startswith("data:") else ""
            payload = line[5:].strip() if prefix else line.strip()
            try:
                if not payload.startswith(("{", "[")):
                    raise ValueError("not a JSON event")
                originals[number] = (prefix, json.loads(payload))
            except (ValueError, RecursionError):
                lines[number] = self.text(line)
        events = {number: self.data(event) for number, (_, event) in originals.items()}
        self._scrub_across_events(list(events.values()))
        for number, event in events.items():
            prefix, original = originals[number]
            if event != original:
                line = lines[number]
                ending = line[len(line.rstrip("\r\n")) :]
                rendered = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
                lines[number] = prefix + rendered + ending
        return "".join(lines)

    def _aws_event_stream(self, body: bytes) -> bytes:
        """Scrub the frames of an AWS event stream: string headers as text, JSON payloads
        event by event and assembled, other payloads as bodies; each changed frame is encoded
        again with valid checksums. A cut-off or malformed tail is scrubbed as bytes."""
        frames, rest = aws_event_stream.decode_complete_frames(body, stop_at_malformed=True)
        parsed: dict[int, Any] = {}
        for number, frame in enumerate(frames):
            if frame.payload.lstrip()[:1] in (b"{", b"["):
                with contextlib.suppress(ValueError, RecursionError):
                    parsed[number] = json.loads(frame.payload)
        for payload in parsed.values():
            self._learn_credential_fields(payload)
        scrubbed = {number: self.data(payload) for number, payload in parsed.items()}
        self._scrub_across_events(list(scrubbed.values()))
        pieces = []
        for number, frame in enumerate(frames):
            headers = {
                name: self.text(value) if isinstance(value, str) else value
                for name, value in frame.headers.items()
            }
            if number in scrubbed:
                payload = (
                    frame.payload
                    if scrubbed[number] == parsed[number]
                    else json.dumps(
                        scrubbed[number], ensure_ascii=False, separators=(",", ":")
                    ).encode("utf-8")
                )
            else:
                payload = self.body(frame.payload)
            if headers == dict(frame.headers) and payload == frame.payload:
                pieces.append(body[frame.offset : frame.offset + frame.length])
            else:
                pieces.append(aws_event_stream.encode_frame(headers, payload))
        if rest:
            text = rest.decode("utf-8", "surrogateescape")
            rest = self.text(text).encode("utf-8", "surrogateescape")
        return b"".join(pieces) + rest

    def _scrub_across_events(self, events: list[Any]) -> None:
        """Replace secrets that only the joined values of successive events show; in place."""
        groups: dict[tuple[Any, ...], list[tuple[Any, Any, str]]] = {}
        for event in events:
            kind = event.get("type") if isinstance(event, dict) else None
            for path, container, key, value in _string_leaves(event, ()):
                groups.setdefault((kind, *path), []).append((container, key, value))
        for pieces in groups.values():
            if len(pieces) < 2:
                continue
            joined = "".join(value for _, _, value in pieces)
            spans = self.spans(joined)
            if not spans:
                continue
            for (container, key, _), new in zip(
                pieces, _redact_pieces([value for _, _, value in pieces], spans), strict=True
            ):
                container[key] = new

    def _has_secret(self, text: str) -> bool:
        return self.text(text) != text

    # -- URLs and headers -----------------------------------------------------------

    def url_path(self, path: str) -> str:
        """Scrub a path-and-query: credential parameters get ``REDACTED`` values (and their
        values are remembered, so a body echoing them is scrubbed too)."""
        base, sep, query = path.partition("?")
        if not sep:
            return self.text(path)
        pairs = parse_qsl(query, keep_blank_values=True)
        for name, value in pairs:
            if is_credential_parameter(name):
                self.add_literal(value)
        cleaned = [
            (name, REDACTED if is_credential_parameter(name) else self.text(value))
            for name, value in pairs
        ]
        return f"{self.text(base)}?{urlencode(cleaned, safe='/:')}"

    def headers(self, headers: dict[str, list[str]]) -> dict[str, list[str]]:
        """Response headers to store: credential headers dropped (their values remembered),
        every URL's query scrubbed (``Location``), other values scrubbed as text."""
        self.learn_from_headers(
            (name, value) for name, values in headers.items() for value in values
        )
        return {
            name: [self._header_value(value) for value in values]
            for name, values in headers.items()
            if not is_credential_header(name)
        }

    def _header_value(self, value: str) -> str:
        if "?" in value and ("://" in value or value.startswith("/")):
            scheme_host, slash, rest = value.partition("://")
            if slash:
                host, _, path = rest.partition("/")
                return f"{scheme_host}://{self.text(host)}{self.url_path('/' + path)}"
            return self.url_path(value)
        return self.text(value)


def _ascii_escaped(value: str) -> str:
    """``value`` as pytest writes it into a test id (``ascii_escaped``)."""
    return value.encode("unicode_escape").decode("ascii")


def _is_credential_value(key: str, value: str) -> bool:
    if not value or value == REDACTED or _CREDENTIAL_NAME.search(key) is None:
        return False
    if key.lower() in _AMBIGUOUS_KEYS:
        return _LOOKS_LIKE_SECRET.fullmatch(value) is not None
    return True


_CREDENTIAL_KEY_IN_JSON = re.compile(
    r'(?i)"(?:[^"\\]*[-_.])?(?:auth|authorization|api[-_]?key|apikey|key|token|access[-_]?token|'
    r'secret|password|passwd|signature|sig|credential|session[-_]?token|security[-_]?token)"\s*:\s*"'
)


def _credential_key_in(text: str) -> bool:
    return _CREDENTIAL_KEY_IN_JSON.search(text) is not None


def _is_event_stream(text: str) -> bool:
    """Server-sent events, or NDJSON (one JSON object per line, as Ollama streams)."""
    if text.startswith("data:") or "\ndata:" in text:
        return True
    first, newline, rest = text.strip().partition("\n")
    return bool(newline) and first.startswith("{") and rest.lstrip().startswith("{")


def _cookie_values(header: str) -> list[str]:
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(header)
    except CookieError:
        return [part.partition("=")[2] for part in header.split(";") if "=" in part]
    return [morsel.value for morsel in cookie.values()]


def _string_leaves(
    value: Any, path: tuple[Any, ...]
) -> Iterator[tuple[tuple[Any, ...], Any, Any, str]]:
    """``(path, container, key, string)`` for every string value inside JSON data."""
    if isinstance(value, dict):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, item in items:
        if isinstance(item, str):
            yield (*path, key), value, key, item
        else:
            yield from _string_leaves(item, (*path, key))


def _redact_pieces(pieces: list[str], spans: list[tuple[int, int]]) -> list[str]:
    """`pieces` with the characters inside `spans` (offsets into their join) removed, and
    ``REDACTED`` put in the piece where each span starts: the join reads as scrubbed text."""
    joined = "".join(pieces)
    result: list[str] = []
    offset = 0
    for piece in pieces:
        start, end = offset, offset + len(piece)
        parts: list[str] = []
        cursor = start
        for span_start, span_end in spans:
            if span_end <= start or span_start >= end:
                continue
            if span_start > cursor:
                parts.append(joined[cursor:span_start])
            if span_start >= start:
                parts.append(REDACTED)
            cursor = max(cursor, min(span_end, end))
        if cursor < end:
            parts.append(joined[cursor:end])
        result.append("".join(parts))
        offset = end
    return result


def _replaced(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each of the (sorted, disjoint) ``spans`` replaced by ``REDACTED``."""
    if not spans:
        return text
    pieces, position = [], 0
    for start, end in spans:
        if end <= position:
            continue
        pieces += [text[position : max(start, position)], REDACTED]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def scrubbed_interaction(interaction: Interaction, scrubber: Scrubber) -> Interaction:
    """The interaction as it is stored: credential headers dropped (the values of its request
    credential headers learned first), secrets replaced. Idempotent: the recorder scrubs each
    exchange as it happens, and the runner once more when the case is written, with every
    credential the case taught the scrubber (a session token a later request sent)."""
    scrubber.learn_from_headers(
        (name, value) for name, values in interaction.request_headers.items() for value in values
    )
    return dataclasses.replace(
        interaction,
        path=scrubber.url_path(interaction.path),
        request_body=scrubber.body(interaction.request_body, interaction.request_content_type),
        response_headers=scrubber.headers(interaction.response_headers),
        # the content type says how to read it (an AWS event stream's CRC-checked frames)
        response_body=scrubber.body(interaction.response_body, interaction.content_type),
    )
