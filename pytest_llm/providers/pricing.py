"""Token prices per model, for ``cost_budget``: a built-in table the user can override.

Prices are US dollars per million tokens (input, output), as published by OpenAI for the
standard tier when this table was written. Override or extend them with the ``llm_prices``
ini value, one ``model input output`` line each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from pytest_llm.errors import PytestLLMError

Price = tuple[float, float]

BUILTIN_PRICES: dict[str, Price] = {
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
    "omni-moderation-latest": (0.0, 0.0),
    "text-moderation-latest": (0.0, 0.0),
    # Google Gemini API, paid tier, prompts up to 200k tokens (output includes thinking tokens)
    "gemini-3-pro-preview": (2.00, 12.00),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.0-flash-lite": (0.075, 0.30),
    "gemini-embedding-001": (0.15, 0.0),
}

_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class UnknownModelPrice(PytestLLMError, LookupError):
    pass


def parse_price_lines(lines: Iterable[str]) -> dict[str, Price]:
    """``llm_prices`` lines (``model input output``) into a table; ValueError names the line."""
    prices: dict[str, Price] = {}
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        try:
            model, input_price, output_price = parts
            prices[model] = (float(input_price), float(output_price))
        except ValueError:
            raise ValueError(
                f"llm_prices line {line!r}: expected 'model input_usd_per_million output_usd_per_million', "
                "e.g. 'gpt-4o-mini 0.15 0.60'"
            ) from None
    return prices


def price_of(model: str, table: Mapping[str, Price]) -> Price:
    """The price of ``model``: exact name, then without a date suffix, then the longest
    known prefix (``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``)."""
    for name in (model, _DATE_SUFFIX.sub("", model)):
        if name in table:
            return table[name]
    prefixes = [name for name in table if model.startswith(name + "-")]
    if prefixes:
        return table[max(prefixes, key=len)]
    raise UnknownModelPrice(model)


def cost_usd(
    model: str, prompt_tokens: int, completion_tokens: int, table: Mapping[str, Price]
) -> float:
    input_price, output_price = price_of(model, table)
    return (prompt_tokens * input_price + completion_tokens * output_price) / 1_000_000


def cost_of(
    calls: Iterable[tuple[str | None, int | None, int | None]], table: Mapping[str, Price]
) -> float:
    """The cost in USD of calls given as ``(model, prompt_tokens, completion_tokens)``.

    The one policy for every figure the plugin prices (``cost_budget``, the run report,
    ``pytest-llm diff``): a call that reported no tokens costs nothing; a call with tokens whose
    model has no price raises :class:`UnknownModelPrice` naming the model, and each caller
    says so in its own terms (a budget fails, a report shows the cost as unknown).
    """
    total = 0.0
    for model, prompt_tokens, completion_tokens in calls:
        if not (prompt_tokens or completion_tokens):
            continue
        total += cost_usd(model or "", prompt_tokens or 0, completion_tokens or 0, table)
    return total
