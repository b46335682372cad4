"""Sequential samples stop once the verdict is settled; replay uses the runs recorded; false
discovery control decides regressed / fixed over the whole run."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pytest_llm
from pytest_llm.case import sequential
from pytest_llm.case.options import CaseOptions, build_options
from pytest_llm.errors import CaseOptionsError
from pytest_llm.report import comparison
from pytest_llm.report.significance import (
    SIGNIFICANCE_LEVEL,
    benjamini_hochberg,
    change_settled,
    curtailed_p_value,
    fisher_one_sided,
    fixed_change,
    gate_settled,
)

REPORT_SCHEMA = json.loads(
    (Path(pytest_llm.__file__).parent / "report" / "schema.json").read_text()
)

# --------------------------------------------------------------------------- decision functions


@pytest.mark.parametrize(
    ("passed", "total", "settled"),
    [
        (7, 7, True),  # 7 of 10 reached: passes whatever follows
        (6, 6, False),
        (0, 4, True),  # 4 failures: at most 6 of 10 can pass
        (0, 3, False),
        (6, 9, False),  # the last run decides
        (7, 10, True),
        (6, 10, True),
    ],
)
def test_the_gate_is_settled_exactly_when_no_continuation_changes_it(passed, total, settled):
    assert gate_settled(passed, total, most=10, min_pass_rate=0.7) is settled


@given(
    most=st.integers(2, 12),
    rate=st.sampled_from([0.5, 0.6, 0.7, 0.8, 1.0]),
    data=st.data(),
)
def test_gate_settled_means_every_continuation_gives_the_same_verdict(most, rate, data):
    total = data.draw(st.integers(1, most))
    passed = data.draw(st.integers(0, total))
    verdicts = {(passed + more) / most >= rate for more in range(most - total + 1)}
    assert gate_settled(passed, total, most=most, min_pass_rate=rate) is (len(verdicts) == 1)
    if gate_settled(passed, total, most=most, min_pass_rate=rate):
        # the observed pass rate over the runs used gives that same verdict
        assert (passed / total >= rate) == verdicts.pop()


@given(
    most=st.integers(2, 12),
    rate=st.sampled_from([0.5, 0.7, 0.9]),
    data=st.data(),
)
def test_change_settled_means_every_continuation_gives_the_fixed_tests_verdict(most, rate, data):
    before_total = data.draw(st.integers(1, 12))
    before = (data.draw(st.integers(0, before_total)), before_total)
    total = data.draw(st.integers(1, most))
    passed = data.draw(st.integers(0, total))
    verdicts = {
        fixed_change(before, (passed + more, most), min_pass_rate=rate)
        for more in range(most - total + 1)
    }
    settled = change_settled(before, passed, total, most=most, min_pass_rate=rate)
    assert settled is (len(verdicts) == 1)


def _sequential_verdict(before, runs, most, rate):
    """Run the re-record stopping rule over a fixed sequence of run outcomes."""
    stop = sequential.recording_rule(
        CaseOptions(samples=most, sequential=True, min_pass_rate=rate), before
    )
    passed = 0
    for total, ok in enumerate(runs, start=1):
        passed += ok
        if total == most or stop(passed, total):
            break
    outcome = "passed" if passed / total >= rate else "failed"
    before_outcome = "passed" if before[0] / before[1] >= rate else "failed"
    samples = {"before": list(before), "after": [passed, total]}
    change, _ = comparison.classify(before_outcome, outcome, samples, most=most)
    return change, total


@pytest.mark.parametrize("before_passed", range(7))
def test_a_sequential_rerecord_flags_exactly_what_the_fixed_test_flags(before_passed):
    """Every sequence of 6 runs: the sequential case is regressed / fixed exactly when the fixed
    6-run test says so (curtailment: the same error rates), and never uses more runs."""
    before, most, rate = (before_passed, 6), 6, 0.5
    for runs in itertools.product((0, 1), repeat=most):
        change, used = _sequential_verdict(before, runs, most, rate)
        fixed = fixed_change(before, (sum(runs), most), min_pass_rate=rate)
        assert (change if change in ("regressed", "fixed") else None) == fixed, runs
        assert used <= most


def test_a_clear_drop_stops_early_and_an_unclear_case_samples_on():
    before = (10, 10)
    assert _sequential_verdict(before, [0] * 10, 10, 0.7) == ("regressed", 4)
    assert _sequential_verdict(before, [1] * 10, 10, 0.7) == ("still_passing", 7)


def test_the_curtailed_p_value_is_the_largest_over_the_continuations():
    # 0 of 4 after, at most 10: the continuation least like a regression is 6 of 10
    assert curtailed_p_value((9, 10), 0, 4, most=10, worse=True) == fisher_one_sided(
        9, 10, 6, 10, worse=True
    )
    assert curtailed_p_value((2, 10), 4, 4, most=10, worse=False) == fisher_one_sided(
        2, 10, 4, 10, worse=False
    )
    # a complete run: the plain p-value
    assert curtailed_p_value((9, 10), 3, 10, most=10, worse=True) == fisher_one_sided(
        9, 10, 3, 10, worse=True
    )


def test_classify_reports_the_curtailed_p_value_of_a_sequential_case():
    samples = {"before": [10, 10], "after": [0, 4]}
    change, p_value = comparison.classify("passed", "failed", samples, most=10)
    assert change == "regressed"
    assert p_value == fisher_one_sided(10, 10, 6, 10, worse=True) < SIGNIFICANCE_LEVEL
    # the same counts judged as a fixed 4-run case give a smaller p-value
    assert comparison.classify("passed", "failed", samples)[1] < p_value


@pytest.mark.parametrize(
    ("p_values", "rate", "rejected"),
    [
        ([0.01, 0.02, 0.2, 0.9], 0.05, [True, True, False, False]),
        ([0.03, 0.04], 0.05, [True, True]),  # step-up: the second carries the first
        ([0.03, 0.06], 0.05, [False, False]),
        ([0.0417, 1.0, 1.0, 1.0], 0.05, [False, False, False, False]),
        ([0.08], 0.1, [True]),
        ([], 0.1, []),
    ],
)
def test_benjamini_hochberg_on_small_exact_cases(p_values, rate, rejected):
    assert benjamini_hochberg(p_values, rate) == rejected


@given(
    p_values=st.lists(st.floats(0.0, 1.0), max_size=30),
    rate=st.floats(0.01, 0.5),
)
def test_benjamini_hochberg_rejects_a_lowest_p_values_set_and_more_at_a_higher_rate(p_values, rate):
    rejected = benjamini_hochberg(p_values, rate)
    kept = [p for p, r in zip(p_values, rejected, strict=True) if not r]
    assert all(p <= min(kept, default=2.0) for p, r in zip(p_values, rejected, strict=True) if r)
    looser = benjamini_hochberg(p_values, min(0.99, rate * 2))
    assert all(b for a, b in zip(rejected, looser, strict=True) if a)
    assert sum(rejected) <= sum(p <= rate for p in p_values)


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"samples": 5, "sequential": "yes"}, "sequential must be True or False, got 'yes'"),
        ({"samples": 5, "sequential": 1}, "sequential must be True or False, got 1"),
        ({"sequential": True}, "sequential=True needs samples=N with N >= 2"),
    ],
)
def test_bad_sequential_keywords_are_clear_errors(keywords, message):
    with pytest.raises(CaseOptionsError, match="test_x: @llm_case " + message):
        build_options(keywords, where="test_x")


# --------------------------------------------------------------------------- inner sessions

SEQUENTIAL = """
    from pytest_llm import llm_case

    @llm_case(samples={samples}, min_pass_rate=0.7{extra})
    def test_sampled(llm_client, llm_model, llm_calls):
        text = llm_client.chat.completions.create(
            model=llm_model, messages=[{{"role": "user", "content": "flip"}}]
        ).choices[0].message.content
        assert text == "good", f"got {{text!r}}"
"""


def _report(inner) -> dict:
    report = json.loads((inner.pytester.path / "report.json").read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    return report


def test_recording_a_sequential_case_stops_once_the_gate_is_settled(inner):
    inner.write(SEQUENTIAL.format(samples=10, extra=", sequential=True"))
    inner.server.script(replies=[{"text": "bad"}])
    result = inner.record()
    result.assert_outcomes(failed=1)
    assert len(inner.server.requests) == 4  # 4 failures: at most 6 of 10 could pass
    result.stdout.fnmatch_lines(
        [
            "*0/4 samples passed, below min_pass_rate 0.7 "
            "(sequential: stopped after 4 of at most 10 runs):*"
        ]
    )
    shutil.rmtree(inner.pytester.path / "cassettes")
    inner.server.script(replies=[{"text": "good"}])
    inner.record().assert_outcomes(passed=1)
    assert len(inner.server.requests) == 4 + 7
    result = inner.replay("--llm-report=report.json")
    result.assert_outcomes(passed=1)
    assert _report(inner)["cases"][0]["samples"] == {"before": None, "after": [7, 7], "most": 10}


def test_replay_and_rerecord_use_the_runs_recorded_and_stop_early_on_a_clear_case(inner):
    # an old cassette of 5 fixed runs, all passing
    inner.write(SEQUENTIAL.format(samples=5, extra=""))
    inner.server.script(replies=[{"text": "good"}])
    inner.record().assert_outcomes(passed=1)
    # the case becomes sequential (at most 10): the re-record settles after 6 live runs
    # (6/6 after 5/5 before: no regression is possible any more), which the gate alone would not
    inner.write(SEQUENTIAL.format(samples=10, extra=", sequential=True"))
    inner.server.script(replies=[{"text": "good"}])
    result = inner.rerecord("--llm-report=report.json")
    result.assert_outcomes(passed=1)
    assert len(inner.server.requests) == 5 + 6
    case = _report(inner)["cases"][0]
    assert case["samples"] == {"before": [5, 5], "after": [6, 6], "most": 10}
    assert case["change"] == "still_passing"
    # replay uses the 6 runs recorded: no replay miss, although the gate would want 7
    result = inner.replay("--llm-report=report.json")
    result.assert_outcomes(passed=1)
    assert _report(inner)["cases"][0]["samples"]["after"] == [6, 6]
    # a clear drop: the re-record stops as soon as the regression is settled
    inner.server.script(replies=[{"text": "bad"}])
    result = inner.rerecord("--llm-report=report.json")
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    used = len(inner.server.requests) - 11
    assert used < 10
    case = _report(inner)["cases"][0]
    assert case["change"] == "regressed"
    assert case["samples"] == {"before": [6, 6], "after": [0, used], "most": 10}
    assert case["p_value"] < SIGNIFICANCE_LEVEL
    result.stdout.fnmatch_lines(
        [f"REGRESSED *test_sampled* (*samples 6/6 -> 0/{used} (sequential, at most 10)*"]
    )
    inner.replay().assert_outcomes(failed=1)  # the regressed recording replays as recorded


FDR_SUITE = """
    import pytest
    from pytest_llm import llm_case

    @llm_case(samples=5, min_pass_rate=0.6)
    @pytest.mark.parametrize("name", ["edge", "steady-a", "steady-b", "steady-c"])
    def test_case(name, llm_client, llm_model):
        text = llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": name}]
        ).choices[0].message.content
        assert text == "good", text
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_false_discovery_control_turns_a_borderline_regression_into_noise(inner, workers):
    inner.write(FDR_SUITE)
    inner.server.script(replies=[{"text": "good"}])
    inner.record().assert_outcomes(passed=4)
    saved = inner.pytester.path / "saved"
    shutil.copytree(inner.pytester.path / "cassettes", saved)
    drop = [{"match": "edge", "text": ["good", "bad", "good", "bad", "bad"]}, {"text": "good"}]

    # per case at 0.05: 5/5 -> 2/5 (one-sided mid-p 0.042) regressed
    inner.server.script(replies=drop)
    result = inner.rerecord("--llm-report=report.json", *workers)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*chance alone: 4 sampled cases compared at level 0.05; about 0.2 of them would "
            "show a significant change*",
            "REGRESSED *test_case?edge?*p=0.042*",
        ]
    )
    summary = _report(inner)["summary"]
    assert (summary["regressed"], summary["sampled_compared"]) == (1, 4)
    assert summary["expected_by_chance"] == pytest.approx(0.2)

    # Benjamini-Hochberg at 0.05 over the 4 sampled cases: 0.042 > 0.05 * 1/4: noisy
    shutil.rmtree(inner.pytester.path / "cassettes")
    shutil.copytree(saved, inner.pytester.path / "cassettes")
    inner.pytester.makeini("[pytest]\nllm_false_discovery_rate = 0.05\n")
    inner.server.script(replies=drop)
    result = inner.rerecord("--llm-report=report.json", *workers)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the case itself fails its gate
    result.stdout.fnmatch_lines(
        [
            "*false discovery rate controlled at 0.05 (Benjamini-Hochberg over 4 sampled cases "
            "compared)*",
            "NOISY *test_case?edge?*",
        ]
    )
    assert "REGRESSED" not in result.stdout.str()
    report = _report(inner)
    assert (report["summary"]["regressed"], report["summary"]["noisy"]) == (0, 1)
    assert report["summary"]["false_discovery_rate"] == 0.05


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.1", "nan", "ten percent"])
def test_a_bad_false_discovery_rate_is_a_usage_error(pytester, value):
    pytester.makepyfile("def test_x(): pass")
    pytester.makeini(f"[pytest]\nllm_false_discovery_rate = {value}\n")
    result = pytester.runpytest()
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert "INTERNALERROR" not in output and "Traceback" not in output
    result.stderr.fnmatch_lines(
        [f"ERROR: ini llm_false_discovery_rate = '{value}' is not a number between 0 and 1*"]
    )


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        ('samples=3, sequential="yes"', "*@llm_case sequential must be True or False, got 'yes'"),
        ("sequential=True", "*@llm_case sequential=True needs samples=N with N >= 2*"),
    ],
)
def test_bad_sequential_keywords_fail_the_test_by_name(pytester, keywords, expected):
    pytester.makepyfile(
        test_app=f"""
        from pytest_llm import llm_case

        @llm_case({keywords})
        def test_bad(llm_cassette):
            pass

        def test_unaffected():
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*test_app.py::test_bad: {expected}"])
    output = result.stdout.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output


def _entry(name: str, before: tuple[int, int], after: tuple[int, int]):
    from pytest_llm.report.case_payload import CasePayload
    from pytest_llm.report.run_report import CaseEntry

    outcome = "passed" if after[0] / after[1] >= 0.6 else "failed"
    payload = CasePayload(
        samples_after=after,
        samples_before=before,
        rerecorded=True,
        before="passed" if before[0] / before[1] >= 0.6 else "failed",
    )
    return CaseEntry(name, outcome, payload)


def test_the_run_report_decides_by_benjamini_hochberg_over_all_sampled_cases():
    from pytest_llm.report.run_report import RunReport

    cases = [_entry("edge", (5, 5), (2, 5))] + [
        _entry(f"steady-{n}", (5, 5), (5, 5)) for n in range(3)
    ]
    per_case = RunReport(mode="rerecord", cases=list(cases))
    assert [case.change for case in per_case.cases] == ["regressed"] + ["still_passing"] * 3
    assert per_case.chance()["expected_by_chance"] == pytest.approx(0.2)
    controlled = RunReport(
        mode="rerecord",
        cases=[
            _entry(case.id, *[tuple(case.samples[k]) for k in ("before", "after")])
            for case in cases
        ],
        false_discovery_rate=0.05,
    )
    assert controlled.by_change()["noisy"][0].id == "edge"
    assert controlled.to_json()["summary"]["regressed"] == 0
    line = controlled.chance_line()
    assert line is not None and "Benjamini-Hochberg over 4 sampled cases compared" in line
    # alone in its run, the same case is a discovery at 0.05
    alone = RunReport(mode="rerecord", cases=[cases[0]], false_discovery_rate=0.05)
    assert alone.by_change()["regressed"][0].id == "edge"


def test_the_false_discovery_rate_is_documented_in_help(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*llm_false_discovery_rate*"])


def test_a_data_set_record_sets_sequential_and_a_bad_value_names_the_record(inner):
    (inner.pytester.path / "evals.yaml").write_text(
        "- {id: clear, question: flip, samples: 10, min_pass_rate: 0.7, sequential: true}\n"
        "- {id: broken, question: flip, samples: 10, sequential: 'yes'}\n"
    )
    inner.write(
        """
        import pytest_llm

        @pytest_llm.cases("evals.yaml")
        def test_eval(case, llm_client, llm_model):
            text = llm_client.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": case["question"]}]
            ).choices[0].message.content
            assert text == "good"
        """
    )
    inner.server.script(replies=[{"text": "good"}])
    result = inner.record()
    result.assert_outcomes(passed=1, errors=1)
    assert len(inner.server.requests) == 7  # the sequential record stopped at 7 of 10
    result.stdout.fnmatch_lines(
        ["*test_eval?broken?: @llm_case sequential must be True or False, got 'yes'*"]
    )
    assert "INTERNALERROR" not in result.stdout.str()
