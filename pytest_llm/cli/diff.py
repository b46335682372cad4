"""Compare two versions of cassettes: which answers a re-recording changed, and by how much.

Interactions are paired by position among the calls to the same endpoint (method and path), as
a re-recording pairs them (:mod:`pytest_llm.cassette.stabilizing`). Values the API makes up on every call
(ids, timestamps) and timing moves within the re-recording tolerance are not changes, so a
cassette whose requests and answers are the same is not reported at all.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from pytest_llm.assertions import similarity
from pytest_llm.cassette import checks, matching
from pytest_llm.cassette.file_format import parse_document_file
from pytest_llm.cassette.interaction import Interaction, parse_json
from pytest_llm.cassette.stabilizing import timing_moved
from pytest_llm.cassette.tool_calls import ToolCall
from pytest_llm.cli import show
from pytest_llm.errors import CassetteError, UnknownFigure
from pytest_llm.providers import llm_call
from pytest_llm.providers.pricing import BUILTIN_PRICES, Price, cost_of
from pytest_llm.report import comparison, json_changes
from pytest_llm.report.markdown import code_span, fenced, html_text, table_cell

CassetteStatus = Literal["changed", "added", "deleted", "unreadable"]
InteractionStatus = Literal["changed", "added", "removed"]
FORMATS = ("text", "markdown", "json")
_REQUEST_DIFFERENCES = 3


@dataclasses.dataclass(frozen=True)
class Figures:
    """What one call measured and cost (None: not recorded, or no known price)."""

    model: str | None
    latency_s: float | None
    ttft_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None


@dataclasses.dataclass(frozen=True)
class InteractionChange:
    """One interaction that differs: changed in place, added, or removed."""

    number: int  # position in the new cassette (in the old one for a removed interaction)
    status: InteractionStatus
    request: str  # matching.describe_request of the request
    request_differences: tuple[str, ...]
    old_answer: str | None
    new_answer: str | None
    similarity: float | None
    old: Figures | None
    new: Figures | None
    #: When both answers are JSON documents: the changed paths (the first 20, and how many more).
    json_changes: json_changes.JsonChanges | None = None
    #: ``interaction`` (an HTTP exchange) or ``tool`` (a recorded ``@llm_tool`` call, whose
    #: ``request`` is the call and whose answers are its results).
    kind: str = "interaction"


@dataclasses.dataclass(frozen=True)
class CassetteChange:
    """A cassette that is new, gone, unreadable, or whose interactions differ."""

    name: str
    status: CassetteStatus
    interaction_count: int = 0  # of the new version (the old one for a deleted cassette)
    interactions: tuple[InteractionChange, ...] = ()
    error: str | None = None

    @property
    def lowest_similarity(self) -> float | None:
        scores = [item.similarity for item in self.interactions if item.similarity is not None]
        return min(scores) if scores else None


# --------------------------------------------------------------------------- comparing


def compare_texts(
    name: str,
    old_text: str | None,
    new_text: str | None,
    *,
    only_cassettes: bool = True,
    prices: Mapping[str, Price] = BUILTIN_PRICES,
) -> CassetteChange | None:
    """The change between two versions of a file (None: absent), or None when nothing a reader
    would care about changed. With ``only_cassettes``, files that are not cassettes on either
    side are skipped (None); otherwise they are reported as unreadable."""
    old_file = None if old_text is None else checks.examine(old_text, name)
    new_file = None if new_text is None else checks.examine(new_text, name)
    if only_cassettes and not any(file is not None and file.kind for file in (old_file, new_file)):
        return None
    try:
        old = None if old_file is None else _contents(old_file, name)
        new = None if new_file is None else _contents(new_file, name)
    except CassetteError as error:
        return unreadable(name, str(error))
    return compare(
        name,
        None if old is None else old[0],
        None if new is None else new[0],
        prices=prices,
        old_tools=() if old is None else old[1],
        new_tools=() if new is None else new[1],
    )


def _contents(file: checks.Examined, name: str) -> tuple[list[Interaction], list[ToolCall]]:
    if file.error is not None:
        raise file.error
    if file.interactions is None:  # YAML, but no cassette: what parsing it says
        contents = parse_document_file(file.document, name)
        return contents.interactions, contents.tool_calls
    return file.interactions, file.tool_calls


def unreadable(name: str, error: str) -> CassetteChange:
    return CassetteChange(name=name, status="unreadable", error=error)


def compare(
    name: str,
    old: Sequence[Interaction] | None,
    new: Sequence[Interaction] | None,
    *,
    prices: Mapping[str, Price] = BUILTIN_PRICES,
    old_tools: Sequence[ToolCall] = (),
    new_tools: Sequence[ToolCall] = (),
) -> CassetteChange | None:
    """The change from ``old`` to ``new`` interactions (None: the cassette does not exist),
    their recorded tool calls included."""
    if old is None and new is None:
        return None
    if old is None:
        return CassetteChange(name, "added", interaction_count=len(new or ()) + len(new_tools))
    if new is None:
        return CassetteChange(name, "deleted", interaction_count=len(old) + len(old_tools))
    changes = tuple(interaction_changes(old, new, prices=prices)) + tuple(
        tool_call_changes(old_tools, new_tools)
    )
    if not changes:
        return None
    # removed interactions are changes too
    count = max(len(new), len(old)) + max(len(new_tools), len(old_tools))
    return CassetteChange(name, "changed", interaction_count=count, interactions=changes)


def interaction_changes(
    old: Sequence[Interaction],
    new: Sequence[Interaction],
    *,
    prices: Mapping[str, Price] = BUILTIN_PRICES,
) -> Iterator[InteractionChange]:
    """Changed, added and removed interactions, paired by position within an endpoint."""
    for old_pair, new_pair in pair_by_endpoint(old, new):
        if old_pair is None and new_pair is not None:
            yield _one_sided(*new_pair, status="added", prices=prices)
        elif new_pair is None and old_pair is not None:
            yield _one_sided(*old_pair, status="removed", prices=prices)
        elif (
            old_pair is not None
            and new_pair is not None
            and not same_interaction(old_pair[1], new_pair[1])
        ):
            yield _changed(new_pair[0], old_pair[1], new_pair[1], prices)


Numbered = tuple[int, Interaction]


def tool_call_changes(
    old: Sequence[ToolCall], new: Sequence[ToolCall]
) -> Iterator[InteractionChange]:
    """Changed, added and removed tool calls, paired by position among the calls of a tool."""
    remaining: dict[str, list[tuple[int, ToolCall]]] = defaultdict(list)
    for number, call in enumerate(old, start=1):
        remaining[call.name].append((number, call))
    for number, call in enumerate(new, start=1):
        counterparts = remaining[call.name]
        if not counterparts:
            yield _tool_change(number, "added", None, call)
            continue
        _, before = counterparts.pop(0)
        if (before.arguments, before.result, before.raised) != (
            call.arguments,
            call.result,
            call.raised,
        ):
            yield _tool_change(number, "changed", before, call)
    for number, call in sorted(
        (item for items in remaining.values() for item in items), key=lambda item: item[0]
    ):
        yield _tool_change(number, "removed", call, None)


def _tool_change(
    number: int, status: InteractionStatus, old: ToolCall | None, new: ToolCall | None
) -> InteractionChange:
    shown = new or old
    assert shown is not None
    old_result = None if old is None else show.tool_result_text(old)
    new_result = None if new is None else show.tool_result_text(new)
    differences = (
        matching.data_differences(old.arguments, new.arguments, limit=_REQUEST_DIFFERENCES)
        if old is not None and new is not None
        else []
    )
    return InteractionChange(
        number=number,
        status=status,
        request=f"tool {shown.describe()}",
        request_differences=tuple(differences),
        old_answer=old_result,
        new_answer=new_result,
        similarity=None
        if old_result is None or new_result is None
        else 1.0
        if old_result == new_result
        else comparison.answer_similarity(old_result, new_result),
        old=None,
        new=None,
        kind="tool",
    )


def pair_by_endpoint(
    old: Sequence[Interaction], new: Sequence[Interaction]
) -> Iterator[tuple[Numbered | None, Numbered | None]]:
    """(old, new) pairs, each side numbered from 1 in its cassette: the new cassette's order
    first, then the old interactions left without a counterpart."""
    remaining: dict[str, list[Numbered]] = defaultdict(list)
    for number, interaction in enumerate(old, start=1):
        remaining[_endpoint(interaction)].append((number, interaction))
    for number, interaction in enumerate(new, start=1):
        counterparts = remaining[_endpoint(interaction)]
        yield (counterparts.pop(0) if counterparts else None), (number, interaction)
    leftovers = sorted(item for items in remaining.values() for item in items)
    for number, interaction in leftovers:
        yield (number, interaction), None


def _endpoint(interaction: Interaction) -> str:
    return f"{interaction.method} {interaction.path}"


def same_interaction(old: Interaction, new: Interaction) -> bool:
    """Same request, same answer, timing within the re-recording tolerance."""
    return (
        _request_key(old) == _request_key(new)
        and _answer_key(old) == _answer_key(new)
        and not timing_moved(old.timing.latency_s, new.timing.latency_s)
        and not timing_moved(old.timing.ttft_s, new.timing.ttft_s)
    )


def _request_key(interaction: Interaction) -> matching.MatchKey:
    return matching.match_key(interaction.method, interaction.path, interaction.request_body)


def _answer_key(interaction: Interaction) -> tuple[int, bool, Any]:
    """The response as data, without the values that change on every call."""
    if interaction.is_stream:
        events = [
            event.data if event.json() is None else event.json() for event in interaction.events()
        ]
        return interaction.status, True, show.without_volatile_fields(events)
    data = parse_json(interaction.response_body)
    if data is None:
        return interaction.status, False, interaction.response_body
    return interaction.status, False, show.without_volatile_fields(data)


def _one_sided(
    number: int,
    interaction: Interaction,
    *,
    status: InteractionStatus,
    prices: Mapping[str, Price],
) -> InteractionChange:
    answer = show.answer_text(interaction)
    figures = figures_of(interaction, prices)
    return InteractionChange(
        number=number,
        status=status,
        request=_request_summary(interaction),
        request_differences=(),
        old_answer=answer if status == "removed" else None,
        new_answer=answer if status == "added" else None,
        similarity=None,
        old=figures if status == "removed" else None,
        new=figures if status == "added" else None,
    )


def _changed(
    number: int, old: Interaction, new: Interaction, prices: Mapping[str, Price]
) -> InteractionChange:
    old_answer = show.answer_text(old)
    new_answer = show.answer_text(new)
    differences = matching.data_differences(
        old.request_json(), new.request_json(), limit=_REQUEST_DIFFERENCES
    )
    if not differences and _request_key(old) != _request_key(new):
        differences = ["request body or query changed"]
    return InteractionChange(
        number=number,
        status="changed",
        request=_request_summary(new),
        request_differences=tuple(differences),
        old_answer=old_answer,
        new_answer=new_answer,
        similarity=answer_similarity(old, new, old_answer, new_answer),
        old=figures_of(old, prices),
        new=figures_of(new, prices),
        json_changes=_json_changes(old, new),
    )


def _json_changes(old: Interaction, new: Interaction) -> json_changes.JsonChanges | None:
    """The changed paths when both answers are JSON documents (structured outputs)."""
    if old.status >= 400 or new.status >= 400:
        return None
    old_document = json_changes.json_document(llm_call.describe(old).text)
    new_document = json_changes.json_document(llm_call.describe(new).text)
    if old_document is None or new_document is None:
        return None
    found = json_changes.compare_documents(old_document, new_document)
    return found if found.changes else None


def _request_summary(interaction: Interaction) -> str:
    return matching.describe_request(interaction.method, interaction.path, interaction.request_body)


def answer_similarity(
    old: Interaction, new: Interaction, old_answer: str, new_answer: str
) -> float:
    """1.0 for the same answer; the cosine of embeddings; the fuzzy score of other answers."""
    if old_answer == new_answer:
        return 1.0
    old_vectors = show.embedding_vectors(old.response_json())
    new_vectors = show.embedding_vectors(new.response_json())
    if old_vectors and new_vectors:
        return min(
            similarity.cosine(a, b) if len(a) == len(b) else 0.0
            for a, b in zip(old_vectors, new_vectors, strict=False)
        )
    return comparison.answer_similarity(old_answer, new_answer)


def figures_of(interaction: Interaction, prices: Mapping[str, Price] = BUILTIN_PRICES) -> Figures:
    call = llm_call.describe(interaction)
    return Figures(
        model=call.model,
        latency_s=call.latency_s,
        ttft_s=call.ttft_s,
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
        cost_usd=_cost(call, prices),
    )


def _cost(call: llm_call.LLMCall, prices: Mapping[str, Price]) -> float | None:
    if call.model is None or call.prompt_tokens is None:
        return None
    try:
        return cost_of([(call.model, call.prompt_tokens, call.completion_tokens)], prices)
    except UnknownFigure:
        return None


def exit_status(changes: Sequence[CassetteChange]) -> int:
    """2 when a cassette could not be read, 1 when something changed, 0 otherwise."""
    if any(change.status == "unreadable" for change in changes):
        return 2
    return 1 if changes else 0


# --------------------------------------------------------------------------- rendering


def render(changes: Sequence[CassetteChange], output_format: str) -> str:
    if output_format == "markdown":
        return render_markdown(changes)
    if output_format == "json":
        return render_json(changes)
    return render_text(changes)


def summary(changes: Sequence[CassetteChange]) -> dict[str, int]:
    counts = {status: 0 for status in ("changed", "added", "deleted", "unreadable")}
    for change in changes:
        counts[change.status] += 1
    return counts


def _summary_line(changes: Sequence[CassetteChange]) -> str:
    if not changes:
        return "No cassette changed."
    counts = summary(changes)
    parts = [f"{count} {status}" for status, count in counts.items() if count]
    return f"{len(changes)} cassette{'' if len(changes) == 1 else 's'}: {', '.join(parts)}."


def _headline(change: CassetteChange) -> str:
    count = change.interaction_count
    if change.status == "unreadable":
        return f"unreadable: {change.error}"
    if change.status in ("added", "deleted"):
        return f"{change.status}: {change.name} ({count} interaction{'' if count == 1 else 's'})"
    return f"changed: {change.name} ({_changed_count(change)}{_lowest(change)})"


def _changed_count(change: CassetteChange) -> str:
    return f"{len(change.interactions)} of {change.interaction_count} interactions changed"


def _lowest(change: CassetteChange) -> str:
    lowest = change.lowest_similarity
    return "" if lowest is None else f", lowest similarity {lowest:.2f}"


def _interaction_title(item: InteractionChange) -> str:
    prefix = "tool " if item.kind == "tool" else ""
    title = f"{prefix}#{item.number} {item.status}: {item.request.removeprefix(prefix)}"
    if item.similarity is not None:
        title += f" (similarity {item.similarity:.2f})"
    return title


def figures_line(old: Figures | None, new: Figures | None) -> str:
    """``latency 0.512 s -> 0.740 s (+45%), tokens 12+5 -> 12+9, cost $0.000005 -> $0.000007``."""
    parts = [
        _figure("latency", _pick(old, "latency_s"), _pick(new, "latency_s"), _seconds),
        _figure("ttft", _pick(old, "ttft_s"), _pick(new, "ttft_s"), _seconds),
        _figure("tokens", _tokens(old), _tokens(new), str),
        _figure("cost", _pick(old, "cost_usd"), _pick(new, "cost_usd"), _dollars),
    ]
    return ", ".join(part for part in parts if part)


def _pick(figures: Figures | None, field: str) -> Any:
    return None if figures is None else getattr(figures, field)


def _figure(name: str, old: Any, new: Any, show: Callable[[Any], str]) -> str:
    if old is None and new is None:
        return ""
    if old is None or new is None or old == new:
        return f"{name} {show(new if old is None else old)}"
    text = f"{name} {show(old)} -> {show(new)}"
    if isinstance(old, float) and old > 0:
        text += f" ({(new - old) / old:+.0%})"
    return text


def _seconds(value: float) -> str:
    return f"{value:.3f} s"


def _dollars(value: float) -> str:
    return f"${value:.6f}"


def _tokens(figures: Figures | None) -> str | None:
    if figures is None or (figures.prompt_tokens is None and figures.completion_tokens is None):
        return None
    return f"{figures.prompt_tokens or 0}+{figures.completion_tokens or 0}"


# text


def render_text(changes: Sequence[CassetteChange]) -> str:
    lines: list[str] = []
    for change in changes:
        lines.append(_headline(change))
        for item in change.interactions:
            lines += _interaction_text_lines(item)
    lines.append(_summary_line(changes))
    return "\n".join(lines) + "\n"


def _interaction_text_lines(item: InteractionChange) -> list[str]:
    lines = [f"  {_interaction_title(item)}"]
    lines += [f"    request changed: {difference}" for difference in item.request_differences]
    if item.json_changes is not None:
        lines.append(f"    JSON changes ({_json_count(item.json_changes)}):")
        lines += [f"      {line}" for line in item.json_changes.lines()]
    what = "result" if item.kind == "tool" else "answer"
    for label, answer in ((f"old {what}", item.old_answer), (f"new {what}", item.new_answer)):
        if answer is not None:
            lines.append(f"    {label}:")
            lines += show.wrap(answer, "      ", show.WIDTH)
    figures = figures_line(item.old, item.new)
    if figures:
        lines.append(f"    {figures}")
    return lines


# markdown


def render_markdown(changes: Sequence[CassetteChange]) -> str:
    """A pull-request comment: a summary table, then one ``<details>`` block per changed
    cassette with the answers before and after."""
    if not changes:
        return "### LLM cassettes\n\nNo cassette changed.\n"
    blocks = ["### LLM cassettes", _markdown_table(changes)]
    errors = [f"- **unreadable** {code_span(change.error)}" for change in changes if change.error]
    if errors:
        blocks.append("\n".join(errors))
    blocks += [_markdown_details(change) for change in changes if change.status == "changed"]
    return "\n\n".join(blocks) + "\n"


def _markdown_table(changes: Sequence[CassetteChange]) -> str:
    rows = [
        "| cassette | status | interactions changed | lowest similarity |",
        "| --- | --- | --- | --- |",
    ]
    for change in changes:
        lowest = change.lowest_similarity
        cells = [
            table_cell(code_span(change.name)),
            change.status,
            _table_count(change),
            "—" if lowest is None else f"{lowest:.2f}",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _table_count(change: CassetteChange) -> str:
    if change.status == "changed":
        return f"{len(change.interactions)} of {change.interaction_count}"
    if change.status == "added":
        return f"{change.interaction_count} added"
    if change.status == "deleted":
        return f"{change.interaction_count} removed"
    return "—"


def _markdown_details(change: CassetteChange) -> str:
    summary_text = f"<code>{html_text(change.name)}</code>: {html_text(_changed_count(change) + _lowest(change))}"
    parts = [f"<details>\n<summary>{summary_text}</summary>"]
    for item in change.interactions:
        parts += _markdown_interaction(item)
    parts.append("</details>")
    return "\n\n".join(parts)


def _markdown_interaction(item: InteractionChange) -> list[str]:
    prefix = "tool " if item.kind == "tool" else ""
    title = (
        f"**{prefix}#{item.number} {item.status}** {code_span(item.request.removeprefix(prefix))}"
    )
    if item.similarity is not None:
        title += f" similarity **{item.similarity:.2f}**"
    parts = [title]
    parts += [f"- request changed: {code_span(diff)}" for diff in item.request_differences]
    if item.json_changes is not None:
        lines = item.json_changes.lines()
        parts.append(
            f"JSON changes ({_json_count(item.json_changes)}):\n\n"
            + "\n".join(f"- {code_span(line)}" for line in lines)
        )
    for label, answer in (("Before", item.old_answer), ("After", item.new_answer)):
        if answer is not None:
            parts.append(f"{label}:\n\n{_fenced(answer)}")
    figures = figures_line(item.old, item.new)
    if figures:
        parts.append(figures)
    return parts


def _json_count(found: json_changes.JsonChanges) -> str:
    total = len(found.changes) + found.more
    return f"{total} path{'' if total == 1 else 's'}"


def _fenced(text: str) -> str:
    language = "json" if parse_json(text.encode("utf-8")) is not None else "text"
    return fenced(text, language)


# json


def render_json(changes: Sequence[CassetteChange]) -> str:
    document = {
        "summary": summary(changes),
        "cassettes": [_change_document(change) for change in changes],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _change_document(change: CassetteChange) -> dict[str, Any]:
    # the JSON changes are written by hand below: their values may be nested deeply
    bare = [dataclasses.replace(item, json_changes=None) for item in change.interactions]
    document = dataclasses.asdict(dataclasses.replace(change, interactions=tuple(bare)))
    document["lowest_similarity"] = _rounded(change.lowest_similarity)
    for item, interaction in zip(document["interactions"], change.interactions, strict=True):
        item["similarity"] = _rounded(item["similarity"])
        item["request_differences"] = list(item["request_differences"])
        found = interaction.json_changes
        # the changed paths of two JSON answers: [{path, kind, old, new, text}], and the count
        # of those left out (null when the answers are not both JSON documents)
        item["json_changes"] = None if found is None else [one.to_dict() for one in found.changes]
        item["json_changes_more"] = 0 if found is None else found.more
    return document


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
