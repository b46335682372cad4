"""The run's LLM report: per-case results merged on the controller, behaviour changes, data-set
gates; rendered as terminal lines, Markdown (a pull-request comment) or JSON."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from typing import Any

from pytest_llm.cassette.tool_calls import describe_call
from pytest_llm.errors import UnknownFigure
from pytest_llm.providers import pricing
from pytest_llm.report import comparison, significance
from pytest_llm.report.answer_text import compact_json, json_value
from pytest_llm.report.case_payload import CallSummary, CasePayload
from pytest_llm.report.markdown import code_span, fenced, html_text, table_cell

FORMAT = "pytest-llm-report/1"
CHANGES = ("regressed", "fixed", "noisy", "still_passing", "still_failing", "new")


@dataclasses.dataclass
class CaseEntry:
    """One LLM case of the run: its outcome and what its worker reported."""

    id: str
    outcome: str  # passed | failed | skipped
    data: CasePayload
    #: Under false discovery control, whether the run found this case's change significant
    #: (decided over all cases, see :meth:`RunReport.decide`); None: the per-case level.
    significant: bool | None = None

    @property
    def tolerated(self) -> str | None:
        """Why a failing data-set record the gate tolerated failed."""
        return self.data.tolerated

    @property
    def message(self) -> str | None:
        """Why the case failed."""
        return self.data.message

    @property
    def before(self) -> str | None:
        return self.data.before if self.data.rerecorded else None

    @property
    def samples(self) -> dict[str, Any] | None:
        after = self.data.samples_after
        if after is None:
            return None
        before = self.data.samples_before
        samples: dict[str, Any] = {
            "before": None if before is None else list(before),
            "after": list(after),
        }
        if self.data.samples_most is not None:  # sequential: the runs used of at most this many
            samples["most"] = self.data.samples_most
        return samples

    @property
    def verdict(self) -> tuple[str | None, float | None]:
        if not self.data.rerecorded:
            return None, None
        return comparison.classify(
            self.before,
            self.outcome,
            self.samples,
            most=self.data.samples_most,
            significant=self.significant,
        )

    @property
    def compared_sample(self) -> bool:
        """A sampled case with a verdict before and after: one hypothesis of the run."""
        samples = self.samples
        return (
            self.data.rerecorded
            and self.before in ("passed", "failed")
            and self.outcome in ("passed", "failed")
            and samples is not None
            and samples.get("before") is not None
        )

    @property
    def p_value(self) -> float | None:
        return comparison.p_value_of(self.samples, most=self.data.samples_most)

    @property
    def change(self) -> str | None:
        return self.verdict[0]

    @property
    def drift(self) -> float | None:
        value = self.data.drift
        return float(value) if isinstance(value, (int, float)) else None


@dataclasses.dataclass
class GateResult:
    path: str
    gate: float
    passed: int
    total: int
    passed_before: int | None = None
    total_before: int | None = None
    #: How many records the data set holds (None: not known) and the ids of those that ran.
    size: int | None = None
    records_ran: set[str] = dataclasses.field(default_factory=set)

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 1.0

    @property
    def partial(self) -> bool:
        """Only some of the data set's records ran (a CI shard, a -k selection): the gate is
        neither passed nor failed on them."""
        return self.size is not None and len(self.records_ran) < self.size

    @property
    def ok(self) -> bool:
        return self.rate >= self.gate

    @property
    def failed(self) -> bool:
        """Below the gate, over the whole data set."""
        return not self.partial and not self.ok

    @property
    def partial_text(self) -> str:
        return f"gate partial: {len(self.records_ran)} of {self.size} records ran"

    @property
    def rate_before(self) -> float | None:
        if not self.total_before or self.passed_before is None:
            return None
        return self.passed_before / self.total_before


@dataclasses.dataclass
class RunReport:
    mode: str
    cases: list[CaseEntry] = dataclasses.field(default_factory=list)
    prices: dict[str, pricing.Price] = dataclasses.field(default_factory=dict)
    #: ``llm_false_discovery_rate``: decide regressed / fixed by Benjamini-Hochberg over the
    #: sampled cases instead of each case at the significance level.
    false_discovery_rate: float | None = None

    def decide(self) -> None:
        """Under false discovery control, decide which sampled cases changed significantly, over
        every case of the run at once (the controller calls it once all cases are in)."""
        if self.false_discovery_rate is None:
            return
        compared = self.compared_samples()
        p_values = [case.p_value or 0.0 for case in compared]
        rejected = significance.benjamini_hochberg(p_values, self.false_discovery_rate)
        for case, significant in zip(compared, rejected, strict=True):
            case.significant = significant

    def compared_samples(self) -> list[CaseEntry]:
        return [case for case in self.cases if case.compared_sample]

    def chance(self) -> dict[str, Any]:
        """How many significant changes chance alone would explain among the sampled cases."""
        compared = len(self.compared_samples())
        if self.false_discovery_rate is None:
            level = significance.SIGNIFICANCE_LEVEL
            return {
                "sampled_compared": compared,
                "significance_level": level,
                "false_discovery_rate": None,
                "expected_by_chance": round(level * compared, 6),
            }
        groups = self.by_change()
        discoveries = len(groups["regressed"]) + len(groups["fixed"])
        return {
            "sampled_compared": compared,
            "significance_level": None,
            "false_discovery_rate": self.false_discovery_rate,
            "expected_by_chance": round(self.false_discovery_rate * discoveries, 6),
        }

    def chance_line(self) -> str | None:
        """The chance figure in words (None when no sampled case was compared)."""
        figures = self.chance()
        compared = figures["sampled_compared"]
        if not compared:
            return None
        cases = f"{compared} sampled case{'' if compared == 1 else 's'} compared"
        expected = f"{figures['expected_by_chance']:.2f}".rstrip("0").rstrip(".")
        if figures["false_discovery_rate"] is None:
            return (
                f"chance alone: {cases} at level {figures['significance_level']:g}; about "
                f"{expected} of them would show a significant change (regressed or fixed) by "
                f"chance even if the model had not changed (expected false positives = "
                f"{figures['significance_level']:g} x {compared})"
            )
        return (
            f"false discovery rate controlled at {figures['false_discovery_rate']:g} "
            f"(Benjamini-Hochberg over {cases}): of the regressed and fixed cases, at most "
            f"{expected} are expected to be chance"
        )

    #: Costs (after, before) by case id, as reports merged by ``pytest-llm report merge``
    #: priced them (their price tables are not in the reports).
    stored_costs: dict[str, tuple[float | None, float | None]] = dataclasses.field(
        default_factory=dict
    )

    # ------------------------------------------------------------------ figures

    def counted(self) -> list[CaseEntry]:
        return [case for case in self.cases if case.outcome in ("passed", "failed")]

    def pass_rate(self) -> float | None:
        counted = self.counted()
        return sum(case.outcome == "passed" for case in counted) / len(counted) if counted else None

    def pass_rate_before(self) -> float | None:
        if self.mode != "rerecord":
            return None
        judged = [case for case in self.counted() if case.before in ("passed", "failed")]
        return sum(case.before == "passed" for case in judged) / len(judged) if judged else None

    def by_change(self) -> dict[str, list[CaseEntry]]:
        self.decide()
        groups: dict[str, list[CaseEntry]] = {change: [] for change in CHANGES}
        for case in self.cases:
            if case.change is not None:
                groups[case.change].append(case)
        return groups

    def gates(self) -> list[GateResult]:
        found: dict[str, GateResult] = {}
        for case in self.cases:
            dataset = case.data.dataset
            if dataset is None or dataset.min_pass_rate is None:
                continue
            gate = found.setdefault(
                dataset.path, GateResult(dataset.path, float(dataset.min_pass_rate), 0, 0)
            )
            if dataset.size is not None:
                gate.size = max(gate.size or 0, dataset.size)
            # a record whose id is not known (an older report) counts as one more record ran
            gate.records_ran.add(dataset.record or f"#{len(gate.records_ran)}:{case.id}")
            if case.outcome not in ("passed", "failed"):
                continue
            gate.total += 1
            gate.passed += case.outcome == "passed"
            if case.before in ("passed", "failed"):
                gate.total_before = (gate.total_before or 0) + 1
                gate.passed_before = (gate.passed_before or 0) + (case.before == "passed")
        return list(found.values())

    def datasets(self) -> list[dict[str, Any]]:
        """Each data set of the run: its path, size, gate and the ids of the records that ran
        (what ``pytest-llm report merge`` needs to judge a gate over several runs)."""
        found: dict[str, dict[str, Any]] = {}
        for case in self.cases:
            dataset = case.data.dataset
            if dataset is None:
                continue
            entry = found.setdefault(
                dataset.path,
                {"path": dataset.path, "size": dataset.size, "min_pass_rate": None, "ran": set()},
            )
            if dataset.min_pass_rate is not None:
                entry["min_pass_rate"] = dataset.min_pass_rate
            if dataset.record is not None:
                entry["ran"].add(dataset.record)
        return [
            {
                "path": entry["path"],
                "size": entry["size"],
                "min_pass_rate": entry["min_pass_rate"],
                "records_ran": sorted(entry["ran"]),
            }
            for entry in found.values()
        ]

    def cost(self, calls: Iterable[CallSummary]) -> float | None:
        figures = [(call.model, call.prompt_tokens, call.completion_tokens) for call in calls]
        try:
            return round(pricing.cost_of(figures, self.prices), 9)  # no float noise in reports
        except UnknownFigure:
            return None

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        groups = self.by_change()
        counted = self.counted()
        return {
            "format": FORMAT,
            "mode": self.mode,
            "summary": {
                "cases": len(self.cases),
                "passed": sum(case.outcome == "passed" for case in counted),
                "failed": sum(case.outcome == "failed" for case in counted),
                "skipped": sum(case.outcome == "skipped" for case in self.cases),
                "pass_rate": self.pass_rate(),
                "pass_rate_before": self.pass_rate_before(),
                **{change: len(groups[change]) for change in CHANGES},
                **(self.chance() if self.mode == "rerecord" else {}),
            },
            "gates": [
                {
                    "path": gate.path,
                    "min_pass_rate": gate.gate,
                    "passed": gate.passed,
                    "total": gate.total,
                    "pass_rate": gate.rate,
                    "ok": None if gate.partial else gate.ok,
                    "partial": gate.partial,
                    "records": gate.size,
                    "records_ran": len(gate.records_ran),
                    "pass_rate_before": gate.rate_before,
                }
                for gate in self.gates()
            ],
            "datasets": self.datasets(),
            "cases": [self._case_json(case) for case in self.cases],
        }

    def _case_json(self, case: CaseEntry) -> dict[str, Any]:
        change, p_value = case.verdict
        data = case.data
        if case.id in self.stored_costs:
            cost, cost_before = self.stored_costs[case.id]
        else:
            cost = self.cost(data.calls)
            cost_before = self.cost(data.calls_before or ()) if data.rerecorded else None
        return {
            "id": case.id,
            "outcome": case.outcome,
            "tolerated": case.tolerated is not None,
            "message": case.message,
            "message_before": case.data.message_before,
            "before": case.before,
            "change": change,
            "samples": case.samples,
            "p_value": p_value,
            "drift": case.drift,
            "tags": list(data.tags),
            "dataset": None
            if data.dataset is None
            else {"path": data.dataset.path, "record": data.dataset.record},
            "calls": [call.to_dict() for call in data.calls],
            "calls_before": None
            if data.calls_before is None
            else [call.to_dict() for call in data.calls_before],
            "answers_before": list(data.old_answers) if data.rerecorded else None,
            "answers_after": list(data.new_answers) if data.rerecorded else None,
            "cost_usd": cost,
            "cost_usd_before": cost_before,
            "live_tool_calls": None
            if data.live_tool_calls is None
            else [dict(call) for call in data.live_tool_calls],
        }

    def render_json(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    # ------------------------------------------------------------------ terminal

    def summary_lines(self, verbosity: int = 0) -> list[str]:
        lines: list[str] = []
        if self.mode == "rerecord":
            lines += self._change_lines(verbosity)
        lines += self._live_tool_lines()
        for gate in self.gates():
            verdict = gate.partial_text if gate.partial else "ok" if gate.ok else "BELOW THE GATE"
            before = ""
            if gate.rate_before is not None:
                before = f" (before: {gate.passed_before}/{gate.total_before}, {_percent(gate.rate_before)})"
            lines.append(
                f"data set {gate.path}: {gate.passed}/{gate.total} passed ({_percent(gate.rate)}), "
                f"gate {_percent(gate.gate)}: {verdict}{before}"
            )
        return lines

    def live_tools(self) -> list[tuple[CaseEntry, list[str]]]:
        """Cases recorded with ``--llm-tools replay`` whose tool calls partly ran live, with
        those calls as ``name({arguments})``."""
        found = []
        for case in self.cases:
            calls = case.data.live_tool_calls or ()
            if calls:
                found.append(
                    (case, [describe_call(call["name"], call["arguments"]) for call in calls])
                )
        return found

    def _live_tool_lines(self) -> list[str]:
        found = self.live_tools()
        if not found:
            return []
        lines = ["tool calls run live (--llm-tools replay: arguments not in the old cassette):"]
        for case, calls in found:
            lines += [f"  {case.id}: {call}" for call in calls]
        return lines

    def _change_lines(self, verbosity: int) -> list[str]:
        groups = self.by_change()
        counts = ", ".join(
            f"{len(groups[change])} {change.replace('_', ' ')}" for change in CHANGES
        )
        lines = [
            f"{len(self.cases)} cases: {counts}",
            f"pass rate {_percent(self.pass_rate_before())} -> {_percent(self.pass_rate())}",
        ]
        chance = self.chance_line()
        if chance is not None:
            lines.append(chance)
        if verbosity < 0:
            return lines
        width = 200 if verbosity > 0 else 100
        for change in ("regressed", "fixed", "noisy", "new"):
            for case in groups[change]:
                if change == "new" and verbosity <= 0:
                    continue
                lines.append(f"{change.upper()} {case.id}{_details(case)}")
                lines += _answer_lines(case, width)
        drifted = sorted(
            (
                case
                for case in groups["still_passing"]
                if case.drift is not None and case.drift < 1.0
            ),
            key=lambda case: case.drift or 0.0,
        )
        if drifted:
            lines.append("largest drifts among still-passing cases (silent changes):")
            for case in drifted[: 10 if verbosity > 0 else 3]:
                lines.append(f"  drift {case.drift:.2f} {case.id}")
                if verbosity > 0:
                    lines += ["  " + line for line in _answer_lines(case, width)]
        return lines

    # ------------------------------------------------------------------ Markdown

    def render_markdown(self) -> str:
        summary = self.to_json()["summary"]
        out = [f"## LLM report ({self.mode})", ""]
        out += [
            "| cases | passed | failed | skipped | pass rate |"
            + (" before | regressed | fixed | noisy | new |" if self.mode == "rerecord" else ""),
            "|---|---|---|---|---|" + ("---|---|---|---|---|" if self.mode == "rerecord" else ""),
        ]
        row = f"| {summary['cases']} | {summary['passed']} | {summary['failed']} | {summary['skipped']} | {_percent(summary['pass_rate'])} |"
        if self.mode == "rerecord":
            row += f" {_percent(summary['pass_rate_before'])} | {summary['regressed']} | {summary['fixed']} | {summary['noisy']} | {summary['new']} |"
        out += [row, ""]
        chance = self.chance_line() if self.mode == "rerecord" else None
        if chance is not None:
            out += [html_text(chance[0].upper() + chance[1:]) + ".", ""]
        gates = self.gates()
        if gates:
            out += ["| data set | passed | pass rate | gate | |", "|---|---|---|---|---|"]
            out += [
                f"| {table_cell(code_span(gate.path))} | {gate.passed}/{gate.total} | {_percent(gate.rate)} | {_percent(gate.gate)} | {_gate_mark(gate)} |"
                for gate in gates
            ]
            out.append("")
        if self.mode == "rerecord":
            groups = self.by_change()
            for change, title in (
                ("regressed", "Regressed (passed before, fail now)"),
                ("fixed", "Fixed (failed before, pass now)"),
                ("noisy", "Noisy (flipped, not significant)"),
                ("new", "New cases"),
            ):
                if not groups[change]:
                    continue
                out += [f"### {title}", ""]
                for case in groups[change]:
                    out += _markdown_case(case)
            drifted = sorted(
                (
                    case
                    for case in groups["still_passing"]
                    if case.drift is not None and case.drift < 1.0
                ),
                key=lambda case: case.drift or 0.0,
            )[:10]
            if drifted:
                out += ["### Largest drifts among still-passing cases", ""]
                for case in drifted:
                    out += _markdown_case(case)
        live_tools = self.live_tools()
        if live_tools:
            out += ["### Tool calls run live (`--llm-tools replay`)", ""]
            for case, calls in live_tools:
                out += [f"- {code_span(case.id)}: " + ", ".join(code_span(call) for call in calls)]
            out.append("")
        failed = [
            case for case in self.cases if case.outcome == "failed" and self.mode != "rerecord"
        ]
        if failed:
            out += (
                ["### Failed cases", ""]
                + [
                    f"- {code_span(case.id)}"
                    + (" (tolerated by the data-set gate)" if case.tolerated else "")
                    for case in failed
                ]
                + [""]
            )
        return "\n".join(out).rstrip() + "\n"


def _gate_mark(gate: GateResult) -> str:
    if gate.partial:
        return f"⏸️ {gate.partial_text}"
    return "✅" if gate.ok else "❌"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _details(case: CaseEntry) -> str:
    parts = []
    if case.drift is not None:
        parts.append(f"drift {case.drift:.2f}")
    samples = case.samples
    if samples and samples.get("before"):
        (pb, tb), (pa, ta) = samples["before"], samples["after"]
        most = case.data.samples_most
        used = f" (sequential, at most {most})" if most is not None and most > ta else ""
        parts.append(f"samples {pb}/{tb} -> {pa}/{ta}{used}")
    p_value = case.verdict[1]
    if p_value is not None:
        parts.append(f"p={p_value:.3f}")
    return f" ({', '.join(parts)})" if parts else ""


def _excerpt(text: str, width: int) -> str:
    """An answer on one line: a JSON answer as compact, unescaped JSON; other text quoted."""
    try:
        value = json_value(text)
        flat = None if value is None else compact_json(value)
    except RecursionError:  # nested too deeply to write back: shown as text
        flat = None
    if flat is not None:
        return flat if len(flat) <= width else flat[: width - 1] + "…"
    flat = " ".join(text.split())
    return json.dumps(flat if len(flat) <= width else flat[: width - 1] + "…", ensure_ascii=False)


#: The figures of a failure message: ``score 0.42 < 0.80``, ``0.123 < threshold 0.800``,
#: ``took 3.2 s > 2 s``, ``similarity=0.4``: what a shortened line must keep.
_FIGURES = re.compile(
    r"(?:\b(?:score|similarity|threshold|drift|rate|latency|took|p)\b\s*[:=]?\s*)?"
    r"-?\d+(?:\.\d+)?%?(?:\s*[a-z]{1,2}\b)?\s*(?:<=|>=|<|>|≤|≥|!=|==)\s*"
    r"(?:\b(?:threshold|budget|min(?:imum)?|max(?:imum)?)\b\s*[:=]?\s*)?-?\d+(?:\.\d+)?%?"
    r"|\b(?:score|similarity)\b\s*[:=]?\s*-?\d+(?:\.\d+)?",
    re.IGNORECASE,
)


def failure_line(message: str, width: int) -> str:
    """A failure message in at most ``width`` characters that keeps its figures: the first
    line, and where the figures (``score 0.42 < 0.80``) are cut off or on a later line, the
    beginning of the first line, ``…``, then the figures."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    head = lines[0]
    found = next((match for match in map(_FIGURES.search, lines) if match), None)
    if found is None or (found.string == head and found.end() <= width):
        return head if len(head) <= width else head[: width - 1] + "…"
    same_line = found.string == head
    figures = found.string[found.start() :]  # the figures and what follows them on their line
    if len(figures) > width - 2:
        figures = found.group(0)[: width - 2]
    prefix = head[: found.start()].rstrip() if same_line else head
    if not same_line and len(prefix) + 3 + len(figures) <= width:
        return f"{prefix} … {figures}"
    room = width - len(figures) - 2
    if room <= 0:
        return "…" + figures[: width - 1]
    return f"{prefix[:room].rstrip()}… {figures}"


def _answer_lines(case: CaseEntry, width: int) -> list[str]:
    old, new = case.data.old_answers, case.data.new_answers
    lines = []
    for index in range(max(len(old), len(new))):
        if index < len(old) and index < len(new) and old[index] == new[index]:
            continue
        if index < len(old):
            lines.append(f"  old: {_excerpt(old[index], width)}")
        if index < len(new):
            lines.append(f"  new: {_excerpt(new[index], width)}")
    if case.message:
        lines.append(f"  failure: {failure_line(case.message, width)}")
    if case.change == "fixed" and case.data.message_before:
        lines.append(f"  failed before: {failure_line(case.data.message_before, width)}")
    return lines


def _markdown_case(case: CaseEntry) -> list[str]:
    old, new = case.data.old_answers, case.data.new_answers
    body = [
        f"<details><summary><code>{html_text(case.id)}</code>{html_text(_details(case))}</summary>",
        "",
    ]
    for index in range(max(len(old), len(new))):
        if index < len(old):
            body += [f"**before** (call {index + 1}):", "", _fenced_answer(old[index]), ""]
        if index < len(new):
            body += [f"**after** (call {index + 1}):", "", _fenced_answer(new[index]), ""]
    if case.message:
        body += ["**failure:**", "", fenced(case.message), ""]
    if case.change == "fixed" and case.data.message_before:
        body += ["**failed before:**", "", fenced(case.data.message_before), ""]
    body += ["</details>", ""]
    return body


def _fenced_answer(answer: str) -> str:
    """An answer as a code block: a JSON answer pretty-printed and unescaped, in a json fence."""
    try:
        value = json_value(answer)
        pretty = None if value is None else json.dumps(value, indent=2, ensure_ascii=False)
    except RecursionError:  # nested too deeply to write back: shown as text
        pretty = None
    return fenced(answer) if pretty is None else fenced(pretty, "json")
