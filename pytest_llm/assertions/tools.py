"""``assert_tool_called`` and ``assert_tool_sequence``: which tools the model asked for, with
which arguments, in which order.

Tool calls come from ``LLMCall.tool_calls`` (every provider's format read into ``{id, name,
arguments}``, the arguments parsed to a dict when they are JSON). An expected ``args`` is one of:

- a dict of arguments, contained in the call's arguments: every key it names is there with an
  equal value; nested dicts are compared the same way (a subset), lists item by item (same
  length), other values by equality (``True`` is not ``1``);
- a JSON Schema the arguments must satisfy: a dict is taken for a schema (and not for arguments)
  when it has a ``"$schema"`` key, or a ``"type": "object"`` together with a ``"properties"``
  dict, at its top level;
- a pydantic model class, whose JSON Schema the arguments must satisfy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llm.assertions import schemas
from pytest_llm.replay import active_case
from pytest_llm.report.answer_text import tool_call_text

MODES = ("strict", "unordered", "subset", "superset")
_SHOWN_CALLS = 20


class ArgsPattern:
    """What an expected ``args`` asks of a tool call's arguments (checked once, up front)."""

    def __init__(self, args: Any, *, where: str) -> None:
        self.args = args
        self.schema: dict[str, Any] | None = None
        if args is None:
            return
        if isinstance(args, type) and hasattr(args, "model_json_schema"):
            self.schema = schemas.load_schema(args)
        elif isinstance(args, Mapping):
            if is_schema(args):
                self.schema = schemas.load_schema(args)
        else:
            raise TypeError(
                f"{where} must be a dict of arguments, a JSON Schema dict or a pydantic model "
                f"class, got {type(args).__name__}"
            )

    def mismatch(self, arguments: Any) -> str | None:
        """Why ``arguments`` do not match (None: they do)."""
        if self.args is None:
            return None
        if self.schema is not None:
            if not isinstance(arguments, (dict, list)):
                return "the arguments are not JSON"
            problems = schemas.violations(arguments, self.schema)
            return None if not problems else "; ".join(problems[:3])
        if not isinstance(arguments, Mapping):
            return "the arguments are not a JSON object"
        return contained(arguments, self.args, "$")

    def describe(self) -> str:
        if self.args is None:
            return "any arguments"
        if isinstance(self.args, type):
            return f"arguments valid for {self.args.__name__}"
        if self.schema is not None:
            return f"arguments valid for the schema {_json(self.args)}"
        return f"arguments containing {_json(self.args)}"


def is_schema(value: Mapping[str, Any]) -> bool:
    """The documented rule: a JSON Schema has ``$schema``, or ``type: object`` with ``properties``."""
    return "$schema" in value or (
        value.get("type") == "object" and isinstance(value.get("properties"), Mapping)
    )


def contained(actual: Any, expected: Any, path: str) -> str | None:
    """Where ``expected`` is not contained in ``actual`` (None: it is)."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return f"{path}: expected an object, got {_json(actual)}"
        for key, value in expected.items():
            if key not in actual:
                return f"{path}.{key}: missing (expected {_json(value)})"
            found = contained(actual[key], value, f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{path}: {_json(actual)} != {_json(list(expected))}"
        for index, (item, wanted) in enumerate(zip(actual, expected, strict=True)):
            found = contained(item, wanted, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if isinstance(expected, bool) != isinstance(actual, bool) or actual != expected:
        return f"{path}: {_json(actual)} != {_json(expected)}"
    return None


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (ValueError, RecursionError):
        return repr(value)


# --------------------------------------------------------------------------- the calls


def tool_calls_of(calls: Any, what: str) -> tuple[list[dict[str, Any]], int]:
    """Every tool call of ``calls`` (default: the running case's), in order, and how many LLM
    calls there were; no LLM call at all is a failure."""
    if calls is None:
        made = list(active_case.require(what).case.calls)
    elif isinstance(calls, (str, bytes, Mapping)) or not isinstance(calls, Sequence):
        raise TypeError(
            f"{what}: calls must be a list of llm_calls items, got {type(calls).__name__}"
        )
    else:
        made = list(calls)
    for index, call in enumerate(made):
        if not isinstance(getattr(call, "tool_calls", None), (tuple, list)):
            raise TypeError(
                f"{what}: calls[{index}] is a {type(call).__name__}, not an llm_calls item "
                "(an LLMCall with tool_calls)"
            )
    if not made:
        where = "in the given calls" if calls is not None else "so far in this test"
        raise AssertionError(f"{what}: no LLM call was made {where}, so no tool was called")
    tools = [dict(tool) for call in made for tool in call.tool_calls if isinstance(tool, Mapping)]
    return tools, len(made)


def _shown(tool: Mapping[str, Any]) -> str:
    return tool_call_text(tool.get("name"), _json_text(tool.get("arguments")))


def _json_text(arguments: Any) -> Any:
    return arguments if isinstance(arguments, str) else _json(arguments)


def _made_lines(tools: Sequence[Mapping[str, Any]], llm_calls: int) -> list[str]:
    if not tools:
        return [f"  no tool calls were made ({llm_calls} LLM call{'s' if llm_calls != 1 else ''})"]
    lines = [
        f"  tool calls made ({len(tools)} in {llm_calls} LLM call{'s' if llm_calls != 1 else ''}):"
    ]
    lines += [
        f"    {number}. {_shown(tool)}" for number, tool in enumerate(tools[:_SHOWN_CALLS], 1)
    ]
    if len(tools) > _SHOWN_CALLS:
        lines.append(f"    ... and {len(tools) - _SHOWN_CALLS} more")
    return lines


def _tool_name(name: Any, where: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{where} must be a tool name (str), got {type(name).__name__}")
    if not name:
        raise ValueError(f"{where} must be a non-empty tool name")
    return name


# --------------------------------------------------------------------------- the assertions


def assert_tool_called(
    name: str, *, args: Any = None, times: int | None = None, calls: Any = None
) -> list[dict[str, Any]]:
    """Some call of the case so far (or of ``calls``) asked for the tool ``name`` (with ``args``;
    exactly ``times`` times); returns the matching tool calls."""
    __tracebackhide__ = True
    name = _tool_name(name, "assert_tool_called: name")
    pattern = ArgsPattern(args, where="assert_tool_called: args")
    if times is not None and (not isinstance(times, int) or isinstance(times, bool)):
        raise TypeError(f"assert_tool_called: times must be an int, got {type(times).__name__}")
    if times is not None and times < 0:
        raise ValueError(f"assert_tool_called: times must be 0 or more, got {times}")
    tools, llm_calls = tool_calls_of(calls, "assert_tool_called")
    named = [tool for tool in tools if tool.get("name") == name]
    matching = [tool for tool in named if pattern.mismatch(tool.get("arguments")) is None]
    if times is None and matching:
        return matching
    if times is not None and len(matching) == times:
        return matching
    wanted = name if args is None else f"{name} with {pattern.describe()}"
    if times is None:
        headline = f"tool {wanted} was not called"
    else:
        headline = f"tool {wanted} was called {len(matching)} time(s), expected exactly {times}"
    lines = [headline]
    if args is not None:
        lines += [
            f"  {_shown(tool)}: {pattern.mismatch(tool.get('arguments'))}"
            for tool in named
            if pattern.mismatch(tool.get("arguments")) is not None
        ][:_SHOWN_CALLS]
    raise AssertionError("\n".join(lines + _made_lines(tools, llm_calls)))


def _expected_items(expected: Any) -> list[tuple[str, ArgsPattern]]:
    if isinstance(expected, (str, bytes, Mapping)) or not isinstance(expected, Sequence):
        raise TypeError(
            "assert_tool_sequence: expected must be a list of tool names or (name, args) pairs, "
            f"got {type(expected).__name__}"
        )
    items = []
    for index, item in enumerate(expected):
        where = f"assert_tool_sequence: expected[{index}]"
        if isinstance(item, str):
            items.append((_tool_name(item, where), ArgsPattern(None, where=where)))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            items.append(
                (_tool_name(item[0], f"{where}[0]"), ArgsPattern(item[1], where=f"{where}[1]"))
            )
        else:
            raise TypeError(
                f"{where} must be a tool name or a (name, args) pair, got {_json(item)}"
            )
    return items


def _matches(tool: Mapping[str, Any], item: tuple[str, ArgsPattern]) -> bool:
    return tool.get("name") == item[0] and item[1].mismatch(tool.get("arguments")) is None


def _pairing(
    tools: Sequence[Mapping[str, Any]], items: Sequence[tuple[str, ArgsPattern]]
) -> dict[int, int]:
    """The most expected items (by index) paired each with a distinct matching tool call
    (augmenting paths: an args pattern may match some calls and not others)."""
    owner: dict[int, int] = {}  # tool index -> item index

    def place(item_index: int, seen: set[int]) -> bool:
        for tool_index, tool in enumerate(tools):
            if tool_index in seen or not _matches(tool, items[item_index]):
                continue
            seen.add(tool_index)
            if tool_index not in owner or place(owner[tool_index], seen):
                owner[tool_index] = item_index
                return True
        return False

    for item_index in range(len(items)):
        place(item_index, set())
    return {item: tool for tool, item in owner.items()}


def _item_text(item: tuple[str, ArgsPattern]) -> str:
    name, pattern = item
    return name if pattern.args is None else f"{name} ({pattern.describe()})"


def assert_tool_sequence(
    expected: Sequence[Any], *, mode: str = "strict", calls: Any = None
) -> list[str]:
    """The tool calls of the case (or of ``calls``), in order, against ``expected`` (tool names
    or ``(name, args)`` pairs): ``strict`` the same calls in the same order, ``unordered`` in
    any order, ``subset`` every call made is expected, ``superset`` every expected call was
    made. Each expected item stands for one call. Returns the names of the calls made."""
    __tracebackhide__ = True
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(
            f"assert_tool_sequence: unknown mode {mode!r}; use one of {', '.join(MODES)}"
        )
    items = _expected_items(expected)
    tools, llm_calls = tool_calls_of(calls, "assert_tool_sequence")
    names = [str(tool.get("name")) for tool in tools]
    problems: list[str] = []
    if mode == "strict":
        for position, (tool, item) in enumerate(zip(tools, items, strict=False), 1):
            if not _matches(tool, item):
                why = (
                    item[1].mismatch(tool.get("arguments")) if tool.get("name") == item[0] else None
                )
                problems.append(
                    f"position {position}: expected {_item_text(item)}, got {_shown(tool)}"
                    + (f" ({why})" if why else "")
                )
                break
        if not problems and len(tools) != len(items):
            problems.append(f"{len(tools)} tool call(s) made, {len(items)} expected")
    else:
        paired = _pairing(tools, items)
        used = set(paired.values())
        missing = [items[index] for index in range(len(items)) if index not in paired]
        extra = [tool for index, tool in enumerate(tools) if index not in used]
        if mode in ("unordered", "superset") and missing:
            problems += [f"expected, not made: {_item_text(item)}" for item in missing]
        if mode in ("unordered", "subset") and extra:
            problems += [f"made, not expected: {_shown(tool)}" for tool in extra]
    if not problems:
        return names
    shown = ", ".join(_item_text(item) for item in items) or "(none)"
    lines = [f"tool calls do not match the expected sequence (mode={mode}):"]
    lines += [f"  {problem}" for problem in problems[:_SHOWN_CALLS]]
    lines.append(f"  expected: [{shown}]")
    raise AssertionError("\n".join(lines + _made_lines(tools, llm_calls)))
