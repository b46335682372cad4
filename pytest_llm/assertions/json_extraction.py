"""Find the JSON value in a model's output: the extraction behind ``assert_schema``.

The whole text is tried first, then Markdown code fences, then the first complete object or
array embedded in prose. The scan gives up once failed decode attempts exceed a budget (of
attempts and of characters decoded), so pathological text (a sea of ``{`` or ``[``, deeply
nested truncated arrays) costs milliseconds, not minutes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pytest_llm.errors import NoJSONFound

Source = Literal["bare", "fence", "embedded"]

_DECODER = json.JSONDecoder()
_FENCE = re.compile(r"```[ \t]*([A-Za-z][\w+.-]*)?[ \t]*\n?(.*?)```", re.DOTALL)
# Where an object or array could start: "{" before a key or "}", "[" before a value or "]".
_START = re.compile(r'\{\s*["}]|\[\s*(?:[-\d\[\]{"]|true|false|null)')
_MAX_FAILED_ATTEMPTS = 1000
_MAX_FAILED_SCAN = 2_000_000  # characters decoded in attempts that failed
_EXCERPT_LENGTH = 80


@dataclass(frozen=True)
class Extracted:
    """The JSON value found, where it was found, and how many more values followed it."""

    value: Any
    source: Source
    others: int = 0


def extract_json(output: str) -> Extracted:
    """The first JSON value of ``output``: the whole text, a code fence, or embedded in prose.

    ``others`` counts the further complete objects/arrays after the one used. Raises
    :class:`NoJSONFound` when there is none.
    """
    bare = _parse_whole(output.strip())
    if bare is not None:
        return Extracted(bare[0], "bare")
    scanner = _Scanner(output)
    fenced = _first_fence(output)
    if fenced is not None:
        value, end = fenced
        return Extracted(value, "fence", scanner.count_from(end))
    embedded = scanner.next_value(0)
    if embedded is not None:
        value, end = embedded
        return Extracted(value, "embedded", scanner.count_from(end))
    raise NoJSONFound(_no_json_message(output, gave_up=scanner.gave_up))


def _parse_whole(text: str) -> tuple[Any] | None:
    """``(value,)`` when all of ``text`` is one JSON value, else ``None``."""
    if not text:
        return None
    try:
        return (json.loads(text),)
    except (ValueError, RecursionError):
        return None


def _first_fence(output: str) -> tuple[Any, int] | None:
    """The object/array in the first ``json`` or untagged fence that holds one, and its end."""
    for match in _FENCE.finditer(output):
        tag = (match.group(1) or "").lower()
        if tag and not tag.startswith("json"):
            continue
        parsed = _parse_whole(match.group(2).strip())
        if parsed is not None and isinstance(parsed[0], (dict, list)):
            return parsed[0], match.end()
    return None


class _Scanner:
    """Finds complete JSON objects/arrays in text, within a budget of failed attempts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.failures = 0
        self.failed_scan = 0

    @property
    def gave_up(self) -> bool:
        return self.failures >= _MAX_FAILED_ATTEMPTS or self.failed_scan >= _MAX_FAILED_SCAN

    def next_value(self, position: int) -> tuple[Any, int] | None:
        """The first object/array starting at or after ``position``, and its end."""
        for match in _START.finditer(self.text, position):
            if self.gave_up:
                return None
            try:
                value, end = _DECODER.raw_decode(self.text, match.start())
            except json.JSONDecodeError as error:
                self.failures += 1
                self.failed_scan += error.pos - match.start()
                continue
            except RecursionError:
                self.failures += 1
                continue
            return value, end
        return None

    def count_from(self, position: int) -> int:
        """How many top-level objects/arrays follow one another from ``position`` on."""
        count = 0
        while (found := self.next_value(position)) is not None:
            count += 1
            position = found[1]
        return count


def _no_json_message(output: str, *, gave_up: bool) -> str:
    if not output.strip():
        return "no JSON found: the output is empty"
    if len(output) > _EXCERPT_LENGTH:
        shown = f"starts: {output[:_EXCERPT_LENGTH] + '…'!r}"
    else:
        shown = f"is: {output!r}"
    message = (
        "no JSON found: the output is not JSON as a whole, has no ```json (or plain) code fence "
        "holding a JSON object/array, and no complete JSON object or array embedded in it"
    )
    if gave_up:
        message += " (the search gave up after too many places that did not decode)"
    return f"{message}; the output ({len(output)} chars) {shown}"
