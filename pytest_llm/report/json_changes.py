"""What changed between two JSON answers (structured outputs), path by path: ``days[2] added``,
``budget_eur 450 → 420``, ``city "Oslo" → "Bergen"``. Used by ``pytest-llm diff``.

Objects are compared key by key, arrays position by position (an item more at the end is
``added``, one less ``removed``); other values by equality (``true`` is not ``1``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any, Literal

from pytest_llm.assertions import json_extraction
from pytest_llm.errors import NoJSONFound

ChangeKind = Literal["added", "removed", "changed"]
#: How many changed paths are kept; the rest are counted ("and N more").
LIMIT = 20
_VALUE_WIDTH = 60
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


@dataclasses.dataclass(frozen=True)
class JsonChange:
    """One changed path: ``old`` is absent (None) for ``added``, ``new`` for ``removed``."""

    path: str
    kind: ChangeKind
    old: Any = None
    new: Any = None

    def to_dict(self) -> dict[str, Any]:
        """``{path, kind, old, new, text}``; a value nested too deeply to write as JSON is
        given as its shortened text."""
        return {
            "path": self.path,
            "kind": self.kind,
            "old": _writable(self.old),
            "new": _writable(self.new),
            "text": self.text(),
        }

    def text(self) -> str:
        if self.kind == "added":
            return f"{self.path} added: {short_value(self.new)}"
        if self.kind == "removed":
            return f"{self.path} removed (was {short_value(self.old)})"
        return f"{self.path} {short_value(self.old)} → {short_value(self.new)}"


@dataclasses.dataclass(frozen=True)
class JsonChanges:
    """The first :data:`LIMIT` changes, and how many more there were."""

    changes: tuple[JsonChange, ...]
    more: int = 0

    def lines(self) -> list[str]:
        shown = [change.text() for change in self.changes]
        return shown + ([f"... and {self.more} more"] if self.more else [])


def json_document(text: str | None) -> Any:
    """The JSON object or array an answer's text holds (bare, or in a Markdown code fence);
    None for any other answer (prose, a scalar, no text)."""
    if not text:
        return None
    try:
        found = json_extraction.extract_json(text)
    except (NoJSONFound, RecursionError):
        return None
    if found.source == "embedded" or not isinstance(found.value, (dict, list)):
        return None
    return found.value


def compare_documents(old: Any, new: Any, *, limit: int = LIMIT) -> JsonChanges:
    """The changes from ``old`` to ``new``, at most ``limit`` of them kept."""
    kept: list[JsonChange] = []
    more = 0
    try:
        for change in _changes(old, new, ""):
            if len(kept) < limit:
                kept.append(change)
            else:
                more += 1
    except RecursionError:  # a document nested deeper than Python's stack: what was found
        pass
    return JsonChanges(tuple(kept), more)


def _changes(old: Any, new: Any, path: str) -> Iterator[JsonChange]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key, value in old.items():
            where = _key_path(path, key)
            if key not in new:
                yield JsonChange(where, "removed", old=value)
            else:
                yield from _changes(value, new[key], where)
        for key, value in new.items():
            if key not in old:
                yield JsonChange(_key_path(path, key), "added", new=value)
        return
    if isinstance(old, list) and isinstance(new, list):
        for index, (before, after) in enumerate(zip(old, new, strict=False)):
            yield from _changes(before, after, f"{path}[{index}]")
        for index in range(len(new), len(old)):
            yield JsonChange(f"{path}[{index}]", "removed", old=old[index])
        for index in range(len(old), len(new)):
            yield JsonChange(f"{path}[{index}]", "added", new=new[index])
        return
    if isinstance(old, bool) != isinstance(new, bool) or old != new:
        yield JsonChange(path or "$", "changed", old=old, new=new)


def _key_path(path: str, key: str) -> str:
    if _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def short_value(value: Any) -> str:
    """A value as compact JSON (unescaped), cut to a readable width."""
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (RecursionError, ValueError):
        return "(nested too deeply to show)"
    return shown if len(shown) <= _VALUE_WIDTH else shown[: _VALUE_WIDTH - 1] + "…"


def _writable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (RecursionError, ValueError):
        return short_value(value)
    return value
