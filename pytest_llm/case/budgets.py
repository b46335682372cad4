"""The budget keywords of ``@llm_case``, checked against the calls of one run of the case."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pytest_llm.case.options import CaseOptions
from pytest_llm.errors import BudgetConfigurationError, UnknownModelPrice
from pytest_llm.providers import pricing
from pytest_llm.providers.llm_call import LLMCall


def breaches(
    options: CaseOptions, calls: Sequence[LLMCall], prices: Mapping[str, pricing.Price]
) -> list[str]:
    """One line per breached budget, naming the offending call, its figure and the budget."""
    found: list[str] = []
    for number, call in enumerate(calls, start=1):
        where = f"call #{number} ({call.endpoint}, {call.model or 'unknown model'})"
        if (
            options.latency_budget is not None
            and call.latency_s is not None
            and call.latency_s > options.latency_budget
        ):
            found.append(
                f"latency_budget: {where} took {call.latency_s:.3f} s > {options.latency_budget:g} s"
            )
        if (
            options.ttft_budget is not None
            and call.ttft_s is not None
            and call.ttft_s > options.ttft_budget
        ):
            found.append(
                f"ttft_budget: {where} first token after {call.ttft_s:.3f} s > {options.ttft_budget:g} s"
            )
    if options.token_budget is not None:
        total = sum(call.total_tokens for call in calls)
        if total > options.token_budget:
            found.append(
                f"token_budget: {total} tokens over {len(calls)} call(s) > {options.token_budget}{_by_call(calls)}"
            )
    if options.cost_budget is not None:
        cost = case_cost(calls, prices)
        if cost > options.cost_budget:
            found.append(
                f"cost_budget: ${cost:.6f} over {len(calls)} call(s) > ${options.cost_budget:g}"
            )
    return found


def case_cost(calls: Sequence[LLMCall], prices: Mapping[str, pricing.Price]) -> float:
    figures = [(call.model, call.prompt_tokens, call.completion_tokens) for call in calls]
    try:
        return pricing.cost_of(figures, prices)
    except UnknownModelPrice as unknown:
        model = str(unknown.args[0]) if unknown.args else ""
        raise BudgetConfigurationError(
            f"cost_budget: no price for model {model!r}; add a line '{model or 'MODEL'} <input USD> "
            "<output USD>' (per million tokens) to the llm_prices ini value"
        ) from None


def _by_call(calls: Sequence[LLMCall]) -> str:
    if len(calls) <= 1:
        return ""
    return (
        " ("
        + ", ".join(f"#{n}: {call.total_tokens}" for n, call in enumerate(calls, start=1))
        + ")"
    )
