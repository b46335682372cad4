"""Keep secrets out of cassettes, reports and terminal output.

A :class:`Scrubber` knows literal secret values (the API key in the environment and any key
seen in a live request's headers), the shapes of common API keys, and the user's
``llm_redact`` patterns. It is applied to recordings before they are stored *and* to live
requests before they are matched, so a scrubbed cassette still replays.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pytest_llm import providers

REDACTED = "REDACTED"

#: Shapes of API keys and tokens that never belong in a file (shared with ``assert_no_pii``).
SECRET_SHAPES: dict[str, re.Pattern[str]] = {
    "openai_key": re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    "aws_access_key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "github_token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "slack_token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "bearer_token": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}"),
}

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
        }
    )
    | providers.credential_headers()
)

#: URL query parameters that carry credentials.
CREDENTIAL_QUERY_PARAMETERS = (
    frozenset({"key", "apikey", "access_token", "token", "auth", "sig", "signature"})
    | providers.credential_query_parameters()
)

#: Environment variables whose values are secrets wherever they appear: every provider's.
_ENV_KEYS = providers.credential_env_vars()


class Scrubber:
    """Replaces secrets with ``REDACTED`` in text, JSON data, bodies, URLs and headers."""

    def __init__(self, patterns: Iterable[str] = (), literals: Iterable[str] = ()) -> None:
        self._user_patterns = [re.compile(pattern) for pattern in patterns]
        self._literals: set[str] = set()
        self._literal_pattern: re.Pattern[str] | None = None
        for literal in literals:
            self.add_literal(literal)

    @classmethod
    def from_environment(cls, patterns: Iterable[str], environ: dict[str, str]) -> Scrubber:
        return cls(patterns, (environ.get(name, "") for name in _ENV_KEYS))

    def add_literal(self, value: str) -> None:
        """Remember a secret value seen at run time (only values long enough to be secrets)."""
        value = value.strip()
        if value.lower().startswith("bearer "):
            value = value[7:].strip()
        if len(value) < 8 or value in self._literals:
            return
        self._literals.add(value)
        alternatives = sorted(self._literals, key=len, reverse=True)
        self._literal_pattern = re.compile("|".join(re.escape(item) for item in alternatives))

    def learn_from_headers(self, headers: Iterable[tuple[str, str]]) -> None:
        for name, value in headers:
            if name.lower() in CREDENTIAL_HEADERS and name.lower() not in ("cookie", "set-cookie"):
                self.add_literal(value)

    def text(self, text: str) -> str:
        if self._literal_pattern is not None:
            text = self._literal_pattern.sub(REDACTED, text)
        for pattern in SECRET_SHAPES.values():
            text = pattern.sub(REDACTED, text)
        for pattern in self._user_patterns:
            text = pattern.sub(REDACTED, text)
        return text

    def data(self, value: Any) -> Any:
        """Scrub every string inside JSON-like data (keys included); returns a new structure."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(key): self.data(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.data(item) for item in value]
        return value

    def body(self, body: bytes) -> bytes:
        """Scrub a body: JSON structurally, an event stream event by event, other text as text."""
        if not body:
            return body
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body
        if not self._might_hold_secret(text):
            return body
        stripped = text.lstrip()
        if stripped[:1] in ("{", "["):
            try:
                parsed = json.loads(text)
            except ValueError:
                pass
            else:
                cleaned = self.data(parsed)
                if cleaned == parsed:
                    return body
                return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":")).encode()
        return self._event_stream_or_text(text).encode("utf-8")

    def _event_stream_or_text(self, text: str) -> str:
        lines = []
        for line in text.splitlines(keepends=True):
            if line.startswith("data:"):
                payload = line[5:].strip()
                try:
                    parsed = json.loads(payload)
                except ValueError:
                    lines.append(self.text(line))
                    continue
                cleaned = self.data(parsed)
                if cleaned != parsed:
                    ending = line[len(line.rstrip("\r\n")) :]
                    line = "data: " + json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"))
                    line += ending
                lines.append(line)
            else:
                lines.append(self.text(line))
        return "".join(lines)

    def _might_hold_secret(self, text: str) -> bool:
        return self.text(text) != text

    def url_path(self, path: str) -> str:
        """Scrub a path-and-query: credential parameters get ``REDACTED`` values."""
        base, sep, query = path.partition("?")
        if not sep:
            return self.text(path)
        pairs = [
            (name, REDACTED if name.lower() in CREDENTIAL_QUERY_PARAMETERS else self.text(value))
            for name, value in parse_qsl(query, keep_blank_values=True)
        ]
        return f"{self.text(base)}?{urlencode(pairs, safe='/:')}"

    def headers(self, headers: dict[str, list[str]]) -> dict[str, list[str]]:
        return {
            name: [self.text(value) for value in values]
            for name, values in headers.items()
            if name.lower() not in CREDENTIAL_HEADERS
        }
