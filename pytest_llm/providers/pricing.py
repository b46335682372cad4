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
    # Amazon Bedrock on-demand, us-east-1. Model ids (amazon.nova-pro-v1:0) match by prefix;
    # a cross-region profile's prefix (us., eu., apac., global.) and another vendor's prefix
    # are dropped, so anthropic.claude-3-5-sonnet-20240620-v1:0 finds claude-3-5-sonnet.
    "amazon.nova-premier": (2.50, 12.50),
    "amazon.nova-pro": (0.80, 3.20),
    "amazon.nova-lite": (0.06, 0.24),
    "amazon.nova-micro": (0.035, 0.14),
    "meta.llama3-3-70b-instruct": (0.72, 0.72),
    "meta.llama3-1-405b-instruct": (2.40, 2.40),
    "meta.llama3-1-70b-instruct": (0.72, 0.72),
    "meta.llama3-1-8b-instruct": (0.22, 0.22),
    "meta.llama3-70b-instruct": (2.65, 3.50),
    "meta.llama3-8b-instruct": (0.30, 0.60),
}

_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
#: A Bedrock model id's cross-region inference profile (``us.``) and an ARN's path.
_BEDROCK_REGION_PREFIX = re.compile(r"^(?:arn:[^/]*/)?(?:us|eu|apac|global|us-gov|ca|jp|au)\.")
#: A Bedrock model id's vendor (``anthropic.``) and version (``-v1:0``, ``-v2``).
_BEDROCK_VENDOR = re.compile(r"^[a-z0-9-]+\.")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")


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
    known prefix (``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``). A Bedrock model id is also
    tried without its region profile, then without its vendor and version
    (``us.anthropic.claude-3-5-sonnet-20240620-v1:0`` -> ``claude-3-5-sonnet``)."""
    for candidate in _names_to_try(model):
        for name in (candidate, _DATE_SUFFIX.sub("", candidate)):
            if name in table:
                return table[name]
        prefixes = [name for name in table if candidate.startswith(name + "-")]
        if prefixes:
            return table[max(prefixes, key=len)]
    raise UnknownModelPrice(model)


def _names_to_try(model: str) -> list[str]:
    names = [model]
    without_region = _BEDROCK_REGION_PREFIX.sub("", model)
    if without_region.startswith("arn:"):
        without_region = without_region.rpartition("/")[2]
    if without_region != model:
        names.append(without_region)
    bare = _BEDROCK_VERSION.sub("", _BEDROCK_VENDOR.sub("", without_region))
    if bare != without_region and "." in without_region:
        names.append(bare)
    return names


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
