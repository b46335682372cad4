"""What one LLM case contributes to the run's report, as plain data.

Built where the test ran (an xdist worker, or the only process) and carried to the controller
on the test report's ``user_properties``, so nothing but JSON-able values travels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_llm.case.state import Case
from pytest_llm.cassette.interaction import Interaction
from pytest_llm.providers import llm_call
from pytest_llm.report import comparison

PROPERTY = "pytest_llm"


def call_summary(call: llm_call.LLMCall) -> dict[str, Any]:
    return {
        "endpoint": call.endpoint,
        "model": call.model,
        "latency_s": call.latency_s,
        "ttft_s": call.ttft_s,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
    }


def case_data(case: Case, *, drift_method: str) -> dict[str, Any]:
    results = case.samples
    sampled = results is not None and case.options.samples > 1
    data: dict[str, Any] = {
        "tags": list(case.options.tags),
        "dataset": case.dataset,
        "calls": [call_summary(call) for call in case.calls.history],
        "samples_after": [results.passed, results.total] if sampled and results else None,
        "sample_failures": [[run, message] for run, message in results.failures] if results else [],
        "rerecorded": case.rerecorded,
    }
    if data["rerecorded"]:
        before = case.before
        previous: Sequence[Interaction] = case.previous or ()
        old_answers = comparison.answers(previous)
        new_answers = comparison.answers(case.cassette.interactions)
        data.update(
            before=None if before is None else before.outcome,
            samples_before=None
            if before is None or before.samples is None
            else list(before.samples),
            old_answers=old_answers,
            new_answers=new_answers,
            drift=comparison.drift(old_answers, new_answers, method=drift_method)
            if previous
            else None,
            calls_before=[call_summary(llm_call.describe(interaction)) for interaction in previous],
        )
    return data


def failure_message(excinfo: Any) -> str:
    """Why the case failed, as the exception says it (cut at 500 characters)."""
    text = str(excinfo.exconly()).strip()
    return text if len(text) <= 500 else text[:499] + "…"


def gate_tolerance(data: dict[str, Any]) -> str | None:
    """The xfail reason of a failing record of a gated data set (None outside such sets)."""
    dataset = data.get("dataset") or {}
    if dataset.get("min_pass_rate") is None:
        return None
    return (
        f"tolerated by the data-set gate (min_pass_rate {dataset['min_pass_rate']:g} for "
        f"{dataset['path']}); the record failed: {data.get('message')}"
    )
