"""--llm-rerecord compares every case with its old cassette: regressed, fixed, drift, reports."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import pytest_llm

REPORT_SCHEMA = json.loads(
    (Path(pytest_llm.__file__).parent / "report" / "schema.json").read_text()
)

SUITE = """
    import pytest
    from pytest_llm import llm_case

    @llm_case
    @pytest.mark.parametrize("n", range(10))
    def test_answer(n, llm_client, llm_model):
        text = llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": f"question {n}"}]
        ).choices[0].message.content
        assert "good" in text, text
"""


def _script(bad: set[int], changed: dict[int, str] | None = None) -> list[dict[str, str]]:
    changed = changed or {}
    return [
        {
            "match": f"question {n}",
            "text": changed.get(n, "a bad answer" if n in bad else f"a good answer to {n}"),
        }
        for n in range(10)
    ]


@pytest.mark.parametrize("workers", [None, "0", "2"], ids=["no-n", "n0", "n2"])
def test_same_pass_rate_hides_one_regression_and_one_fix(inner, workers):
    extra = ["-n", workers] if workers else []
    inner.write(SUITE)
    inner.server.script(replies=_script(bad={9}))
    inner.record(*extra).assert_outcomes(passed=9, failed=1)
    inner.server.script(
        model="gpt-new",
        replies=_script(bad={3}, changed={5: "a good answer to 5, now longer and reworded"}),
    )
    result = inner.rerecord("--llm-model=gpt-new", "--llm-report=report.json", *extra)
    result.assert_outcomes(passed=9, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*= LLM behaviour changes =*",
            "10 cases: 1 regressed, 1 fixed, 0 noisy, 8 still passing, 0 still failing, 0 new",
            "pass rate 90.0% -> 90.0%",
            "REGRESSED test_app.py::test_answer?3? (drift 0.*)",
            '  old: "a good answer to 3"',
            '  new: "a bad answer"',
            "FIXED test_app.py::test_answer?9? (drift 0.*)",
            "  failed before: AssertionError: *",
            "largest drifts among still-passing cases (silent changes):",
            "  drift 0.* test_app.py::test_answer?5?",
        ]
    )
    report = json.loads((inner.pytester.path / "report.json").read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["mode"] == "rerecord"
    assert (
        report["summary"].items()
        >= {
            "cases": 10,
            "passed": 9,
            "failed": 1,
            "pass_rate": 0.9,
            "pass_rate_before": 0.9,
            "regressed": 1,
            "fixed": 1,
        }.items()
    )
    by_id = {case["id"]: case for case in report["cases"]}
    assert (
        by_id["test_app.py::test_answer[3]"].items()
        >= {"before": "passed", "outcome": "failed", "change": "regressed"}.items()
    )
    assert by_id["test_app.py::test_answer[9]"]["change"] == "fixed"
    assert by_id["test_app.py::test_answer[9]"]["message_before"].startswith("AssertionError")
    assert (
        by_id["test_app.py::test_answer[0]"].items()
        >= {"change": "still_passing", "drift": 1.0}.items()
    )
    assert 0 < by_id["test_app.py::test_answer[5]"]["drift"] < 1
    assert by_id["test_app.py::test_answer[0]"]["calls"][0]["model"] == "gpt-new"
    assert by_id["test_app.py::test_answer[0]"]["calls_before"][0]["model"] == "gpt-4o-mini"


def test_edited_prompt_still_compares_by_position_and_new_cases(inner):
    inner.write(SUITE)
    inner.server.script(replies=_script(bad=set()))
    inner.record().assert_outcomes(passed=10)
    inner.write(
        SUITE.replace('f"question {n}"', 'f"Question {n}, please"').replace(
            "range(10)", "range(11)"
        )
    )
    inner.server.script(replies=[*_script(bad=set()), {"match": "question 10", "text": "good too"}])
    result = inner.rerecord("--llm-report=report.json")
    result.assert_outcomes(passed=11)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["11 cases: 0 regressed, 0 fixed, 0 noisy, 10 still passing, 0 still failing, 1 new"]
    )
    report = json.loads((inner.pytester.path / "report.json").read_text())
    assert {case["change"] for case in report["cases"]} == {"still_passing", "new"}


def test_more_calls_than_recorded_is_new(inner):
    inner.write(SUITE)
    inner.server.script(replies=_script(bad=set()))
    inner.record().assert_outcomes(passed=10)
    inner.write(
        SUITE.replace(
            "        assert",
            "        llm_client.chat.completions.create(model=llm_model, messages=[{'role': 'user', 'content': 'again'}])\n        assert",
        )
    )
    result = inner.rerecord("-q")
    result.stdout.fnmatch_lines(
        ["10 cases: 0 regressed, 0 fixed, 0 noisy, 0 still passing, 0 still failing, 10 new"]
    )


def test_markdown_report_is_a_pull_request_comment(inner):
    inner.write(SUITE)
    inner.server.script(replies=_script(bad={9}))
    inner.record()
    inner.server.script(replies=_script(bad={3}))
    inner.rerecord("--llm-report=report.md")
    markdown = (inner.pytester.path / "report.md").read_text()
    assert markdown.startswith("## LLM report (rerecord)")
    assert "| 10 | 9 | 1 | 0 | 90.0% | 90.0% | 1 | 1 | 0 | 0 |" in markdown
    assert (
        "### Regressed (passed before, fail now)" in markdown
        and "### Fixed (failed before, pass now)" in markdown
    )
    assert "<details><summary><code>test_app.py::test_answer[3]</code>" in markdown
    assert "a good answer to 3" in markdown and "a bad answer" in markdown


def test_replay_report_has_null_comparisons(inner):
    inner.write(SUITE)
    inner.server.script(replies=_script(bad={9}))
    inner.record()
    result = inner.replay("--llm-report=report.json")
    result.assert_outcomes(passed=9, failed=1)
    report = json.loads((inner.pytester.path / "report.json").read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["mode"] == "replay" and report["summary"]["pass_rate_before"] is None
    assert all(
        case["before"] is None and case["change"] is None and case["drift"] is None
        for case in report["cases"]
    )
    assert report["cases"][0]["calls"][0]["latency_s"] is not None


def test_llm_report_given_twice_writes_both_files(inner):
    inner.write(
        """
        from pytest_llm import llm_case

        @llm_case
        def test_answer(llm_client, llm_model):
            llm_client.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": "hi"}])
        """
    )
    inner.record().assert_outcomes(passed=1)
    result = inner.replay("--llm-report=report.md", "--llm-report=report.json")
    result.assert_outcomes(passed=1)
    assert (inner.pytester.path / "report.md").read_text().startswith("## LLM report")
    assert '"format": "pytest-llm-report/1"' in (inner.pytester.path / "report.json").read_text()


CONCURRENT = """
    from concurrent.futures import ThreadPoolExecutor
    from pytest_llm import llm_case

    CITIES = {"Paris": "Paris has the Louvre.", "Lisbon": "Lisbon has trams."}

    @llm_case
    def test_cities(llm_client, llm_model):
        def describe(city):
            reply = llm_client.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": "Describe " + city}])
            return reply.choices[0].message.content

        with ThreadPoolExecutor(2) as pool:
            answers = dict(zip(CITIES, pool.map(describe, CITIES)))
        assert answers == CITIES
"""


def _cities(inner, paris_latency: float, lisbon_latency: float) -> None:
    inner.server.script(
        replies=[
            {"match": "Paris", "text": "Paris has the Louvre.", "latency_s": paris_latency},
            {"match": "Lisbon", "text": "Lisbon has trams.", "latency_s": lisbon_latency},
        ]
    )


def test_concurrent_calls_are_compared_with_their_own_old_answers(inner):
    """Recorded in one order of arrival, re-recorded in the other: nothing changed, and the
    re-record says so (no FIXED, no drift), because each call is paired by its request."""
    inner.write(CONCURRENT)
    _cities(inner, paris_latency=0.0, lisbon_latency=1.0)
    inner.record().assert_outcomes(passed=1)
    cassette = inner.cassette("test_cities")
    first = cassette.read_text()
    assert first.index("Louvre") < first.index("trams")  # Paris answered first
    _cities(inner, paris_latency=1.0, lisbon_latency=0.0)
    result = inner.rerecord("--llm-report=report.json")
    result.assert_outcomes(passed=1)
    second = cassette.read_text()
    assert second.index("trams") < second.index("Louvre")  # the other order of arrival
    case = json.loads((inner.pytester.path / "report.json").read_text())["cases"][0]
    assert (case["before"], case["change"], case["drift"]) == ("passed", "still_passing", 1.0)
    inner.replay().assert_outcomes(passed=1)


TRIP_SUITE = """
    import json
    from pytest_llm import llm_case

    @llm_case
    def test_trip(llm_client, llm_model):
        text = llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": "Plan my trip"}]
        ).choices[0].message.content
        plan = json.loads(text)
        score = 0.9 if plan["city"] == "Oslo" else 0.42
        assert score >= 0.8, (
            "the itinerary does not match what the traveller asked for: "
            + "the wrong city, the wrong number of days and a budget nobody asked for; " * 3
            + f"score {score:.2f} < 0.80"
        )
"""


def test_json_answers_unescaped_and_a_long_failure_keeps_its_score(inner):
    """A regressed structured-output case: the summary shows both JSON answers as JSON (no
    ``\\u00e9`` escapes, no quoted JSON), in the terminal, Markdown and JSON reports, and the
    failure line, cut to fit, keeps ``score 0.42 < 0.80``."""
    inner.write(TRIP_SUITE)
    inner.server.script(replies=[{"text": json.dumps({"city": "Oslo", "days": 2})}])
    inner.record().assert_outcomes(passed=1)
    inner.server.script(replies=[{"text": json.dumps({"city": "Belém", "days": 3})}])
    assert "\\u00e9" in json.dumps({"city": "Belém"})  # the model's text is escaped JSON
    result = inner.rerecord("--llm-report=report.json", "--llm-report=report.md")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "REGRESSED test_app.py::test_trip*",
            '  old: {"city": "Oslo", "days": 2}',
            '  new: {"city": "Belém", "days": 3}',
            "  failure: AssertionError: the itinerary does not match what the traveller*… score 0.42 < 0.80",
        ]
    )
    [failure] = [line for line in result.outlines if line.startswith("  failure: ")]
    assert len(failure) <= len("  failure: ") + 100
    report_text = (inner.pytester.path / "report.json").read_text()
    assert "\\u00e9" not in report_text
    [case] = json.loads(report_text)["cases"]
    assert json.loads(case["answers_after"][0]) == {"city": "Belém", "days": 3}
    markdown = (inner.pytester.path / "report.md").read_text()
    assert '```json\n{\n  "city": "Belém",\n  "days": 3\n}\n```' in markdown
    assert "\\u00e9" not in markdown


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("AssertionError: short, score 0.9 < 0.95", "AssertionError: short, score 0.9 < 0.95"),
        (
            "AssertionError: " + "words " * 30 + "\nassert 0.42 >= 0.8",
            ("AssertionError: " + "words " * 30)[:57].rstrip() + "… 0.42 >= 0.8",
        ),
        (
            "AssertionError: the answer is off\n  details\n  similarity 0.31 < threshold 0.80",
            "AssertionError: the answer is off … similarity 0.31 < threshold 0.80",
        ),
        ("AssertionError: " + "x" * 120, "AssertionError: " + "x" * 53 + "…"),
    ],
)
def test_a_cut_failure_line_keeps_its_figures(message, expected):
    from pytest_llm.report.run_report import failure_line

    shown = failure_line(message, 70)
    assert shown == expected and len(shown) <= 70
