"""Which recording answers a request, and, on a miss, what differs from the nearest one.

A request matches a recording on method, URL path and query, and body, with JSON bodies
compared as data (key order and whitespace do not matter). Host and port are ignored.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from rapidfuzz import fuzz

from pytest_llm.cassette.interaction import Interaction, parse_json
from pytest_llm.providers import provider_for

MatchKey = tuple[str, str, str]


#: Request fields that say how the SDK wants bytes delivered, not what is asked: the openai SDK
#: adds ``encoding_format: base64`` to embeddings on its own and decodes float lists too, so
#: a cassette recorded by an older SDK (no field) still answers.
TRANSPORT_FIELDS = {"/embeddings": ("encoding_format",)}


def canonical_body(body: bytes, path: str = "") -> str:
    data = parse_json(body)
    if data is None:
        return body.decode("utf-8", "replace")
    if isinstance(data, dict):
        bare = path.split("?", 1)[0].rstrip("/")
        for suffix, fields in TRANSPORT_FIELDS.items():
            if bare.endswith(suffix):
                data = {key: value for key, value in data.items() if key not in fields}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_path(path: str) -> str:
    base, sep, query = path.partition("?")
    if not sep:
        return base or "/"
    return (
        (base or "/")
        + "?"
        + "&".join(f"{k}={v}" for k, v in sorted(parse_qsl(query, keep_blank_values=True)))
    )


def match_key(method: str, path: str, body: bytes) -> MatchKey:
    return (method.upper(), canonical_path(path), canonical_body(body, path))


def unused_count(old: Sequence[Interaction], new: Sequence[Interaction]) -> int:
    """How many of the ``old`` recordings no request of ``new`` matches (each answers one):
    the stale recordings a fresh recording drops."""
    left = collections.Counter(match_key(item.method, item.path, item.request_body) for item in old)
    left.subtract(match_key(item.method, item.path, item.request_body) for item in new)
    return sum(count for count in left.values() if count > 0)


def endpoint_key(method: str, path: str, body: bytes) -> MatchKey:
    """Only the endpoint: for answering calls by position, whatever their bodies say."""
    return (method.upper(), path.split("?", 1)[0].rstrip("/") or "/", "")


def nearest(
    method: str, path: str, body: bytes, recorded: Sequence[Interaction]
) -> tuple[int, Interaction] | None:
    """The recording most like the request (same endpoint preferred, then the fewest body
    differences), as (index, interaction)."""
    best: tuple[tuple[int, int, int, float], int, Interaction] | None = None
    request_data = parse_json(body)
    live_text = body.decode("utf-8", "replace")
    for index, interaction in enumerate(recorded):
        score = (
            0 if interaction.method == method.upper() else 1,
            0 if canonical_path(interaction.path) == canonical_path(path) else 1,
            len(data_differences(interaction.request_json(), request_data)),
            # a tie (a changed id against a missing turn): the body most alike in its text
            -fuzz.ratio(interaction.request_body.decode("utf-8", "replace"), live_text),
        )
        if best is None or score < best[0]:
            best = (score, index, interaction)
    return None if best is None else (best[1], best[2])


def data_differences(recorded: Any, live: Any, where: str = "", limit: int = 6) -> list[str]:
    """Human-readable differences between two JSON values, by JSON path (``messages[1].content``)."""
    found: list[str] = []
    _differences(recorded, live, where, found, limit)
    return found


def _differences(recorded: Any, live: Any, where: str, found: list[str], limit: int) -> None:
    if len(found) >= limit:
        return
    if isinstance(recorded, dict) and isinstance(live, dict):
        for key in list(recorded) + [key for key in live if key not in recorded]:
            path = f"{where}.{key}" if where else str(key)
            if key not in live:
                found.append(f"{path}: recorded {_short(recorded[key])}, now absent")
            elif key not in recorded:
                found.append(f"{path}: now {_short(live[key])}, absent from the recording")
            else:
                _differences(recorded[key], live[key], path, found, limit)
            if len(found) >= limit:
                return
    elif isinstance(recorded, list) and isinstance(live, list):
        for index in range(max(len(recorded), len(live))):
            path = f"{where}[{index}]"
            if index >= len(live):
                found.append(f"{path}: recorded {_short(recorded[index])}, now absent")
            elif index >= len(recorded):
                found.append(f"{path}: now {_short(live[index])}, absent from the recording")
            else:
                _differences(recorded[index], live[index], path, found, limit)
            if len(found) >= limit:
                return
    elif isinstance(recorded, str) and isinstance(live, str) and recorded != live:
        now, then = _around_first_difference(live, recorded)
        found.append(f"{where or 'body'}: now {now}, recorded {then}")
    elif recorded != live or type(recorded) is not type(live):
        found.append(f"{where or 'body'}: now {_short(live)}, recorded {_short(recorded)}")


def _around_first_difference(live: str, recorded: str, width: int = 100) -> tuple[str, str]:
    """Both strings as JSON, cut to ``width``: around their first difference when it lies past
    the start (a long system prompt with one word edited near its end shows the edit)."""
    live_text, recorded_text = (
        json.dumps(live, ensure_ascii=False),
        json.dumps(recorded, ensure_ascii=False),
    )
    if len(live_text) <= width and len(recorded_text) <= width:
        return live_text, recorded_text
    first = next(
        (i for i, (a, b) in enumerate(zip(live_text, recorded_text, strict=False)) if a != b),
        min(len(live_text), len(recorded_text)),
    )
    start = max(0, first - width // 3)
    return _window(live_text, start, width), _window(recorded_text, start, width)


def _window(text: str, start: int, width: int) -> str:
    shown = text[start : start + width]
    return ("…" if start else "") + shown + ("…" if start + width < len(text) else "")


def _short(value: Any, width: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def describe_request(method: str, path: str, body: bytes) -> str:
    """``POST <path> model=<model>: "last user message"``, the message as the provider reads it."""
    data = parse_json(body)
    summary = f"{method.upper()} {path}"
    if isinstance(data, dict):
        if isinstance(data.get("model"), str):
            summary += f" model={data['model']}"
        text = provider_for(path).last_user_text(data)
        if text:
            summary += f": {_short(text, 120)}"
    elif body:
        summary += f" body={_short(body.decode('utf-8', 'replace'), 120)}"
    return summary
