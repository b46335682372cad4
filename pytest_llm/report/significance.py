"""The statistics behind sampled cases: the before/after test, sequential stopping rules and the
Benjamini-Hochberg control of false discoveries. Plain functions on counts, nothing else.

A sampled case's runs are Bernoulli trials (a run passes or fails). On ``--llm-rerecord`` the
old cassette gives ``[passed, total]`` before and the live model ``[passed, total]`` after; a
flip of the case's outcome counts as regressed/fixed only when the change of pass rate is
significant (one-sided mid-p Fisher test, :data:`SIGNIFICANCE_LEVEL`).

Sequential sampling (``@llm_case(samples=N, sequential=True)``) stops once more runs cannot
change the verdict (curtailment, see docs/rerecord-and-reports.md ("Sequential samples")):

* against ``min_pass_rate`` (:func:`gate_settled`): exact, the verdict of all N runs;
* against the old cassette (:func:`change_settled`): the regressed / fixed decision that the
  fixed test would make on N runs after is already the same for every way the remaining runs
  could go, so the sequential case is flagged exactly when the fixed test would be: the same
  error rates, fewer live calls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: A flip of a sampled case counts as regressed/fixed only below this one-sided (mid-p Fisher)
#: p-value; above it the flip is reported as "noisy".
SIGNIFICANCE_LEVEL = 0.05

Count = tuple[int, int]


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
    return max(0.0, min(1.0, sum(probability(k) for k in tail) - 0.5 * probability(passed_after)))


def gate_settled(passed: int, total: int, *, most: int, min_pass_rate: float) -> bool:
    """Whether ``most`` runs would pass or fail ``min_pass_rate`` the same way whatever the
    ``most - total`` runs still to come do (curtailment: no error at all)."""
    remaining = most - total
    return (passed / most >= min_pass_rate) == ((passed + remaining) / most >= min_pass_rate)


def fixed_change(
    before: Count, after: Count, *, min_pass_rate: float, level: float = SIGNIFICANCE_LEVEL
) -> str | None:
    """ "regressed", "fixed" or None: the verdict of the fixed-sample test on final counts (each
    side passes when its pass rate reaches ``min_pass_rate``)."""
    (pb, tb), (pa, ta) = before, after
    if not tb or not ta:
        return None
    passed_before, passed_after = pb / tb >= min_pass_rate, pa / ta >= min_pass_rate
    worse, better = pa / ta < pb / tb, pa / ta > pb / tb
    if passed_before and not passed_after and worse:
        return "regressed" if fisher_one_sided(pb, tb, pa, ta, worse=True) < level else None
    if passed_after and not passed_before and better:
        return "fixed" if fisher_one_sided(pb, tb, pa, ta, worse=False) < level else None
    return None


def change_settled(
    before: Count,
    passed: int,
    total: int,
    *,
    most: int,
    min_pass_rate: float,
    level: float = SIGNIFICANCE_LEVEL,
) -> bool:
    """Whether the fixed test's verdict on ``most`` runs after is already decided by the first
    ``total`` runs (``passed`` of them passed), whatever the remaining runs do.

    The regressed set is a down-set of the final pass count and the fixed set an up-set (each
    condition is monotone in it), so comparing the two extreme completions (every remaining run
    fails, every one passes) decides it for all of them.
    """
    if total >= most:
        return True
    remaining = most - total
    worst = fixed_change(before, (passed, most), min_pass_rate=min_pass_rate, level=level)
    best = fixed_change(
        before, (passed + remaining, most), min_pass_rate=min_pass_rate, level=level
    )
    return worst == best


def curtailed_p_value(before: Count, passed: int, total: int, *, most: int, worse: bool) -> float:
    """The one-sided p-value of a case that stopped after ``total`` of at most ``most`` runs:
    the largest p-value the fixed test could have had over every way the remaining runs could
    have gone (a conservative, valid p-value; the plain one when ``total == most``)."""
    pb, tb = before
    remaining = max(0, most - total)
    # the p-value grows with the final pass count (worse) or shrinks with it (better)
    final = passed + remaining if worse else passed
    return fisher_one_sided(pb, tb, final, max(most, total), worse=worse)


def benjamini_hochberg(p_values: Sequence[float], rate: float) -> list[bool]:
    """Which hypotheses the Benjamini-Hochberg step-up procedure rejects at false discovery rate
    ``rate``: every p-value up to the largest ``p_(k) <= k * rate / m`` (sorted ascending)."""
    count = len(p_values)
    order = sorted(range(count), key=lambda index: p_values[index])
    cutoff = -1
    for rank, index in enumerate(order, start=1):
        if p_values[index] <= rank * rate / count:
            cutoff = rank
    rejected = [False] * count
    for index in order[: max(cutoff, 0)]:
        rejected[index] = True
    return rejected
