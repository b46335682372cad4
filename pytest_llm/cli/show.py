"""A readable rendering of a cassette: what each call asked and what the model answered.

``pytest-llm show`` prints it (and git prints it through the textconv driver), and
``pytest-llm diff`` compares the answers as :func:`answer_text` writes them. The output depends
on the interactions only: no file names, no clocks, so the same cassette renders the same.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import textwrap
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from pytest_llm.assertions import similarity
from pytest_llm.cassette.interaction import Interaction
from pytest_llm.cassette.stabilizing import VOLATILE_FIELDS
from pytest_llm.cassette.tool_calls import ToolCall
from pytest_llm.providers import llm_call
from pytest_llm.providers.llm_call import LLMCall
from pytest_llm.report.answer_text import (
    answer_of,
    compact_json,
    tool_call_text,
)

WIDTH = 100
INDENT = "  "
#: Request fields shown by their own lines, not among the parameters.
_SHOWN_FIELDS = frozenset(
    {"model", "messages", "input", "prompt", "instructions", "stream", "contents", "system"}
    | {"systemInstruction"}
)
_EMBEDDING_PREVIEW = 3
#: Answers without text longer than this (as compact JSON) are shown compact, not one value a
#: line: ``indent`` takes json's pure-Python encoder, and a hostile cassette can be huge.
_PRETTY_JSON_UP_TO = 100_000
#: Lines longer than this are printed whole, not wrapped.
_WRAP_UP_TO = 20_000


def render(
    interactions: Sequence[Interaction],
    tool_calls: Sequence[ToolCall] = (),
    *,
    width: int = WIDTH,
) -> str:
    """Every interaction of a cassette, numbered, then its recorded tool calls (``@llm_tool``),
    as plain text ending in a newline."""
    count = len(interactions)
    headline = f"{count} interaction{'' if count == 1 else 's'}"
    if tool_calls:
        headline += f", {len(tool_calls)} recorded tool call{'' if len(tool_calls) == 1 else 's'}"
    blocks = [headline]
    blocks += [
        render_interaction(number, interaction, width=width)
        for number, interaction in enumerate(interactions, start=1)
    ]
    blocks += [
        render_tool_call(number, call, width=width)
        for number, call in enumerate(tool_calls, start=1)
    ]
    return "\n\n".join(blocks) + "\n"


def render_tool_call(number: int, call: ToolCall, *, width: int = WIDTH) -> str:
    """``tool #1 get_weather`` with its arguments and result as compact JSON."""
    lines = [f"tool #{number} {call.name}"]
    lines += wrap(f"arguments: {compact_json(call.arguments)}", INDENT, width, hanging=INDENT * 2)
    label = "raised" if call.raised is not None else "result"
    lines += wrap(f"{label}: {tool_result_text(call)}", INDENT, width, hanging=INDENT * 2)
    return "\n".join(lines)


def tool_result_text(call: ToolCall) -> str:
    """A tool call's result as text: a string as it is, other JSON compact; the exception it
    raised as ``module:Class: message``."""
    if call.raised is not None:
        return f"{call.raised['type']}: {call.raised['message']}"
    return call.result if isinstance(call.result, str) else compact_json(call.result)


def render_interaction(number: int, interaction: Interaction, *, width: int = WIDTH) -> str:
    call = llm_call.describe(interaction)
    lines = [f"#{number} {interaction.method} {interaction.path}"]
    if call.model:
        lines.append(f"{INDENT}model: {call.model}")
    lines.append(f"{INDENT}status: {status_text(interaction.status, interaction.reason)}")
    request = request_lines(call.request, interaction.request_body)
    if request:
        lines.append(f"{INDENT}request:")
        lines += [
            line for item in request for line in wrap(item, INDENT * 2, width, hanging=INDENT * 3)
        ]
    lines.append(f"{INDENT}answer{' (streamed)' if call.stream else ''}:")
    lines += wrap(answer_text(interaction), INDENT * 2, width)
    figures = measurements(call)
    if figures:
        lines.append(f"{INDENT}{figures}")
    return "\n".join(lines)


def status_text(status: int, reason: str = "") -> str:
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"{status} {reason}".rstrip()


def measurements(call: LLMCall) -> str:
    """``latency 0.512 s, ttft 0.101 s, tokens 12 prompt + 5 completion`` (what is known)."""
    parts = []
    if call.latency_s is not None:
        parts.append(f"latency {call.latency_s:.3f} s")
    if call.ttft_s is not None:
        parts.append(f"ttft {call.ttft_s:.3f} s")
    if call.prompt_tokens is not None or call.completion_tokens is not None:
        tokens = [f"{call.prompt_tokens or 0} prompt"]
        if call.completion_tokens is not None:
            tokens.append(f"{call.completion_tokens} completion")
        parts.append("tokens " + " + ".join(tokens))
    return ", ".join(parts)


def wrap(text: str, indent: str, width: int, *, hanging: str | None = None) -> list[str]:
    """``text`` indented, its lines kept and wrapped at ``width``; every line after the first
    (wrapped or not) indented by ``hanging`` (default: ``indent``)."""
    lines: list[str] = []
    hanging = indent if hanging is None else hanging
    for index, line in enumerate(text.splitlines() or [""]):
        first = indent if index == 0 else hanging
        if len(line) > _WRAP_UP_TO:  # a huge unbroken value: textwrap would take seconds
            lines.append(first + line)
            continue
        if len(first) + len(line) <= width and line[-1:].strip() and "\t" not in line:
            lines.append(first + line)  # what textwrap gives for it, faster
            continue
        wrapped = textwrap.wrap(
            line,
            width=width,
            initial_indent=first,
            subsequent_indent=hanging,
            break_on_hyphens=False,
            replace_whitespace=False,
        )
        lines += wrapped or [first.rstrip()]
    return lines


# --------------------------------------------------------------------------- requests


def request_lines(request: Any, body: bytes) -> list[str]:
    """One ``role: content`` line per message (or input), then the other parameters."""
    if not isinstance(request, dict):
        text = body.decode("utf-8", "replace").strip()
        return [f"body: {text}"] if text else []
    lines = []
    if isinstance(request.get("instructions"), str):
        lines.append(f"instructions: {request['instructions']}")
    for key in ("system", "systemInstruction"):  # Anthropic, Bedrock; Gemini
        if key in request:
            system = request[key]
            parts = system.get("parts") if isinstance(system, dict) else system
            lines.append(f"system: {content_text(parts)}")
    for key in ("messages", "input", "prompt"):
        if key in request:
            lines += _input_lines(key, request[key])
    if isinstance(request.get("contents"), list):  # Gemini: {role, parts}
        lines += [_gemini_content_line(content) for content in request["contents"]]
    elif "contents" in request:
        lines += _input_lines("contents", request["contents"])
    parameters = _parameters(request)
    if parameters:
        lines.append(f"parameters: {parameters}")
    return lines


def _input_lines(key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [f"{key}: {value}"]
    if not isinstance(value, list):
        return [f"{key}: {compact_json(value)}"]
    if value and all(isinstance(item, int) for item in value):
        return [f"{key}: [{len(value)} token ids]"]
    return [_item_line(key, item) for item in value]


def _item_line(key: str, item: Any) -> str:
    if not isinstance(item, dict):
        return f"{key}: {item if isinstance(item, str) else compact_json(item)}"
    if "role" not in item:  # Responses API items: function_call, function_call_output, ...
        kind = item.get("type", "item")
        detail = item.get("output", item.get("arguments", item.get("content")))
        return f"{kind}: {content_text(detail) or compact_json(item)}"
    line = f"{item['role']}: {content_text(item.get('content'))}".rstrip()
    for tool_call in item.get("tool_calls") or ():
        if isinstance(tool_call, dict):
            function = tool_call.get("function") or {}
            line += f"\ntool call {tool_call_text(function.get('name'), function.get('arguments'))}"
    return line


def _gemini_content_line(content: Any) -> str:
    if not isinstance(content, dict):
        return f"contents: {content if isinstance(content, str) else compact_json(content)}"
    role = content.get("role") or "user"
    return f"{role}: {content_text(content.get('parts'))}".rstrip()


def content_text(content: Any) -> str:
    """A message content as text: parts joined; tool calls and tool results of every provider
    (OpenAI-style blocks, Anthropic ``tool_use`` / ``tool_result``, Gemini ``functionCall`` /
    ``functionResponse``, Bedrock ``toolUse`` / ``toolResult``) spelled out; images and audio as
    placeholders."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return compact_json(content)
    return " ".join(_part_text(part) for part in content)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return compact_json(part)
    if isinstance(part.get("text"), str):
        return str(part["text"])
    if part.get("type") == "tool_use":
        return f"tool call {tool_call_text(part.get('name'), part.get('input'))}"
    for key in ("functionCall", "toolUse"):
        call = part.get(key)
        if isinstance(call, dict):
            arguments = call.get("args", call.get("input"))
            return f"tool call {tool_call_text(call.get('name'), arguments)}"
    if part.get("type") == "tool_result":
        return f"tool result: {content_text(part.get('content'))}"
    for key in ("functionResponse", "toolResult"):
        result = part.get(key)
        if isinstance(result, dict):
            shown = result.get("response", result.get("content"))
            return f"tool result: {content_text(shown) if isinstance(shown, list) else compact_json(shown)}"
    return f"[{part.get('type', 'part')}]"


def _parameters(request: dict[str, Any]) -> str:
    shown = []
    for key, value in request.items():
        if key in _SHOWN_FIELDS:
            continue
        if key == "tools" and isinstance(value, list):
            shown.append(f"tools=[{', '.join(_tool_name(tool) for tool in value)}]")
        else:
            shown.append(f"{key}={compact_json(value)}")
    return ", ".join(shown)


def _tool_name(tool: Any) -> str:
    if not isinstance(tool, dict):
        return "?"
    declarations = tool.get("functionDeclarations", tool.get("function_declarations"))
    if isinstance(declarations, list):  # Gemini: one tool holds several functions
        return ", ".join(_tool_name(declaration) for declaration in declarations) or "?"
    if isinstance(tool.get("toolSpec"), dict):  # Bedrock
        return _tool_name(tool["toolSpec"])
    function = tool.get("function")
    named = function if isinstance(function, dict) else tool
    return str(named.get("name") or tool.get("type") or "?")


# --------------------------------------------------------------------------- answers


def answer_text(interaction: Interaction) -> str:
    """What the model answered, as text: streams assembled, JSON answers pretty-printed, tool
    calls one per line, embeddings and moderations summarised, errors with their message."""
    call = llm_call.describe(interaction)
    if interaction.status >= 400:
        return f"error {status_text(interaction.status, interaction.reason)}: {_error_message(interaction)}"
    if call.endpoint == "embeddings" and isinstance(call.response, dict):
        return _embeddings_summary(call.response)
    if call.endpoint == "moderations" and isinstance(call.response, dict):
        return _moderation_summary(call.response)
    answer = answer_of(call)
    if answer:
        return answer
    if call.text == "" and call.endpoint != "responses":
        return "(empty answer)"
    return _structural(interaction, call)


def embedding_vectors(response: Any) -> list[list[float]]:
    """The vectors of an embeddings response, float lists or base64 float32 alike."""
    data = response.get("data") if isinstance(response, dict) else None
    vectors = []
    for item in data if isinstance(data, list) else ():
        embedding = item.get("embedding") if isinstance(item, dict) else None
        vector = similarity.one_vector(embedding)
        if vector is not None:
            vectors.append(vector)
        elif isinstance(embedding, str):
            vectors.append(_decode_base64_floats(embedding))
    return vectors


def _decode_base64_floats(encoded: str) -> list[float]:
    try:
        raw = base64.b64decode(encoded)
    except (binascii.Error, ValueError):
        return []
    count = len(raw) // 4
    return list(struct.unpack(f"<{count}f", raw[: count * 4]))


def _embeddings_summary(response: dict[str, Any]) -> str:
    lines = []
    for index, vector in enumerate(embedding_vectors(response)):
        preview = ", ".join(f"{number:.6g}" for number in vector[:_EMBEDDING_PREVIEW])
        more = ", …" if len(vector) > _EMBEDDING_PREVIEW else ""
        lines.append(f"embedding #{index}: {len(vector)} dimensions [{preview}{more}]")
    return "\n".join(lines) or "(no embeddings)"


def _moderation_summary(response: dict[str, Any]) -> str:
    results = response.get("results")
    lines = []
    for index, result in enumerate(results if isinstance(results, list) else ()):
        if not isinstance(result, dict):
            continue
        categories = result.get("categories")
        hits = sorted(
            name for name, hit in (categories or {}).items() if hit is True
        )  # some categories are null in newer models
        line = f"flagged: {'true' if result.get('flagged') else 'false'}"
        if hits:
            line += f" ({', '.join(hits)})"
        lines.append(line if len(results or ()) == 1 else f"result #{index}: {line}")
    return "\n".join(lines) or "(no moderation results)"


def _error_message(interaction: Interaction) -> str:
    body = interaction.response_json()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return interaction.response_body.decode("utf-8", "replace").strip() or "(empty body)"


def _structural(interaction: Interaction, call: LLMCall) -> str:
    """The response itself, for answers without text: pretty JSON minus volatile fields."""
    if isinstance(call.response, (dict, list)) and call.response:
        document = without_volatile_fields(call.response)
        compact = json.dumps(document, ensure_ascii=False)  # the C encoder: fast
        if len(compact) > _PRETTY_JSON_UP_TO:  # a huge document: one value a line helps nobody
            return compact
        return json.dumps(document, indent=2, ensure_ascii=False)
    if interaction.is_stream:
        return f"(no answer text in {len(interaction.events())} events)"
    text = interaction.response_body.decode("utf-8", "replace").strip()
    return text or "(empty body)"


def without_volatile_fields(value: Any) -> Any:
    """JSON data without the values the API makes up on every call (ids, timestamps, ...)."""
    if isinstance(value, dict):
        return {
            key: without_volatile_fields(item)
            for key, item in value.items()
            if key not in VOLATILE_FIELDS
        }
    if isinstance(value, list):  # numbers and strings kept as they are, without a call each
        return [
            without_volatile_fields(item) if isinstance(item, (dict, list)) else item
            for item in value
        ]
    return value
