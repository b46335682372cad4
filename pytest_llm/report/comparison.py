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

#: A flip of a sampled case counts as regressed/fixed only below this one-sided (mid-p Fisher)
#: p-value; above it the flip is reported as "noisy".
SIGNIFICANCE_LEVEL = 0.05


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


def fisher_one_sided(
    passed_before: int, total_before: int, passed_after: int, total_after: int, *, worse: bool
) -> float:
    """One-sided Fisher exact test with the mid-p correction on the 2x2 table of passes and
    failures before and after.

    ``worse=True``: the p-value of a pass rate this much lower after, or lower still (a
    regression); ``worse=False``: this much higher or higher still (a fix). The mid-p (half the
    probability of the observed table) removes most of Fisher's conservatism on small samples:
    at 10 samples per side and ``min_pass_rate`` 0.7 it flags 90 % of cases whose pass
    probability fell from 0.9 to 0.3, and at most 4.3 % of unchanged cases, whatever their pass
    probability (see benchmarks/sample_significance.py).
    """
    passes = passed_before + passed_after
    total = total_before + total_after
    denominator = math.comb(total, total_after)
    low = max(0, passes - total_before)
    high = min(passes, total_after)

    def probability(k: int) -> float:
        return math.comb(passes, k) * math.comb(total - passes, total_after - k) / denominator

    tail = range(low, passed_after + 1) if worse else range(passed_after, high + 1)
    return min(1.0, sum(probability(k) for k in tail) - 0.5 * probability(passed_after))


def classify(
    before: str | None, after: str, samples: dict[str, Any] | None
) -> tuple[str | None, float | None]:
    """(change, p_value) for a case whose outcome went from ``before`` to ``after``.

    ``before`` is None for a new case (no old cassette, or more calls than it recorded);
    skipped cases have no change.
    """
    if after == "skipped":
        return None, None
    if before is None:
        return "new", None
    passed_before, passed_after = before == "passed", after == "passed"
    p_value = None
    sampled = samples is not None and samples.get("before") is not None
    if sampled and samples is not None:
        (pb, tb), (pa, ta) = samples["before"], samples["after"]
        if pa / ta < pb / tb:
            p_value = fisher_one_sided(pb, tb, pa, ta, worse=True)
        elif pa / ta > pb / tb:
            p_value = fisher_one_sided(pb, tb, pa, ta, worse=False)
        else:
            p_value = 1.0
    if passed_before and not passed_after:
        return (
            "noisy" if p_value is not None and p_value >= SIGNIFICANCE_LEVEL else "regressed"
        ), p_value
    if passed_after and not passed_before:
        return (
            "noisy" if p_value is not None and p_value >= SIGNIFICANCE_LEVEL else "fixed"
        ), p_value
    return ("still_passing" if passed_after else "still_failing"), p_value


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
