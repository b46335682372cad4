"""Runs that see part of the suite (CI shards, -k selections): partial gates, and
``pytest-llm report merge`` judging gates and the before/after summary over the whole set."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import pytest_llm
from pytest_llm.cli import main

REPORT_SCHEMA = json.loads(
    (Path(pytest_llm.__file__).parent / "report" / "schema.json").read_text()
)

SUITE = """
    from pytest_llm import cases, llm_case

    @llm_case(latency_budget=5.0)
    @cases("evals/refunds.yaml", min_pass_rate={gate})
    def test_eval(case, llm_client, llm_model):
        text = llm_client.chat.completions.create(
            model=llm_model, messages=[{{"role": "user", "content": case["question"]}}]
        ).choices[0].message.content
        assert case["expect"] in text
"""

RECORDS = [
    {"id": "return-window", "question": "How long can I return items?", "expect": "30 days"},
    {"id": "receipt", "question": "Do I need a receipt?", "expect": "receipt"},
    {"id": "shoes", "question": "Can I return shoes?", "expect": "shoes"},
    {"id": "norway", "question": "Ship to Norway?", "expect": "Sweden"},  # always fails
]
REPLIES = [
    {"match": "how long", "text": "Within 30 days."},
    {"match": "receipt", "text": "Yes, bring the receipt."},
    {"match": "shoes", "text": "Yes, unworn shoes."},
    {"match": "norway", "text": "Yes, we ship to Norway."},
]
SHARD_1 = "return or receipt"
SHARD_2 = "not (return or receipt)"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # drop what came before (inner pytest sessions)
    status = main.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def evals(inner):
    """The refund data set (4 records, one always failing), recorded with a 0.75 gate."""
    folder = inner.pytester.path / "evals"
    folder.mkdir()
    (folder / "refunds.yaml").write_text(yaml.safe_dump(RECORDS))
    inner.server.script(replies=REPLIES)
    inner.write(SUITE.format(gate=0.75))
    inner.record().assert_outcomes(passed=3, xfailed=1)
    return inner


def _shards(inner, gate: str = "75.0%") -> tuple[Path, Path]:
    first, second = inner.pytester.path / "shard-1.json", inner.pytester.path / "shard-2.json"
    result = inner.replay("-k", SHARD_1, f"--llm-report={first}")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            f"data set evals/refunds.yaml: 2/2 passed (100.0%), gate {gate}: gate partial: 2 of 4 records ran"
        ]
    )
    # 1 of 2 passed is below the gate, but on half the set: partial, so no exit status 1
    result = inner.replay("-k", SHARD_2, f"--llm-report={second}", "-n", "2")
    result.assert_outcomes(passed=1, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            f"data set evals/refunds.yaml: 1/2 passed (50.0%), gate {gate}: gate partial: 2 of 4 records ran"
        ]
    )
    assert "exit status 1" not in result.stdout.str()
    return first, second


def test_a_shard_states_its_gate_is_partial_in_the_report(evals):
    first, _ = _shards(evals)
    report = json.loads(first.read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["gates"] == [
        {
            "path": "evals/refunds.yaml",
            "min_pass_rate": 0.75,
            "passed": 2,
            "total": 2,
            "pass_rate": 1.0,
            "ok": None,
            "partial": True,
            "records": 4,
            "records_ran": 2,
            "pass_rate_before": None,
        }
    ]
    assert report["datasets"] == [
        {
            "path": "evals/refunds.yaml",
            "size": 4,
            "min_pass_rate": 0.75,
            "records_ran": ["receipt", "return-window"],
        }
    ]
    assert {case["dataset"]["record"] for case in report["cases"]} == {"receipt", "return-window"}


def test_merge_judges_the_gate_over_the_whole_set(evals, capsys):
    first, second = _shards(evals)
    merged = evals.pytester.path / "merged.json"
    status, out, err = run(capsys, "report", "merge", str(first), str(second), "-o", str(merged))
    assert (status, err) == (0, "")
    assert "data set evals/refunds.yaml: 3/4 passed (75.0%), gate 75.0%: ok" in out
    report = json.loads(merged.read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["gates"][0]["ok"] is True and report["gates"][0]["partial"] is False
    assert report["summary"]["cases"] == 4 and report["summary"]["pass_rate"] == 0.75
    assert report["datasets"][0]["records_ran"] == ["norway", "receipt", "return-window", "shoes"]

    status, out, _ = run(capsys, "report", "merge", str(first))  # one shard alone: partial
    assert status == 0
    assert "⏸️ gate partial: 2 of 4 records ran" in out

    evals.write(SUITE.format(gate=0.8))  # each shard alone still passes; the whole set does not
    first, second = _shards(evals, gate="80.0%")
    status, out, _ = run(capsys, "report", "merge", str(first), str(second))
    assert status == 1
    assert out.startswith("## LLM report (replay)")
    assert "| 3/4 | 75.0% | 80.0% | ❌ |" in out


def test_merge_evaluates_the_before_after_summary_over_all_shards(inner, capsys):
    inner.server.script(replies=[{"text": "a good answer"}])
    inner.write(
        """
        import pytest
        from pytest_llm import llm_case

        @llm_case
        @pytest.mark.parametrize("n", range(4))
        def test_answer(n, llm_client, llm_model):
            text = llm_client.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": f"question {n}"}]
            ).choices[0].message.content
            assert "good" in text, text
        """
    )
    inner.record().assert_outcomes(passed=4)
    inner.server.script(
        replies=[
            {"match": "question 3", "text": "a bad answer"},
            {"text": "a good answer"},
        ]
    )
    first, second = inner.pytester.path / "a.json", inner.pytester.path / "b.json"
    inner.rerecord("-k", "0 or 1", f"--llm-report={first}").assert_outcomes(passed=2)
    result = inner.rerecord("-k", "2 or 3", f"--llm-report={second}")
    result.assert_outcomes(passed=1, failed=1)
    status, out, err = run(capsys, "report", "merge", str(first), str(second), "--format", "json")
    assert (status, err) == (1, "")  # a case regressed
    report = json.loads(out)
    jsonschema.validate(report, REPORT_SCHEMA)
    summary = report["summary"]
    assert (summary["cases"], summary["regressed"], summary["still_passing"]) == (4, 1, 3)
    assert (summary["pass_rate_before"], summary["pass_rate"]) == (1.0, 0.75)
    [regressed] = [case for case in report["cases"] if case["change"] == "regressed"]
    assert regressed["id"] == "test_app.py::test_answer[3]"
    assert regressed["answers_before"] == ["a good answer"]
    assert regressed["answers_after"] == ["a bad answer"]

    replay = inner.pytester.path / "replay.json"
    inner.replay("-k", "0", f"--llm-report={replay}").assert_outcomes(passed=1)
    status, _, err = run(capsys, "report", "merge", str(first), str(replay))
    assert status == 2
    assert "different modes" in err and f"{replay} (replay)" in err


def test_merge_refuses_overlapping_shards_naming_both_files(evals, capsys):
    first, _ = _shards(evals)
    copy = evals.pytester.path / "copy.json"
    copy.write_text(first.read_text())
    status, out, err = run(capsys, "report", "merge", str(first), str(copy))
    assert (status, out) == (2, "")
    assert f"{copy}: case test_app.py::test_eval[" in err and f"is also in {first}" in err


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not a JSON report"),
        ('{"format": "something/2"}', 'not a pytest-llm JSON report (expected "format"'),
        ("[" * 100_000, "not a JSON report"),
        (
            '{"format": "pytest-llm-report/1", "mode": "replay", "summary": {}, "cases": []}',
            "at summary: 'cases' is a required property",
        ),
        (
            '{"format": "pytest-llm-report/1", "mode": "replay", "summary": {"cases": 1, '
            '"passed": 1, "failed": 0, "pass_rate": 1, "pass_rate_before": null, '
            '"regressed": 0, "fixed": 0}, "cases": [{"id": "x", "outcome": "exploded"}]}',
            "at cases[0]: ",
        ),
    ],
    ids=["not-json", "wrong-format", "deep", "no-summary", "bad-case"],
)
def test_merge_of_a_malformed_report_is_a_clear_error_naming_it(tmp_path, capsys, content, problem):
    bad = tmp_path / "shard.json"
    bad.write_text(content)
    status, out, err = run(capsys, "report", "merge", str(bad))
    assert (status, out) == (2, "")
    assert err.startswith(f"pytest-llm: report merge: {bad}: ")
    assert problem in err
    assert "Traceback" not in err


def test_merge_usage_errors(tmp_path, capsys):
    status, _, err = run(capsys, "report", "merge", str(tmp_path / "missing.json"))
    assert status == 2 and "missing.json: cannot be read" in err
    status, _, err = run(capsys, "report", "merge", "x.json", "-o", "out.txt")
    assert status == 2 and "use .md or .json" in err
    assert run(capsys, "report", "merge")[0] == 2  # no report given
