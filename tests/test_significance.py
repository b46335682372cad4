"""The significance rule for sampled cases: exact expected rates, and the rule end to end."""

from __future__ import annotations

import json

import pytest

from pytest_llm.report.comparison import (
    SIGNIFICANCE_LEVEL,
    classify,
    fisher_one_sided,
    regression_probability,
)


def _flag_rate(p_before: float, p_after: float) -> float:
    return regression_probability(p_before, p_after, samples=10, min_pass_rate=0.7)


def test_detects_a_drop_from_0_9_to_0_3_at_ten_samples():
    assert _flag_rate(0.9, 0.3) >= 0.90


@pytest.mark.parametrize("p", [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
def test_unchanged_cases_are_rarely_flagged(p):
    assert _flag_rate(p, p) <= 0.05


def test_p_values():
    assert fisher_one_sided(9, 10, 3, 10, worse=True) < SIGNIFICANCE_LEVEL
    assert fisher_one_sided(8, 10, 6, 10, worse=True) > SIGNIFICANCE_LEVEL
    assert fisher_one_sided(5, 10, 5, 10, worse=True) == pytest.approx(0.5)
    assert fisher_one_sided(2, 10, 9, 10, worse=False) < SIGNIFICANCE_LEVEL


def test_classification_without_samples():
    assert classify("passed", "failed", None) == ("regressed", None)
    assert classify("failed", "passed", None) == ("fixed", None)
    assert classify(None, "passed", None) == ("new", None)
    assert classify("passed", "skipped", None) == (None, None)


SAMPLED = """
    import pytest
    from pytest_llm import llm_case

    @llm_case(samples=10, min_pass_rate=0.7)
    @pytest.mark.parametrize("name", ["dropped", "wobbly"])
    def test_sampled(name, llm_client, llm_model):
        text = llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": name}]).choices[0].message.content
        assert text == "good"
"""


def _answers(good: int) -> list[str]:
    return ["good"] * good + ["bad"] * (10 - good)


def test_sampled_rerecord_reports_regressed_and_noisy_with_p_values(inner):
    inner.write(SAMPLED)
    inner.server.script(
        replies=[
            {"match": "dropped", "text": _answers(9)},
            {"match": "wobbly", "text": _answers(8)},
        ]
    )
    inner.record().assert_outcomes(passed=2)
    inner.server.script(
        replies=[
            {"match": "dropped", "text": _answers(3)},
            {"match": "wobbly", "text": _answers(6)},
        ]
    )
    result = inner.rerecord("--llm-report=report.json")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "2 cases: 1 regressed, 0 fixed, 1 noisy, 0 still passing, 0 still failing, 0 new",
            "REGRESSED test_app.py::test_sampled?dropped? (drift *samples 9/10 -> 3/10, p=0.0*)",
            "NOISY test_app.py::test_sampled?wobbly? (*samples 8/10 -> 6/10, p=0.*)",
        ]
    )
    cases = {
        case["id"]: case
        for case in json.loads((inner.pytester.path / "report.json").read_text())["cases"]
    }
    dropped = cases["test_app.py::test_sampled[dropped]"]
    assert dropped["samples"] == {"before": [9, 10], "after": [3, 10]}
    assert dropped["change"] == "regressed" and dropped["p_value"] < 0.05
    assert cases["test_app.py::test_sampled[wobbly]"]["change"] == "noisy"
