"""Token prices per model, for ``cost_budget``: a built-in table the user can override.

Prices are US dollars per million tokens (input, output), as published by OpenAI for the
standard tier when this table was written. Override or extend them with the ``llm_prices``
ini value, one ``model input output`` line each.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from pytest_llm.errors import UnknownFigure, UnknownModelPrice

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
    # Cohere (v2 chat bills usage.billed_units); its names end in -MM-YYYY, so each is listed.
    "command-a-03-2025": (2.50, 10.00),
    "command-r-plus-08-2024": (2.50, 10.00),
    "command-r-plus": (2.50, 10.00),
    "command-r-08-2024": (0.15, 0.60),
    "command-r": (0.15, 0.60),
    "command-r7b-12-2024": (0.0375, 0.15),
    "embed-v4.0": (0.12, 0.0),
    "embed-english-v3.0": (0.10, 0.0),
    "embed-multilingual-v3.0": (0.10, 0.0),
    # Mistral: "-latest" and dated names (mistral-small-2503) find these by prefix.
    "mistral-large": (2.00, 6.00),
    "mistral-medium": (0.40, 2.00),
    "mistral-small": (0.10, 0.30),
    "magistral-medium": (2.00, 5.00),
    "magistral-small": (0.50, 1.50),
    "codestral": (0.30, 0.90),
    "ministral-8b": (0.10, 0.10),
    "ministral-3b": (0.04, 0.04),
    "open-mistral-nemo": (0.15, 0.15),
    "pixtral-large": (2.00, 6.00),
    "mistral-embed": (0.10, 0.0),
    # Anthropic's standard tier (dated names such as claude-sonnet-4-5-20250929 match by prefix)
    "claude-opus-4-5": (5.00, 25.00),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-opus": (15.00, 75.00),
    "claude-3-haiku": (0.25, 1.25),
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


def parse_price_lines(lines: Iterable[str]) -> dict[str, Price]:
    """``llm_prices`` lines (``model input output``) into a table; ValueError names the line."""
    prices: dict[str, Price] = {}
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        try:
            model, input_price, output_price = parts
            price = (float(input_price), float(output_price))
        except ValueError:
            raise ValueError(
                f"llm_prices line {line!r}: expected 'model input_usd_per_million output_usd_per_million', "
                "e.g. 'gpt-4o-mini 0.15 0.60'"
            ) from None
        if not all(math.isfinite(value) and value >= 0 for value in price):
            raise ValueError(
                f"llm_prices line {line!r}: prices must be finite numbers >= 0 "
                "(US dollars per million tokens), e.g. 'gpt-4o-mini 0.15 0.60'"
            )
        prices[model] = price
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
    ``pytest-llm diff``): a call that reported no token counts at all raises
    :class:`~pytest_llm.errors.UnknownFigure` (its cost is unknown, not zero); a call with
    tokens whose model has no price raises :class:`UnknownModelPrice` naming the model. Each
    caller says so in its own terms (a budget fails, a report shows the cost as unknown).
    """
    total = 0.0
    for model, prompt_tokens, completion_tokens in calls:
        if prompt_tokens is None and completion_tokens is None:
            raise UnknownFigure(f"a call to {model or 'an unknown model'} reported no token counts")
        total += cost_usd(model or "", prompt_tokens or 0, completion_tokens or 0, table)
    return total
