"""Before/after of a re-recorded case: categories, drift of the answers, significance.

On ``--llm-rerecord`` each case first runs against its old cassette, every call answered by
the old recording at the same position of the same endpoint (so an edited prompt or a new
model name still compares), then live. This module turns the two outcomes and the two
cassettes into a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pytest_llm.assertions import similarity
from pytest_llm.cassette import matching
from pytest_llm.cassette.interaction import Interaction
from pytest_llm.providers import llm_call
from pytest_llm.report.answer_text import answer_of
from pytest_llm.report.significance import (
    SIGNIFICANCE_LEVEL,
    curtailed_p_value,
    fisher_one_sided,
)


def answers(interactions: Sequence[Interaction]) -> list[str]:
    """The answers of a cassette's calls to answer endpoints (chat, ...), in order, as
    :func:`~pytest_llm.report.answer_text.answer_of` gives them (text, then tool calls): the
    same strings ``pytest-llm diff`` compares."""
    found = []
    for interaction in interactions:
        call = llm_call.describe(interaction)
        answer = answer_of(call)
        if call.endpoint in interaction.provider.answer_endpoints and answer is not None:
            found.append(answer)
    return found


def paired(
    old: Sequence[Interaction], new: Sequence[Interaction]
) -> tuple[list[Interaction], list[Interaction]]:
    """``old`` reordered so that its n-th interaction is the one the n-th of ``new`` re-recorded:
    the same request when there is one (concurrent calls arrive in any order), else the next
    unpaired one of the same endpoint; the old ones left over follow."""
    by_request: dict[Any, list[int]] = {}
    by_endpoint: dict[Any, list[int]] = {}
    for index, interaction in enumerate(old):
        method, path, body = interaction.method, interaction.path, interaction.request_body
        by_request.setdefault(matching.match_key(method, path, body), []).append(index)
        by_endpoint.setdefault(matching.endpoint_key(method, path, body), []).append(index)
    taken: set[int] = set()
    order: list[int] = []
    new_order: list[Interaction] = []
    unmatched: list[Interaction] = []
    for interaction in new:
        method, path, body = interaction.method, interaction.path, interaction.request_body
        same = [
            i for i in by_request.get(matching.match_key(method, path, body), []) if i not in taken
        ]
        if same:
            taken.add(same[0])
            order.append(same[0])
            new_order.append(interaction)
        else:
            unmatched.append(interaction)
    for interaction in unmatched:
        method, path, body = interaction.method, interaction.path, interaction.request_body
        spare = [
            i
            for i in by_endpoint.get(matching.endpoint_key(method, path, body), [])
            if i not in taken
        ]
        if spare:
            taken.add(spare[0])
            order.append(spare[0])
            new_order.append(interaction)
    left_new = [interaction for interaction in new if all(interaction is not n for n in new_order)]
    left_old = [old[i] for i in range(len(old)) if i not in taken]
    return [old[i] for i in order] + left_old, new_order + left_new


def drift(old: Sequence[str], new: Sequence[str], *, method: str = "fuzzy") -> float | None:
    """The lowest similarity of the new answers to the old ones, paired by position; None when
    there is no pair. 1.0 means every answer is unchanged."""
    pairs = list(zip(old, new, strict=False))
    if not pairs:
        return None
    return min(answer_similarity(a, b, method=method) for a, b in pairs)


def answer_similarity(old: str, new: str, *, method: str = "fuzzy") -> float:
    """How alike an old and a new answer are: the one measure of drift, used by the re-record
    report and by ``pytest-llm diff``. 1.0 for the same text (without calling any model), else
    :func:`pytest_llm.assertions.similarity.similarity` by ``method`` (``fuzzy``: rapidfuzz
    ``token_sort_ratio``)."""
    if old == new and method != "embedding":
        return 1.0
    return similarity.similarity(old, new, method=method)


def classify(
    before: str | None,
    after: str,
    samples: dict[str, Any] | None,
    *,
    most: int | None = None,
    level: float = SIGNIFICANCE_LEVEL,
    significant: bool | None = None,
) -> tuple[str | None, float | None]:
    """(change, p_value) for a case whose outcome went from ``before`` to ``after``.

    ``before`` is None for a new case (no old cassette, or more calls than it recorded);
    skipped cases have no change. ``most``: the most runs of a sequential case (its p-value is
    then the largest the fixed test on ``most`` runs could have had, see
    :func:`~pytest_llm.report.significance.curtailed_p_value`). ``significant``, when given,
    is the run's decision for this case (false discovery control) instead of ``p < level``.
    """
    if after == "skipped":
        return None, None
    if before is None:
        return "new", None
    passed_before, passed_after = before == "passed", after == "passed"
    p_value = p_value_of(samples, most=most)
    if significant is None:
        significant = p_value is None or p_value < level
    if passed_before != passed_after:
        if not significant:
            return "noisy", p_value
        return ("fixed" if passed_after else "regressed"), p_value
    return ("still_passing" if passed_after else "still_failing"), p_value


def p_value_of(samples: dict[str, Any] | None, *, most: int | None = None) -> float | None:
    """The one-sided p-value of a sampled case's change, in the direction its pass rate went
    (1.0 when it did not move); None for a case without samples on both sides."""
    if samples is None or samples.get("before") is None:
        return None
    (pb, tb), (pa, ta) = samples["before"], samples["after"]
    if not tb or not ta or pa / ta == pb / tb:
        return 1.0
    worse = pa / ta < pb / tb
    if most is not None and most > ta:
        return curtailed_p_value((pb, tb), pa, ta, most=most, worse=worse)
    return fisher_one_sided(pb, tb, pa, ta, worse=worse)


def regression_probability(
    p_before: float, p_after: float, *, samples: int, min_pass_rate: float
) -> float:
    """The exact probability that a sampled case whose pass probability goes from ``p_before``
    to ``p_after`` is classified "regressed" (over every pair of pass counts)."""

    def binomial(k: int, p: float) -> float:
        return math.comb(samples, k) * p**k * (1 - p) ** (samples - k)

    total = 0.0
    for before in range(samples + 1):
        for after in range(samples + 1):
            change, _ = classify(
                "passed" if before / samples >= min_pass_rate else "failed",
                "passed" if after / samples >= min_pass_rate else "failed",
                {"before": [before, samples], "after": [after, samples]},
            )
            if change == "regressed":
                total += binomial(before, p_before) * binomial(after, p_after)
    return total
