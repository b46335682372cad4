"""What one LLM case contributes to the run's report.

Built where the test ran (an xdist worker, or the only process) as a :class:`CasePayload`, and
carried to the controller on the test report's ``user_properties`` as plain JSON-able data
(:meth:`CasePayload.to_dict`), which the controller reads back with
:meth:`CasePayload.from_dict`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llm.case.state import Case
from pytest_llm.cassette.interaction import Interaction
from pytest_llm.providers import llm_call
from pytest_llm.report import comparison

PROPERTY = "pytest_llm"


@dataclasses.dataclass(frozen=True)
class CallSummary:
    """One call of a case, as the report shows it (its cost is priced on the controller)."""

    endpoint: str | None
    model: str | None
    latency_s: float | None
    ttft_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None

    @classmethod
    def of(cls, call: llm_call.LLMCall) -> CallSummary:
        return cls(
            endpoint=call.endpoint,
            model=call.model,
            latency_s=call.latency_s,
            ttft_s=call.ttft_s,
            prompt_tokens=call.prompt_tokens,
            completion_tokens=call.completion_tokens,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallSummary:
        return cls(**{field.name: data.get(field.name) for field in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class DatasetOrigin:
    """The data set a case's record came from, and its gate."""

    path: str
    min_pass_rate: float | None = None
    #: How many records the data set holds, and which one this case ran (None: not known,
    #: e.g. a report of an older version).
    size: int | None = None
    record: str | None = None


@dataclasses.dataclass(frozen=True)
class CasePayload:
    """Everything the report needs of one case."""

    tags: tuple[str, ...] = ()
    dataset: DatasetOrigin | None = None
    calls: tuple[CallSummary, ...] = ()
    #: ``(passed, total)`` of a sampled case's runs; None for a case run once.
    samples_after: tuple[int, int] | None = None
    #: Of a sequential case: the most runs it could have used (``samples=N``).
    samples_most: int | None = None
    rerecorded: bool = False
    #: Of a re-recorded case: the outcome and samples of the "before" run on the old cassette,
    #: the answers before and after (as text), their drift, the old calls.
    before: str | None = None
    samples_before: tuple[int, int] | None = None
    old_answers: tuple[str, ...] = ()
    new_answers: tuple[str, ...] = ()
    drift: float | None = None
    calls_before: tuple[CallSummary, ...] | None = None
    #: Why the case failed (scrubbed), and, for a gated data-set record, why the gate let it be.
    message: str | None = None
    #: Of a re-recorded case: why it failed on its old cassette (a FIXED case's story).
    message_before: str | None = None
    tolerated: str | None = None
    #: Of a case recorded with ``--llm-tools replay``: the ``@llm_tool`` calls that ran live
    #: (their arguments not in the old cassette), each ``{"name": ..., "arguments": {...}}``;
    #: None when the tools did not get old results.
    live_tool_calls: tuple[dict[str, Any], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["calls"] = [call.to_dict() for call in self.calls]
        if self.live_tool_calls is not None:
            data["live_tool_calls"] = [dict(call) for call in self.live_tool_calls]
        if self.calls_before is not None:
            data["calls_before"] = [call.to_dict() for call in self.calls_before]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CasePayload:
        dataset = data.get("dataset")
        calls_before = data.get("calls_before")
        return cls(
            tags=tuple(data.get("tags") or ()),
            dataset=None if not dataset else _dataset_origin(dataset),
            calls=tuple(CallSummary.from_dict(call) for call in data.get("calls") or ()),
            samples_after=_pair(data.get("samples_after")),
            samples_most=_count(data.get("samples_most")),
            rerecorded=bool(data.get("rerecorded")),
            before=data.get("before"),
            samples_before=_pair(data.get("samples_before")),
            old_answers=tuple(data.get("old_answers") or ()),
            new_answers=tuple(data.get("new_answers") or ()),
            drift=data.get("drift"),
            calls_before=None
            if calls_before is None
            else tuple(CallSummary.from_dict(call) for call in calls_before),
            message=data.get("message"),
            message_before=data.get("message_before"),
            tolerated=data.get("tolerated"),
            live_tool_calls=_live_tool_calls(data.get("live_tool_calls")),
        )

    def gate_tolerance(self) -> str | None:
        """The xfail reason of a failing record of a gated data set (None outside such sets)."""
        if self.dataset is None or self.dataset.min_pass_rate is None:
            return None
        return (
            f"tolerated by the data-set gate (min_pass_rate {self.dataset.min_pass_rate:g} for "
            f"{self.dataset.path}); the record failed: {self.message}"
        )


def _live_tool_calls(value: Any) -> tuple[dict[str, Any], ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(
        {"name": str(call.get("name")), "arguments": call.get("arguments") or {}}
        for call in value
        if isinstance(call, dict)
    )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dataset_origin(data: Mapping[str, Any]) -> DatasetOrigin:
    return DatasetOrigin(
        str(data.get("path")),
        data.get("min_pass_rate"),
        size=data.get("size"),
        record=data.get("record"),
    )


def _pair(value: Any) -> tuple[int, int] | None:
    return None if value is None else (int(value[0]), int(value[1]))


def case_payload(case: Case, *, drift_method: str) -> CasePayload:
    results = case.samples
    sampled = results is not None and case.options.samples > 1
    dataset = case.dataset
    payload = CasePayload(
        tags=tuple(case.options.tags),
        dataset=None
        if dataset is None
        else DatasetOrigin(
            str(dataset["path"]),
            dataset.get("min_pass_rate"),
            size=dataset.get("size"),
            record=dataset.get("record"),
        ),
        calls=tuple(CallSummary.of(call) for call in case.calls.history),
        samples_after=(results.passed, results.total) if sampled and results else None,
        samples_most=case.options.samples if sampled and case.options.sequential else None,
        rerecorded=case.rerecorded,
        live_tool_calls=None
        if case.live_tool_calls is None
        else tuple(
            {"name": call.name, "arguments": call.arguments} for call in case.live_tool_calls
        ),
    )
    if not case.rerecorded:
        return payload
    before = case.before
    previous: Sequence[Interaction] = case.previous or ()
    old_paired, new_paired = comparison.paired(previous, case.cassette.interactions)
    old_answers = comparison.answers(old_paired)
    new_answers = comparison.answers(new_paired)
    return dataclasses.replace(
        payload,
        before=None if before is None else before.outcome,
        message_before=None if before is None else before.message,
        samples_before=None if before is None or before.samples is None else before.samples,
        old_answers=tuple(old_answers),
        new_answers=tuple(new_answers),
        drift=comparison.drift(old_answers, new_answers, method=drift_method) if previous else None,
        calls_before=tuple(CallSummary.of(llm_call.describe(item)) for item in previous),
    )


def failure_message(excinfo: Any) -> str:
    """Why the case failed, as the exception says it (cut at 500 characters)."""
    text = str(excinfo.exconly()).strip()
    return text if len(text) <= 500 else text[:499] + "…"
