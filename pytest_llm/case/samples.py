"""Run a case's body once per sample, check its budgets, and judge the runs together."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import pytest

from pytest_llm.case import budgets
from pytest_llm.case.state import Case
from pytest_llm.errors import BudgetConfigurationError, BudgetExceeded, PassRateTooLow
from pytest_llm.providers import pricing


@dataclasses.dataclass
class SampleResults:
    """How the runs of one case went: [passed, total] and why the failing runs failed."""

    passed: int = 0
    total: int = 0
    failures: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


def run_samples(
    case: Case,
    body: Callable[[], object],
    prices: Mapping[str, pricing.Price],
    *,
    unknown_figures: str = "fail",
) -> SampleResults:
    """Run ``body`` ``samples`` times. With one sample its failure propagates as it is; with
    several, the case fails (AssertionError) only when the pass rate is below ``min_pass_rate``.
    A sequential case stops earlier, once ``case.stop_sampling`` says its verdict is settled
    (the pass rate is then over the runs it used)."""
    __tracebackhide__ = True
    options = case.options
    results = SampleResults()
    case.samples = results
    for run in range(1, options.samples + 1):
        case.calls.clear()  # llm_calls shows the current run's calls
        results.total += 1
        try:
            body()
            breached = budgets.breaches(
                options, case.calls, prices, unknown_figures=unknown_figures
            )
            if breached:
                raise BudgetExceeded("LLM budget exceeded:\n  " + "\n  ".join(breached))
        except BudgetConfigurationError:
            raise
        except (Exception, pytest.fail.Exception) as error:
            if options.samples == 1:
                raise
            results.failures.append((run, _one_line(error)))
        else:
            results.passed += 1
        if (
            options.sequential
            and case.stop_sampling is not None
            and run < options.samples
            and case.stop_sampling(results.passed, results.total)
        ):
            break
    if options.samples > 1 and results.pass_rate < options.min_pass_rate:
        used = (
            f" (sequential: stopped after {results.total} of at most {options.samples} runs)"
            if results.total < options.samples
            else ""
        )
        lines = [
            f"{results.passed}/{results.total} samples passed, below min_pass_rate "
            f"{options.min_pass_rate:g}{used}:"
        ]
        lines += [f"  run {run}: {message}" for run, message in results.failures]
        raise PassRateTooLow("\n".join(lines))
    return results


def _one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    first = text.splitlines()[0]
    return f"{type(error).__name__}: {first}" if not isinstance(error, AssertionError) else first
