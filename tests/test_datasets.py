"""Evaluation sets: one case per record, per-record options, a gate on the set's pass rate."""

from __future__ import annotations

import json

import pytest

SUITE = """
    from pytest_llm import cases, llm_case

    @llm_case(latency_budget=5.0)
    @cases("evals/refunds.{suffix}"{gate})
    def test_eval(case, llm_client, llm_model):
        text = llm_client.chat.completions.create(
            model=llm_model, messages=[{{"role": "user", "content": case["question"]}}]
        ).choices[0].message.content
        assert case["expect"] in text
"""

RECORDS = [
    {"id": "return-window", "question": "How long can I return items?", "expect": "30 days"},
    {"id": "receipt", "question": "Do I need a receipt?", "expect": "receipt"},
    {"question": "Can I return shoes?", "expect": "shoes"},
    {"id": "slow", "question": "Ship to Norway?", "expect": "Norway", "latency_budget": 0.1},
]


def _write_set(inner, suffix: str, records=RECORDS) -> None:
    folder = inner.pytester.path / "evals"
    folder.mkdir(exist_ok=True)
    path = folder / f"refunds.{suffix}"
    if suffix == "jsonl":
        path.write_text("\n".join(json.dumps(record) for record in records) + "\n")
    elif suffix == "json":
        path.write_text(json.dumps(records))
    else:
        import yaml

        path.write_text(yaml.safe_dump(records))


def _script(inner) -> None:
    inner.server.script(
        replies=[
            {"match": "how long", "text": "Within 30 days."},
            {"match": "receipt", "text": "Yes, bring the receipt."},
            {"match": "shoes", "text": "Yes, unworn shoes."},
            {"match": "norway", "text": "Yes, we ship to Norway.", "latency_s": 0.2},
        ]
    )


@pytest.mark.parametrize("suffix", ["yaml", "json", "jsonl"])
def test_each_record_is_a_case_with_its_own_options(inner, suffix):
    _write_set(inner, suffix)
    _script(inner)
    inner.write(SUITE.format(suffix=suffix, gate=""))
    result = inner.record("-v")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_eval?return-window? PASSED*",
            "*test_eval?receipt? PASSED*",
            "*test_eval?record-3? PASSED*",
            "*test_eval?slow? FAILED*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*latency_budget: call #1 (chat.completions, gpt-4o-mini) took 0.2* s > 0.1 s*"]
    )
    assert (
        inner.pytester.path / "cassettes" / "test_app" / "test_eval[return-window].yaml"
    ).exists()
    inner.replay().assert_outcomes(passed=3, failed=1)


@pytest.mark.parametrize("workers", [None, "2"], ids=["no-n", "n2"])
def test_gate_tolerates_failing_records_until_the_rate_drops(inner, workers):
    extra = ["-n", workers] if workers else []
    _write_set(inner, "yaml")
    _script(inner)
    inner.write(SUITE.format(suffix="yaml", gate=", min_pass_rate=0.75"))
    result = inner.record("-rx", "--llm-report=report.json", *extra)
    result.assert_outcomes(passed=3, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*= LLM data sets =*",
            "data set evals/refunds.yaml: 3/4 passed (75.0%), gate 75.0%: ok",
            "*XFAIL*test_eval?slow? - tolerated by the data-set gate (min_pass_rate 0.75 for evals/refunds.yaml); the record failed: Failed: *LLM budget exceeded:*",
        ]
    )
    report = json.loads((inner.pytester.path / "report.json").read_text())
    assert report["gates"][0]["ok"] and report["gates"][0]["passed"] == 3
    assert report["summary"]["pass_rate"] == 0.75

    inner.write(SUITE.format(suffix="yaml", gate=", min_pass_rate=0.8"))
    result = inner.replay(*extra)
    result.assert_outcomes(passed=3, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*data set evals/refunds.yaml: 3/4 passed (75.0%), gate 80.0%: BELOW THE GATE*",
            "pytest-llm: exit status 1: 1 data-set gate below its min_pass_rate",
        ]
    )


def test_gate_before_and_after_on_rerecord(inner):
    _write_set(inner, "yaml")
    _script(inner)
    inner.write(SUITE.format(suffix="yaml", gate=", min_pass_rate=0.5"))
    inner.record().assert_outcomes(passed=3, xfailed=1)
    inner.server.script(replies=[{"text": "I do not know."}])
    result = inner.rerecord()
    result.assert_outcomes(xfailed=4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "4 cases: 3 regressed, 0 fixed, 0 noisy, 0 still passing, 1 still failing, 0 new",
            "*data set evals/refunds.yaml: 0/4 passed (0.0%), gate 50.0%: BELOW THE GATE (before: 3/4, 75.0%)*",
        ]
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "- id: a\n  question: x\n- [not, a, mapping]\n",
            "refunds.yaml: record #2 is a list, not a mapping",
        ),
        ("- id: a\n- id: a\n", "refunds.yaml: duplicate id 'a' (records #1 and #2)"),
        ("- id: a\n  question: [unclosed\n", "refunds.yaml:3: not valid YAML"),
        ("id: a\n", "refunds.yaml: expected a list of records"),
    ],
)
def test_broken_data_set_is_a_collection_error_naming_file_and_record(inner, content, message):
    (inner.pytester.path / "evals").mkdir()
    (inner.pytester.path / "evals" / "refunds.yaml").write_text(content)
    inner.write(SUITE.format(suffix="yaml", gate=""))
    result = inner.replay()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*DatasetError: *{message}*"])
    assert "INTERNALERROR" not in result.stdout.str()


def test_broken_jsonl_line(inner):
    (inner.pytester.path / "evals").mkdir()
    (inner.pytester.path / "evals" / "refunds.jsonl").write_text('{"id": "a"}\n{"id": \n')
    inner.write(SUITE.format(suffix="jsonl", gate=""))
    result = inner.replay()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*DatasetError: *refunds.jsonl:2: not valid JSON*"])


def test_a_record_without_its_recording_is_never_tolerated_by_the_gate(inner):
    """A gate tolerates a model's wrong answers, not a missing cassette: that record fails."""
    _write_set(inner, "yaml")
    _script(inner)
    inner.write(SUITE.format(suffix="yaml", gate=", min_pass_rate=0.5"))
    inner.record().assert_outcomes(passed=3, xfailed=1)
    (inner.pytester.path / "cassettes" / "test_app" / "test_eval[receipt].yaml").unlink()
    result = inner.replay("-rfx")
    result.assert_outcomes(passed=2, failed=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*_ test_eval?receipt? _*", "pytest-llm: no recorded answer for a request of*"]
    )
