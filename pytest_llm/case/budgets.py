"""The budget keywords of ``@llm_case``, checked against the calls of one run of the case."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pytest_llm.case.options import CaseOptions
from pytest_llm.errors import BudgetConfigurationError, UnknownModelPrice
from pytest_llm.providers import pricing
from pytest_llm.providers.llm_call import LLMCall


def breaches(
    options: CaseOptions,
    calls: Sequence[LLMCall],
    prices: Mapping[str, pricing.Price],
    *,
    unknown_figures: str = "fail",
) -> list[str]:
    """One line per breached budget, naming the offending call, its figure and the budget. A
    figure the call did not report breaches the budget too (unless ``unknown_figures`` is
    ``ignore``): a budget never passes because a figure was unknown."""
    strict = unknown_figures != "ignore"
    found: list[str] = []
    for number, call in enumerate(calls, start=1):
        where = _where(number, call)
        if options.latency_budget is not None:
            if call.latency_s is None:
                if strict:
                    found.append(f"latency_budget: {where}: latency unknown{_UNKNOWN_HINT}")
            elif call.latency_s > options.latency_budget:
                found.append(
                    f"latency_budget: {where} took {call.latency_s:.3f} s > {options.latency_budget:g} s"
                )
        if options.ttft_budget is not None and call.stream:
            if call.ttft_s is None:
                if strict:
                    found.append(
                        f"ttft_budget: {where}: time to first token unknown{_UNKNOWN_HINT}"
                    )
            elif call.ttft_s > options.ttft_budget:
                found.append(
                    f"ttft_budget: {where} first token after {call.ttft_s:.3f} s > {options.ttft_budget:g} s"
                )
    if options.ttft_budget is not None and strict and calls and not any(c.stream for c in calls):
        found.append(
            "ttft_budget: no call of this case was streamed, so no time to first token was "
            f"measured{_UNKNOWN_HINT}"
        )
    if options.token_budget is not None:
        unknown = [n for n, call in enumerate(calls, start=1) if tokens_unknown(call)]
        total = sum(call.total_tokens for call in calls)
        if unknown and strict:
            found.append(
                f"token_budget: {_calls(unknown, calls)} reported no token counts, so the total "
                f"is unknown{_UNKNOWN_HINT}"
            )
        elif total > options.token_budget:
            found.append(
                f"token_budget: {total} tokens over {len(calls)} call(s) > {options.token_budget}{_by_call(calls)}"
            )
    if options.cost_budget is not None:
        unknown = [n for n, call in enumerate(calls, start=1) if tokens_unknown(call)]
        if unknown and strict:
            found.append(
                f"cost_budget: {_calls(unknown, calls)} reported no token counts, so the cost is "
                f"unknown{_UNKNOWN_HINT}"
            )
        else:
            known = [call for call in calls if not tokens_unknown(call)]
            cost = case_cost(known, prices)
            if cost > options.cost_budget:
                found.append(
                    f"cost_budget: ${cost:.6f} over {len(calls)} call(s) > ${options.cost_budget:g}"
                )
    return found


_UNKNOWN_HINT = (
    " (the call did not report it; llm_unknown_figures = ignore leaves such figures out)"
)


def tokens_unknown(call: LLMCall) -> bool:
    """Whether a call's token counts are missing: no prompt count, or no completion count for
    a call that answered (text or tool calls)."""
    if call.prompt_tokens is None and call.completion_tokens is None:
        return True
    answered = bool(call.text) or bool(call.tool_calls)
    return call.completion_tokens is None and answered


def _where(number: int, call: LLMCall) -> str:
    return f"call #{number} ({call.endpoint}, {call.model or 'unknown model'})"


def _calls(numbers: Sequence[int], calls: Sequence[LLMCall]) -> str:
    return ", ".join(_where(number, calls[number - 1]) for number in numbers)


def case_cost(calls: Sequence[LLMCall], prices: Mapping[str, pricing.Price]) -> float:
    figures = [(call.model, call.prompt_tokens or 0, call.completion_tokens or 0) for call in calls]
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
