"""Calls of ``@llm_tool`` functions as a cassette stores them: the top-level ``tools:`` list.

Each entry is the tool's name, its arguments by parameter name and its JSON result, written
as YAML structure in the order the calls were made::

    tools:
    - name: get_weather
      arguments:
        city: Paris
      result:
        temperature_c: 18

A call whose tool raised an exception stores ``raised:`` instead of ``result:``: the
exception's class (``module:qualname``) and message, raised again in replay.

A call matches a recording on the tool's name and its arguments compared as JSON data.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_llm.errors import CassetteError

#: The cassette's top-level key of the tool calls.
TOOLS_KEY = "tools"

ToolKey = tuple[str, str]


@dataclasses.dataclass(frozen=True)
class ToolCall:
    """One call of a recorded tool: its name, arguments (JSON object) and JSON result, or the
    exception it raised (``raised``: ``{"type": "module:qualname", "message": ...}``)."""

    name: str
    arguments: dict[str, Any]
    result: Any
    raised: dict[str, str] | None = None

    @property
    def key(self) -> ToolKey:
        return tool_key(self.name, self.arguments)

    def describe(self, width: int = 120) -> str:
        """``get_weather({"city": "Paris"})``, cut to ``width`` characters."""
        return describe_call(self.name, self.arguments, width)


def tool_key(name: str, arguments: dict[str, Any]) -> ToolKey:
    """What a call is matched on: the name and the arguments as canonical JSON."""
    return name, json.dumps(arguments, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def describe_call(name: str, arguments: dict[str, Any], width: int = 120) -> str:
    text = json.dumps(arguments, ensure_ascii=False)
    if len(text) > width:
        text = text[: width - 1] + "…"
    return f"{name}({text})"


def as_json_data(value: Any) -> Any:
    """``value`` as plain JSON data (tuples become lists); ValueError/TypeError if it is none."""
    return json.loads(json.dumps(value, allow_nan=False, ensure_ascii=False))


# --------------------------------------------------------------------------- reading


def parse_tool_calls(document: dict[str, Any], path: Path | str) -> list[ToolCall]:
    """The ``tools:`` list of a loaded cassette document (none: an empty list); every entry's
    shape is checked, and a bad one is a :class:`CassetteError` naming the file and entry."""
    entries = document.get(TOOLS_KEY)
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise CassetteError(
            f"{path}: '{TOOLS_KEY}' is not a list of tool calls (got {type(entries).__name__})"
        )
    calls = []
    for number, entry in enumerate(entries, start=1):
        problem = _entry_problem(entry)
        if problem is not None:
            raise CassetteError(
                f"{path}: tool call #{number} is malformed: {problem}; the file may be truncated "
                "or edited by hand (re-record the case with pytest --llm-rerecord)"
            )
        raised = entry.get("raised")
        calls.append(
            ToolCall(
                entry["name"],
                dict(entry["arguments"]),
                entry.get("result"),
                None if raised is None else {"type": raised["type"], "message": raised["message"]},
            )
        )
    return calls


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return f"expected a mapping with name, arguments and result, got {type(entry).__name__}"
    unknown = sorted(
        str(key) for key in entry if key not in ("name", "arguments", "result", "raised")
    )
    if unknown:
        return f"unknown key(s) {', '.join(unknown)}"
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        return f"its name {name!r} is not a tool name"
    if "arguments" not in entry or not isinstance(entry["arguments"], dict):
        return f"the arguments of {name!r} are not a mapping"
    if "raised" in entry:
        raised = entry["raised"]
        if "result" in entry:
            return f"{name!r} has both a result and an exception it raised"
        if (
            not isinstance(raised, dict)
            or set(raised) != {"type", "message"}
            or not all(isinstance(value, str) for value in raised.values())
        ):
            return f"the exception {name!r} raised is not a mapping of a type and a message"
    elif "result" not in entry:
        return f"{name!r} has no result"
    for label in ("arguments", "result"):
        if label not in entry:
            continue
        problem = _json_problem(entry[label])
        if problem is not None:
            return f"the {label} of {name!r}: not JSON data ({problem})"
    return None


def _json_problem(value: Any) -> str | None:
    """Why ``value`` (loaded YAML) is not JSON data, if it is not (no recursion)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"key {key!r} is not a string"
                pending.append(child)
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            return f"{item!r} is not a JSON number"
        elif item is not None and not isinstance(item, (str, int, float, bool)):
            return f"a {type(item).__name__} value"
    return None


# --------------------------------------------------------------------------- writing


def stable_order(new: Sequence[ToolCall], old: Sequence[ToolCall]) -> list[ToolCall]:
    """``new`` in the old cassette's order when it holds the same calls with the same results
    (calls made concurrently, from threads, start in any order): an unchanged re-record
    changes no line."""
    if len(new) == len(old) and sorted(map(_canonical, new)) == sorted(map(_canonical, old)):
        return list(old)
    return list(new)


def _canonical(call: ToolCall) -> str:
    return json.dumps([call.name, call.arguments, call.result, call.raised], sort_keys=True)


def tool_calls_document(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [_entry(call) for call in calls]


def _entry(call: ToolCall) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": call.name, "arguments": call.arguments}
    if call.raised is not None:
        entry["raised"] = dict(call.raised)
    else:
        entry["result"] = call.result
    return entry
