"""What a model answered, as the text a reader compares: the one form shared by the re-record
report's drift and ``pytest-llm diff``/``show``.

An answer is its text (a JSON answer pretty-printed) followed by its tool calls, one per line
(``tool call get_weather({"city": "Paris"})``), so a changed tool call is a changed answer and a
turn that only calls a tool is not blank.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pytest_llm.providers.llm_call import LLMCall

#: JSON shorter than this stays on one line.
SHORT_JSON = 80
#: An answer that is one Markdown code fence (```json ... ```), nothing around it.
_WHOLE_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL)


def answer_of(call: LLMCall) -> str | None:
    """The answer as text (text, then tool calls); None when the call has neither."""
    lines = []
    if call.text:
        lines.append(pretty_if_json(call.text))
    lines += [
        f"tool call {tool_call_text(tool.get('name'), tool.get('arguments'))}"
        for tool in call.tool_calls
    ]
    if lines:
        return "\n".join(lines)
    return call.text


def tool_call_text(name: Any, arguments: Any) -> str:
    """``get_weather({"city": "Paris"})``; long arguments pretty-printed over several lines."""
    parsed = json.loads(arguments) if is_json_text(arguments) else arguments
    shown = compact_json(parsed) if not isinstance(parsed, str) else parsed
    if len(shown) > SHORT_JSON and isinstance(parsed, (dict, list)):
        shown = json.dumps(parsed, indent=2, ensure_ascii=False)
    return f"{name or '?'}({shown})"


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def pretty_if_json(text: str) -> str:
    """A JSON answer pretty-printed and unescaped (``Belém``, not ``Bel\\u00e9m``): bare, or
    the whole answer one Markdown code fence (kept as a ``json`` fence); other text as it is."""
    stripped = text.strip()
    if is_json_text(text) and stripped[:1] in ("{", "["):
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    fence = _WHOLE_FENCE.fullmatch(stripped)
    if fence and is_json_text(fence.group(1)) and fence.group(1).strip()[:1] in ("{", "["):
        pretty = json.dumps(json.loads(fence.group(1)), indent=2, ensure_ascii=False)
        return f"```json\n{pretty}\n```"
    return text


def is_json_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        json.loads(value)
    except (ValueError, RecursionError):
        return False
    return True


def json_value(text: str) -> Any:
    """The JSON object or array an answer is (bare, or the whole answer one code fence);
    None for any other answer."""
    stripped = text.strip()
    fence = _WHOLE_FENCE.fullmatch(stripped)
    inner = fence.group(1).strip() if fence else stripped
    if inner[:1] not in ("{", "[") or not is_json_text(inner):
        return None
    return json.loads(inner)
