"""Bad input is refused with a clear message naming the option, ini value, test or file:
never an INTERNALERROR, a raw traceback, or a file written outside the cassette folders."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_llm.assertions import schemas
from pytest_llm.cassette import file_format, paths, verification
from pytest_llm.cassette.file_format import render_cassette
from pytest_llm.cassette.interaction import Interaction, Timing
from pytest_llm.cli import main
from pytest_llm.errors import CaseOptionsError

PLAIN_CASE = """
    from pytest_llm import llm_case

    @llm_case
    def test_plain(llm_model):
        assert llm_model
    """


def assert_clean_usage_error(result: pytest.RunResult, *expected: str) -> None:
    """Exit status 4 (usage error), the expected lines, no INTERNALERROR, no traceback."""
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert "INTERNALERROR" not in output
    assert "Traceback" not in output
    result.stderr.fnmatch_lines([f"ERROR: {line}" for line in expected])


# --------------------------------------------------------------------------- options and ini


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--llm-base-url=http://[bad"], "--llm-base-url 'http://[bad' is not a usable URL*"),
        (["--llm-base-url=http://127.0.0.1:99999/v1"], "*Port out of range*"),
        (["--llm-base-url=ftp://127.0.0.1/v1"], "*not an http(s) URL with a host*"),
        (["--llm-base-url=http://127.0.0.1 /v1"], "*spaces or control characters*"),
        (["--llm-model="], "--llm-model '': give a model name*"),
        (["--llm-model= gpt-4o "], "--llm-model ' gpt-4o ': give a model name*"),
        (["--llm-report=report.txt"], "--llm-report report.txt: *use .md or .json."),
        (["--llm-report=plain_file/report.md"], "*cannot be written: *plain_file is not a folder."),
        (["--llm-report=a_folder.md"], "--llm-report a_folder.md: is a folder; give a file path."),
        (
            ["--llm-report=" + "d/" * 2000 + "x.md"],  # pathlib's mkdir recursed too deep
            "--llm-report d/d/*...: cannot be written: the path is more than 255 folders deep.",
        ),
        (
            ["--llm-report=" + "dd/" * 1400 + "x.md"],
            "--llm-report dd/*...: cannot be written: the path is longer than 4095 bytes.",
        ),
    ],
)
def test_bad_options_are_usage_errors(pytester, arguments, expected):
    pytester.makepyfile(test_app=PLAIN_CASE)
    (pytester.path / "plain_file").write_text("not a folder")
    (pytester.path / "a_folder.md").mkdir()
    assert_clean_usage_error(pytester.runpytest(*arguments), expected)


def test_a_bad_base_url_in_the_environment_names_the_variable(pytester, monkeypatch):
    pytester.makepyfile(test_app=PLAIN_CASE)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://[::1")
    assert_clean_usage_error(
        pytester.runpytest(),
        "environment variable OPENAI_BASE_URL 'http://[::1' is not a usable URL*",
    )
    monkeypatch.setenv("OPENAI_BASE_URL", "http://[::1")  # the option overrides the variable
    pytester.runpytest("--llm-base-url=http://127.0.0.1:1/v1").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("ini", "expected"),
    [
        ("llm_redact =\n    sk-[a-z]*\n    x*", "ini llm_redact: 'x*' matches the empty string*"),
        ("llm_redact = (?=secret)", "ini llm_redact: '(?=secret)' matches the empty string*"),
        (
            "llm_redact = [unclosed",
            "ini llm_redact: '[unclosed' is not a valid regular expression*",
        ),
        ("llm_prices = gpt-4o nan 0.6", "ini llm_prices line 'gpt-4o nan 0.6': prices must be*"),
        ("llm_prices = gpt-4o -1 0.6", "ini llm_prices line 'gpt-4o -1 0.6': prices must be*"),
        ("llm_prices = gpt-4o 1 inf", "ini llm_prices line 'gpt-4o 1 inf': prices must be*"),
        ("llm_prices = gpt-4o 1", "ini llm_prices line 'gpt-4o 1': expected*"),
        ("llm_similarity_threshold = nan", "ini llm_similarity_threshold = nan is not between*"),
        ("llm_drift_method = cosine", "ini llm_drift_method = 'cosine': choose*"),
        (
            "llm_cassette_dir = " + "a" * 300,
            "ini llm_cassette_dir = 'aaaa*'...: a name in it is longer than 255 bytes; give*",
        ),
        (
            "llm_cassette_dir = " + "c/" * 300,
            "ini llm_cassette_dir = 'c/c/*'...: the path is more than 255 folders deep; give*",
        ),
    ],
)
def test_bad_ini_values_are_usage_errors(pytester, ini, expected):
    pytester.makepyfile(test_app=PLAIN_CASE)
    pytester.makeini(f"[pytest]\n{ini}\n")
    assert_clean_usage_error(pytester.runpytest(), expected)


def test_a_report_path_pathlib_cannot_create_at_the_end_is_a_clear_failure(pytester):
    """The report's folders checked at configure time, then made too deep for pathlib."""
    pytester.makepyfile(
        test_app="""
        from pytest_llm.cassette import file_format

        def test_breaks_the_report_writer():
            def too_deep(*args, **kwargs):  # what pathlib's mkdir raises 1000 folders deep
                raise RecursionError("maximum recursion depth exceeded")

            file_format.write_atomically = too_deep
        """
    )
    result = pytester.runpytest_subprocess("--llm-report=out/report.md")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["pytest-llm: the LLM report could not be written to out*report.md: it is nested too deep"]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output


def test_unused_cassettes_of_an_unreadable_cassette_folder_are_a_gap(pytester):
    from pytest_llm.case.unused_cassettes import usage_of

    module = pytester.makepyfile(test_one="def test_one(): pass")
    item = SimpleNamespace(path=module)  # all that usage_of reads of an item without a case
    usage = usage_of([(item, None)], "a" * 300)  # type: ignore[list-item]
    assert usage.gaps and "could not be read: File name too long" in usage.gaps[0]
    assert not usage.candidates


def test_redact_patterns_that_need_characters_are_accepted(pytester):
    pytester.makepyfile(test_app=PLAIN_CASE)
    pytester.makeini("[pytest]\nllm_redact =\n    sk-[a-z]+\n    (?i)secret\\d{2,}\n")
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_report_that_cannot_be_written_at_the_end_is_a_clear_failure(pytester):
    pytester.makepyfile(
        test_app="""
        from pathlib import Path

        def test_blocks_the_report_folder():
            Path("out").write_text("a file where the report's folder should be")
        """
    )
    result = pytester.runpytest("--llm-report=out/report.md")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["pytest-llm: the LLM report could not be written to out*report.md: *"]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


# --------------------------------------------------------------------------- marker keywords


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        ('cassette="a\\0b"', "*@llm_case cassette must not hold control characters*"),
        ('cassette="/"', "*@llm_case cassette='/': a cassette name is a file name inside*"),
        ('cassette="sub/"', "*@llm_case cassette='sub/': a cassette name is a file name inside*"),
        ('cassette="../../../escaped"', "*may not leave the cassette folder*"),
        ('cassette="../../outside.yaml"', "*outside the project*"),
        ('cassette="  "', "*cassette must be a non-empty string*"),
        ('cost_budget=float("nan")', "*cost_budget must be a positive, finite number*got nan"),
        ('latency_budget=float("inf")', "*latency_budget must be a positive, finite number*"),
        ("ttft_budget=-1", "*ttft_budget must be a positive, finite number*"),
        ("token_budget=0", "*token_budget must be a positive integer, got 0"),
        ("samples=0", "*samples must be an integer from 1 to 1000, got 0"),
        ("samples=2**31", "*samples must be an integer from 1 to 1000, got 2147483648"),
        ('min_pass_rate=float("nan")', "*min_pass_rate must be a number between 0 and 1*"),
    ],
)
def test_bad_marker_keywords_fail_the_test_by_name(pytester, keywords, expected):
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
    assert not Path("/.yaml").exists()


def test_long_cassette_names_are_recorded_under_a_stable_short_name(inner):
    inner.server.script(replies=[{"text": "hello"}])
    inner.write(
        """
        from pytest_llm import llm_case

        @llm_case(cassette="n" * 300)
        def test_long(llm_client, llm_model):
            llm_client.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": "hi"}])
        """
    )
    inner.record().assert_outcomes(passed=1)  # no OSError: the name was too long as given
    [written] = (inner.pytester.path / "cassettes" / "test_app").glob("*.yaml")
    assert len(written.name.encode()) <= paths.MAX_COMPONENT_BYTES
    assert written.name.startswith("n" * 100) and written.name.endswith(".yaml")
    inner.replay().assert_outcomes(passed=1)  # the same short name is found again


def test_cassette_path_rules():
    module = Path("/project/tests/test_app.py")
    root = Path("/project")

    def path_of(cassette: str, *, absolute_allowed: bool = True) -> Path:
        return paths.cassette_path(
            module,
            "tests/test_app.py::t",
            "cassettes",
            cassette,
            project_root=root,
            absolute_allowed=absolute_allowed,
        )

    assert path_of("../shared/x") == Path("/project/tests/cassettes/shared/x.yaml")
    assert path_of("../data/c.yaml") == Path("/project/data/c.yaml")
    assert path_of("/elsewhere/c.yaml") == Path("/elsewhere/c.yaml")  # the test's own choice
    for bad in ("/", "/abs", "..", "../..", "../../x", "sub/", "../../../c.yaml"):
        with pytest.raises(CaseOptionsError):
            path_of(bad)
    with pytest.raises(CaseOptionsError, match="a data-set record may not name an absolute"):
        path_of("/elsewhere/c.yaml", absolute_allowed=False)
    long_folder = "d" * 300 + "/" + "f" * 300
    shortened = path_of(long_folder)
    assert all(len(part.encode()) <= paths.MAX_COMPONENT_BYTES for part in shortened.parts)
    assert shortened == path_of(long_folder)
    assert path_of("ü" * 150).name.encode("utf-8").decode("utf-8")  # cut on a character
    with pytest.raises(CaseOptionsError, match="bytes long"):
        path_of("/".join(["p" * 150] * 30))


def test_a_data_set_record_cannot_point_its_cassette_outside_the_project(pytester):
    pytester.makefile(
        ".json",
        evals=json.dumps(
            [
                {"id": "absolute", "cassette": "/tmp/pytest-llm-escape.yaml"},
                {"id": "climbs", "cassette": "../../../../../escape.yaml"},
                {"id": "fine", "cassette": "shared_name"},
            ]
        ),
    )
    pytester.makepyfile(
        test_app="""
        import pytest_llm

        @pytest_llm.cases("evals.json")
        def test_eval(case, llm_cassette):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*test_eval?absolute?: record *evals.json cassette='/tmp/pytest-llm-escape.yaml': "
            "a data-set record may not name an absolute path*",
            "*test_eval?climbs?: record *evals.json cassette=*outside the project*",
        ]
    )
    assert not Path("/tmp/pytest-llm-escape.yaml").exists()


# --------------------------------------------------------------------------- budgets, schemas


def test_a_breached_budget_shows_the_message_and_the_test_not_the_plugin(inner):
    inner.server.script(replies=[{"text": "one two three four five"}])
    inner.write(
        """
        from pytest_llm import llm_case

        @llm_case(token_budget=1)
        def test_tokens(llm_client, llm_model):
            llm_client.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": "count"}])
        """
    )
    inner.record().assert_outcomes(failed=1)
    result = inner.replay()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["test_app.py:*: test_tokens: LLM budget exceeded:", "  token_budget: * tokens *> 1"]
    )
    assert "pytest_llm" + os.sep not in result.stdout.str(), "no frame of the plugin's code"


def test_a_remote_ref_is_never_fetched():
    remote = {"$ref": "http://127.0.0.1:9/never-fetched.json"}
    with pytest.raises(schemas.InvalidSchemaError, match="does not fetch"):
        schemas.violations({"a": 1}, remote)
    with pytest.raises(schemas.InvalidSchemaError, match="does not fetch"):
        schemas.violations({"a": 1}, {"properties": {"a": {"$ref": "other.json"}}})
    local = {"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}}
    assert schemas.violations({"a": 1}, local) == []
    assert schemas.violations({"a": "x"}, local) == ["$.a: 'x' is not of type 'integer'"]
    metaschema = {"$ref": "https://json-schema.org/draft/2020-12/schema"}  # bundled: no fetch
    assert schemas.violations({"type": "object"}, metaschema) == []
    assert schemas.violations({"type": 3}, metaschema) != []


def test_assert_schema_with_a_remote_ref_is_a_clear_failure(pytester):
    pytester.makepyfile(
        test_app="""
        from pytest_llm import assert_schema, llm_case

        @llm_case
        def test_remote(llm_cassette):
            assert_schema('{"a": 1}', {"$ref": "https://example.com/schema.json"})
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*InvalidSchemaError: the schema refers to 'https://example.com*"])


# --------------------------------------------------------------------------- stale temp files


def test_stale_temporaries_of_the_atomic_writer_are_cleaned_on_the_next_write(tmp_path):
    folder = tmp_path / "cassettes" / "test_app"
    folder.mkdir(parents=True)
    stale = folder / ".test_a.yaml.k3_x9qzb.tmp"  # mkstemp's random part
    old_style = folder / ".test_e.yaml.4242.tmp"  # written by versions before mkstemp
    link = folder / ".test_f.yaml.abcd1234.tmp"  # a symlink is never deleted (or followed)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link.symlink_to(victim)
    fresh = folder / ".test_b.yaml.4343.tmp"  # a writer may be busy with it right now
    foreign = folder / ".notes.txt.4242.tmp"  # not a cassette temporary
    below = folder / "sub" / ".test_c.yaml.1.tmp"  # only the written folder is cleaned
    below.parent.mkdir()
    for path in (stale, old_style, fresh, foreign, below):
        path.write_text("partial")
    old = time.time() - file_format.STALE_AFTER_S - 60
    for path in (stale, old_style, foreign, below, victim):
        os.utime(path, (old, old))
    os.utime(link, (old, old), follow_symlinks=False)
    file_format.write_atomically(folder / "test_d.yaml", "x", clean_stale=False)
    assert stale.exists(), "only cassette writes clean"
    file_format.write_atomically(folder / "test_d.yaml", "y", clean_stale=True)
    assert not stale.exists() and not old_style.exists()
    assert fresh.exists() and foreign.exists() and below.exists()
    assert link.is_symlink() and victim.read_text() == "precious"
    assert (folder / "test_d.yaml").read_text() == "y"
    assert not [p for p in folder.iterdir() if p.name.startswith(".test_d.")], "no temporary left"


def test_the_atomic_writer_never_writes_through_a_planted_symlink(tmp_path):
    folder = tmp_path / "cassettes" / "test_x"
    folder.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_text("precious")
    # the old writer's temporary name, planted by a hostile checkout
    (folder / f".test_x.yaml.{os.getpid()}.tmp").symlink_to(victim)
    file_format.write_atomically(folder / "test_x.yaml", "recorded", clean_stale=True)
    assert victim.read_text() == "precious"
    assert (folder / "test_x.yaml").read_text() == "recorded"
    # a symlink at the final path is replaced by the file, not written through
    (folder / "test_y.yaml").symlink_to(victim)
    file_format.write_atomically(folder / "test_y.yaml", "recorded too", clean_stale=True)
    assert victim.read_text() == "precious"
    assert not (folder / "test_y.yaml").is_symlink()
    assert (folder / "test_y.yaml").read_text() == "recorded too"
    # the sidecar of verification dates goes through the same writer
    sidecar = folder / verification.SIDECAR_NAME
    victim.write_text(verification.render_sidecar({}))
    sidecar.symlink_to(victim)
    verification.mark_verified(folder / "test_x.yaml", verification.now())
    assert victim.read_text() == verification.render_sidecar({})
    assert not sidecar.is_symlink() and "test_x.yaml" in sidecar.read_text()


def test_the_atomic_writer_gives_files_the_usual_permissions(tmp_path):
    target = tmp_path / "test_a.yaml"
    file_format.write_atomically(target, "x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    target.chmod(0o640)
    file_format.write_atomically(target, "y")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


# --------------------------------------------------------------------------- pytest-llm check


def _leaky_cassette(path: Path, answer: str) -> Path:
    interaction = Interaction(
        method="POST",
        path="/v1/chat/completions",
        request_body=b'{"model": "gpt-4o-mini", "messages": []}',
        status=200,
        response_headers={"content-type": ["application/json"]},
        response_body=json.dumps(
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]}
        ).encode(),
        timing=Timing(latency_s=0.1),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_cassette([interaction]), encoding="utf-8")
    return path


def test_check_from_inside_the_cassette_folder_uses_the_project_settings(
    tmp_path, monkeypatch, capsys
):
    (tmp_path / "pytest.ini").write_text("[pytest]\nllm_redact = ACME-\\d{6}\n")
    folder = tmp_path / "tests" / "cassettes" / "test_app"
    redacted = _leaky_cassette(folder / "order.yaml", "your order ACME-123456 is late")
    keyed = _leaky_cassette(folder / "key.yaml", "the key is project-key-7f3a9c1e")
    clean = _leaky_cassette(folder / "clean.yaml", "all good")
    monkeypatch.setenv("OPENAI_API_KEY", "project-key-7f3a9c1e")
    monkeypatch.chdir(folder)
    capsys.readouterr()
    status = main.main(["check"])
    out, err = capsys.readouterr()
    assert status == 1
    assert err == "pytest-llm: 3 cassettes checked: 2 problems\n"
    shown = Path("../../../tests/cassettes/test_app")  # relative to where it runs, as before
    assert f"{shown / redacted.name}:" in out and "llm_redact 'ACME-\\\\d{6}'" in out
    assert f"{shown / keyed.name}:" in out and "the value of $OPENAI_API_KEY" in out
    assert "project-key-7f3a9c1e" not in out and "ACME-123456" not in out, "masked"
    assert clean.name not in out


def test_check_refuses_a_bad_llm_redact_of_the_project(tmp_path, monkeypatch, capsys):
    (tmp_path / "pytest.ini").write_text("[pytest]\nllm_redact = a*\n")
    monkeypatch.chdir(tmp_path)
    assert main.main(["check"]) == 2
    assert "llm_redact: 'a*' matches the empty string" in capsys.readouterr().err


def test_ini_llm_base_url_is_the_runs_endpoint_and_is_validated(inner):
    inner.write(
        """
        import os

        def test_endpoint():
            assert os.environ["OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1"
        """
    )
    inner.pytester.makeini("[pytest]\nllm_base_url = http://127.0.0.1:9/v1\n")
    inner.replay().assert_outcomes(passed=1)
    inner.pytester.makeini("[pytest]\nllm_base_url = http://[bad\n")
    result = inner.replay()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini llm_base_url*"])


SYMLINKED_SET = """
    import pytest_llm

    @pytest_llm.cases("cases.json")
    def test_set(case, llm_client, llm_model):
        llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": "hi"}]
        )
"""


def test_no_cassette_is_written_or_deleted_through_a_symlink_out_of_the_project(
    inner, tmp_path_factory
):
    outside = tmp_path_factory.mktemp("outside")
    precious = outside / ".precious.yaml.123.tmp"  # named like a stale temporary, 2 hours old
    precious.write_text("not the plugin's")
    os.utime(precious, (time.time() - 7200, time.time() - 7200))
    root = inner.pytester.path
    (root / "evil").symlink_to(outside, target_is_directory=True)
    (root / "cassettes" / "test_app").mkdir(parents=True)
    (root / "cassettes" / "test_app" / "evil").symlink_to(outside, target_is_directory=True)
    (root / "cases.json").write_text(
        json.dumps(
            [
                {"id": "path", "cassette": "evil/pwned.yaml"},
                {"id": "name", "cassette": "evil/pwned"},
                {"id": "fine", "cassette": "inside"},
            ]
        )
    )
    inner.server.script(replies=[{"text": "hello"}])
    inner.write(SYMLINKED_SET)
    result = inner.record()
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            f"*test_set?path?: record *cases.json cassette='evil/pwned.yaml': resolves to "
            f"{outside}/pwned.yaml, outside the project*",
            "*test_set?name?: record *cases.json cassette='evil/pwned': a cassette name may not "
            "leave the cassette folder*",
        ]
    )
    assert sorted(path.name for path in outside.iterdir()) == [".precious.yaml.123.tmp"]
    assert (root / "cassettes" / "test_app" / "inside.yaml").is_file()


def test_stale_temporaries_are_cleaned_only_in_a_real_cassette_root(tmp_path):
    module = tmp_path / "tests" / "test_app.py"
    (tmp_path / "tests" / "cassettes").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "tests" / "cassettes" / "out").symlink_to(tmp_path / "elsewhere")
    cassettes = tmp_path / "tests" / "cassettes"
    assert paths.inside_cassette_root(cassettes / "test_app" / "a.yaml", module.parent, "cassettes")
    assert not paths.inside_cassette_root(cassettes / "out" / "a.yaml", module.parent, "cassettes")
    assert not paths.inside_cassette_root(tmp_path / "a.yaml", module.parent, "cassettes")
