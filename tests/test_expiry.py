"""Expiry: llm_max_age / max_age, the .verified.json sidecar, llm_on_expiry, check --max-age."""

from __future__ import annotations

import datetime
import json

import pytest

from pytest_llm.cassette import verification
from pytest_llm.cli import main

CASE = """
    from pytest_llm import llm_case

    @llm_case{options}
    def test_refund(llm_client, llm_model):
        llm_client.chat.completions.create(
            model=llm_model, messages=[{{"role": "user", "content": "How do I return an item?"}}]
        )
"""

START = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


class Clock:
    """A fixed "now" for the plugin, moved by hand."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.at = START
        monkeypatch.setattr(verification, "now", lambda: self.at)

    def days_later(self, days: float) -> None:
        self.at = START + datetime.timedelta(days=days)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def _ini(inner, **values: str) -> None:
    lines = "\n".join(f"{name} = {value}" for name, value in values.items())
    inner.pytester.makeini(f"[pytest]\n{lines}\n")


def _recorded(inner, options: str = "") -> None:
    inner.server.script(replies=[{"text": "Within 30 days."}])
    inner.write(CASE.format(options=options))
    inner.record().assert_outcomes(passed=1)


def _sidecar(inner) -> dict:
    return json.loads((inner.cassette("test_refund").parent / ".verified.json").read_text())


def test_recording_writes_the_verification_date_beside_the_cassette(inner, clock):
    _recorded(inner)
    assert _sidecar(inner) == {
        "format": "pytest-llm-verified/1",
        "verified": {"test_refund.yaml": "2026-01-01T12:00:00Z"},
    }


def test_an_expired_cassette_warns_naming_case_age_and_limit(inner, clock):
    _ini(inner, llm_max_age="30d")
    _recorded(inner)
    clock.days_later(10)
    result = inner.replay("-W", "error::pytest_llm.errors.CassetteExpiredWarning")
    result.assert_outcomes(passed=1)  # young enough: no warning (it would be an error here)
    clock.days_later(40)
    result = inner.replay()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*CassetteExpiredWarning: pytest-llm: test_app.py::test_refund: the cassette "
            "cassettes/test_app/test_refund.yaml was last verified against the live API 40 days "
            "ago, more than the 30 days allowed; re-record it against the live API: "
            "pytest --llm-rerecord 'test_app.py::test_refund'"
        ]
    )


def test_on_expiry_fail_fails_the_case_with_the_command_that_re_records(inner, clock):
    _ini(inner, llm_max_age="2w", llm_on_expiry="fail")
    _recorded(inner)
    clock.days_later(15)
    result = inner.replay()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_app.py::test_refund: the cassette cassettes/test_app/test_refund.yaml was "
            "last verified against the live API 15 days ago, more than the 14 days allowed; "
            "re-record it against the live API: pytest --llm-rerecord 'test_app.py::test_refund'*"
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_the_marker_max_age_overrides_the_ini(inner, clock):
    _ini(inner, llm_max_age="30d", llm_on_expiry="fail")
    _recorded(inner, '(max_age="60d")')
    clock.days_later(45)
    inner.replay().assert_outcomes(passed=1)
    clock.days_later(61)
    inner.replay().assert_outcomes(failed=1)


def test_a_stable_rerecord_keeps_the_cassette_and_moves_the_date(inner, clock):
    _ini(inner, llm_max_age="30d", llm_on_expiry="fail")
    _recorded(inner)
    cassette = inner.cassette("test_refund")
    before = cassette.read_bytes()
    clock.days_later(40)
    inner.replay().assert_outcomes(failed=1)
    inner.server.script(replies=[{"text": "Within 30 days."}])
    inner.rerecord().assert_outcomes(passed=1)
    assert cassette.read_bytes() == before
    assert _sidecar(inner)["verified"] == {"test_refund.yaml": "2026-02-10T12:00:00Z"}
    inner.replay().assert_outcomes(passed=1)


def test_a_cassette_without_a_date_has_an_unknown_age(inner, clock):
    _ini(inner, llm_max_age="30d")
    _recorded(inner)
    (inner.cassette("test_refund").parent / ".verified.json").unlink()
    result = inner.replay()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*has no verification date in .verified.json*age is unknown*"])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "other"}', "not a pytest-llm verification file"),
        ('{"format": "pytest-llm-verified/1", "verified": {"x.yaml": 3}}', "not a UTC date"),
        (
            '{"format": "pytest-llm-verified/1", "verified": {"../x.yaml": "2026-01-01T00:00:00Z"}}',
            "is not a cassette file name",
        ),
        ("[" * 100_000, "not valid JSON"),
        (
            '{"format": "pytest-llm-verified/1", "verified": {"test_refund.yaml": '
            '"2026-01-02T13:00:00Z"}}',
            "the date of 'test_refund.yaml' (2026-01-02T13:00:00Z) is in the future",
        ),
        (
            '{"format": "pytest-llm-verified/1", "verified": {"test_refund.yaml": '
            '"\u0662\u0660\u0662\u0666-01-01T00:00:00Z"}}',
            "not a UTC date",
        ),
        (
            '{"format": "pytest-llm-verified/1", "verified": {"test_refund.yaml": '
            '"2026-01-01T00:00:00Z", "test_refund.yaml": "2025-01-01T00:00:00Z"}}',
            "the key 'test_refund.yaml' appears twice",
        ),
    ],
    ids=["not-json", "wrong-format", "bad-date", "path-name", "deep", "future", "digits", "dup"],
)
def test_a_hostile_sidecar_is_a_clear_error_naming_the_file(inner, clock, content, problem):
    _ini(inner, llm_max_age="30d")
    _recorded(inner)
    (inner.cassette("test_refund").parent / ".verified.json").write_text(content)
    result = inner.replay()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*cassettes/test_app/.verified.json: *{problem}*"])
    assert "Traceback" not in result.stdout.str() and "INTERNALERROR" not in result.stdout.str()


def test_a_date_up_to_a_day_ahead_is_a_clock_skew_not_an_error(clock):
    ahead = verification.format_date(START + datetime.timedelta(hours=23))
    data = json.dumps({"format": "pytest-llm-verified/1", "verified": {"a.yaml": ahead}})
    assert verification.parse_sidecar(data.encode(), "x") == {
        "a.yaml": START + datetime.timedelta(hours=23)
    }


@pytest.mark.parametrize("value", ["30", "thirty days", "0d", "-3d", "30y"])
def test_a_bad_llm_max_age_is_a_usage_error(inner, value):
    _ini(inner, llm_max_age=value)
    inner.write(CASE.format(options=""))
    result = inner.replay()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini llm_max_age: *"])


def test_bad_llm_on_expiry_and_bad_marker_max_age_are_clear_errors(inner):
    _ini(inner, llm_on_expiry="explode")
    inner.write(CASE.format(options=""))
    result = inner.replay()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini llm_on_expiry = 'explode': choose 'warn'*"])
    _ini(inner)
    inner.write(CASE.format(options="(max_age=30)"))
    result = inner.replay()
    result.assert_outcomes(errors=1)  # at setup, as every bad @llm_case keyword
    result.stdout.fnmatch_lines(["*@llm_case max_age: 30 is not a duration: give a number and*"])


def test_check_max_age_lists_stale_cassettes(inner, clock, capsys, monkeypatch):
    _recorded(inner)
    monkeypatch.chdir(inner.pytester.path)
    clock.days_later(20)
    capsys.readouterr()
    assert main.main(["check", "--max-age", "30d"]) == 0
    clock.days_later(31)
    capsys.readouterr()
    assert main.main(["check", "--max-age", "30d"]) == 1
    out = capsys.readouterr().out
    assert (
        "cassettes/test_app/test_refund.yaml: stale: was last verified against the live API "
        "31 days ago, more than the 30 days allowed (re-record: pytest --llm-rerecord)"
    ) in out
    assert main.main(["check", "--max-age", "soon"]) == 2
    assert "--max-age 'soon' is not a duration" in capsys.readouterr().err


def test_xdist_workers_merge_their_dates_into_one_sidecar(inner):
    inner.server.script(replies=[{"text": "Within 30 days."}])
    inner.write(
        """
        import pytest
        from pytest_llm import llm_case

        @llm_case
        @pytest.mark.parametrize("n", range(6))
        def test_many(llm_client, llm_model, n):
            llm_client.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": f"question {n}"}]
            )
        """
    )
    inner.record("-n", "2").assert_outcomes(passed=6)
    dates = _sidecar(inner)["verified"]
    assert list(dates) == sorted(f"test_many[{n}].yaml" for n in range(6))
    # workers are other processes (their clock is the real one): every date is well formed
    assert (
        verification.parse_sidecar(json.dumps(_sidecar(inner)).encode(), "x").keys() == dates.keys()
    )
