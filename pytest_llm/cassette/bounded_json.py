"""JSON from a cassette or a live body, parsed within the loader's depth limit.

Bodies nested deeper than that (or too deep for the parser: a RecursionError) are no JSON to
the plugin but opaque text: its readers, scrubbers and renderers recurse through JSON values.
"""

from __future__ import annotations

import json
from typing import Any

from pytest_llm.cassette.fast_yaml import LIMITS

#: JSON bodies nested deeper are treated as opaque text (the cassette loader's depth limit).
MAX_JSON_DEPTH = LIMITS.max_depth


def parse_json(body: bytes | str | None) -> Any | None:
    if not body:
        return None
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else body
    brackets = raw.count(b"[") + raw.count(b"{")
    if brackets > MAX_JSON_DEPTH and nested_deeper_than(value, MAX_JSON_DEPTH):
        return None  # hostile: the readers and renderers of bodies recurse through them
    return value


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels in ``value`` (no recursion)."""
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, (dict, list)) else []
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= limit:
                    return True
                pending.append((child, depth + 1))
    return False
