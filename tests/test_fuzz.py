"""Fuzzing of the parsers that read what users and models hand us: nothing but the documented
clear errors may come out.

The suite runs a small number of examples per target; for the long run:

    PYTEST_LLM_FUZZ_EXAMPLES=10000 pytest tests/test_fuzz.py -p no:cacheprovider
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llm.assertions.json_extraction import NoJSONFound, extract_json
from pytest_llm.case import datasets
from pytest_llm.case.options import KEYWORDS, build_options
from pytest_llm.cassette import fast_yaml, file_format, paths
from pytest_llm.errors import CaseOptionsError, CassetteError
from pytest_llm.providers import first_content_offset, openai, sse
from pytest_llm.providers.openai import PROVIDER as OPENAI

EXAMPLES = int(os.environ.get("PYTEST_LLM_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Whole inner pytest sessions (pytester): a tenth of the examples (each costs ~50 ms).
SESSIONS = settings(
    max_examples=max(10, EXAMPLES // 10),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

VALID_CASSETTE = file_format.render_cassette([])


def _cassette_like() -> st.SearchStrategy[str]:
    """Text near a real cassette: truncations, mutations, random YAML documents."""
    structured = json_values.map(
        lambda value: yaml.safe_dump({"format": "pytest-llm", "version": 1, "interactions": value})
    )
    vcr_like = json_values.map(
        lambda value: yaml.safe_dump(
            {"version": 1, "interactions": [{"request": value, "response": value}]}
        )
    )
    return st.one_of(st.text(max_size=300), structured, vcr_like, json_values.map(yaml.safe_dump))


@FUZZ
@given(_cassette_like())
def test_cassette_loader_raises_only_cassette_errors(text):
    try:
        file_format.parse_cassette(text, "fuzz.yaml")
    except CassetteError as error:
        assert str(error).startswith("fuzz.yaml")


@FUZZ
@given(st.text(max_size=400))
def test_json_extractor_returns_a_value_or_says_none(text):
    try:
        found = extract_json(text)
    except NoJSONFound as error:
        assert "JSON" in str(error)
    else:
        assert found.source in ("bare", "fence", "embedded") and found.others >= 0


@FUZZ
@given(
    st.text(alphabet=st.characters(blacklist_characters="{}[]`\"'"), max_size=200),
    json_values.filter(lambda v: isinstance(v, (dict, list))),
)
def test_json_extractor_finds_a_value_inside_prose(prose, value):
    assert extract_json(f"{prose} {json.dumps(value)} {prose}").value == value


@FUZZ
@given(st.text(max_size=500))
def test_sse_parser_and_assembler_never_fail(text):
    events = sse.parse_events(text)
    assert isinstance(OPENAI.stream_answer(events).text, str)
    openai.assemble_tool_calls(events)
    OPENAI.stream_is_complete(events)
    offset = first_content_offset(OPENAI, events)
    assert offset is None or 0 <= offset <= len(text.encode("utf-8"))


@FUZZ
@given(
    st.sampled_from(["yaml", "json", "jsonl"]),
    st.one_of(st.text(max_size=200), json_values.map(json.dumps)),
)
def test_dataset_loader_raises_only_dataset_errors(tmp_path_factory, suffix, content):
    path: Path = tmp_path_factory.mktemp("data") / f"set.{suffix}"
    path.write_text(content, encoding="utf-8")
    try:
        records = datasets.load_records(path)
        datasets.record_ids(path, records)
    except datasets.DatasetError as error:
        assert str(error).startswith(str(path))


def _same_as_safe_load(text: str) -> None:
    """fast_yaml.load gives what PyYAML's safe loading gives (with the same, libyaml-backed
    loader: libyaml and pure Python disagree on corner cases such as a lone ``!``), or raises a
    YAMLError where PyYAML raises anything (it lets ValueError and KeyError escape for a bad
    explicit tag such as ``!!bool maybe``)."""
    try:
        expected = yaml.load(text, Loader=fast_yaml.YAML_LOADER)
    except Exception:
        try:
            fast_yaml.load(text)
        except yaml.YAMLError:
            return
        raise AssertionError(f"PyYAML refuses {text!r}, the fast loader does not") from None
    assert _comparable(fast_yaml.load(text)) == _comparable(expected)


def _comparable(value: object) -> object:
    """NaN != NaN: compare floats by their repr."""
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return value


yaml_scalars = st.sampled_from(
    ["017", "0x1F", "0o17", "1_000", "1:30", "+5", "-0", ".inf", "-.Inf", ".NaN", "1e3", "1.5e3",
     "2001-12-14", "2001-12-14t21:59:43.10-05:00", "yes", "No", "ON", "off", "~", "null", "",
     "'017'", "!!binary aGVsbG8=", "!!str 12", "!!int '7'", "0.", ".5", "3.", "-1.25E-2",
     "!!bool maybe", "!!bool ''", "!!null x", "nUll", "NULL", "0b101", "+1", "1e3",
     "!!int abc", "!!float x", "!!timestamp x"]
)  # fmt: skip


@FUZZ
@given(st.one_of(_cassette_like(), json_values.map(yaml.safe_dump)))
def test_fast_yaml_loading_equals_safe_load(text):
    _same_as_safe_load(text)


@FUZZ
@given(st.lists(st.tuples(st.text("abc", min_size=1, max_size=3), yaml_scalars), max_size=6))
def test_fast_yaml_loading_equals_safe_load_on_yaml_11_scalars(pairs):
    _same_as_safe_load("".join(f"{key}: {value}\n" for key, value in pairs))
    _same_as_safe_load("".join(f"- {value}\n" for _, value in pairs))


def test_fast_yaml_loading_falls_back_on_anchors_merges_and_tags():
    _same_as_safe_load("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")
    _same_as_safe_load("a: &a [1, 2]\nb: *a\n")
    _same_as_safe_load("? [1, 2]\n: x\n")  # an unhashable key: the constructor's error
    _same_as_safe_load("? *a\n: x\na: &a [1]\n")  # an undefined alias
    _same_as_safe_load("a: &x 1\nb: &x 2\n")  # a duplicate anchor
    _same_as_safe_load("!!set {a, b}\n")
    _same_as_safe_load("- !!map x\n")  # a collection's tag on a scalar
    _same_as_safe_load("=: 1\nb: <<\n")
    _same_as_safe_load("a: !!binary aGk=\nb: 2001-12-14\nc: 0o17\n? !!binary aGk=\n: 1\n")
    # nested aliases share the anchored value (copying it at each alias would explode)
    nested = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(3)
    )
    loaded = fast_yaml.load(nested)
    assert loaded["d"][0] is loaded["d"][9] and loaded["b"][0] is loaded["a"]
    _same_as_safe_load(nested)
    _same_as_safe_load("")
    _same_as_safe_load("a: 1\n---\nb: 2\n")


def test_fast_yaml_refuses_recursive_aliases():
    for text in ("a: &a [1, *a]\n", "&m {k: *m}\n", "a: &a {<<: *a}\n"):
        try:
            fast_yaml.load(text)
        except fast_yaml.RefusedDocument as error:
            assert "recursive" in str(error.problem) and error.problem_mark is not None
        else:
            raise AssertionError(f"{text!r} was loaded")


def test_a_bad_explicit_tag_is_a_cassette_error_naming_the_file():
    for value in ("!!bool maybe", "!!int abc", "!!timestamp x"):
        text = f"format: pytest-llm\nversion: 1\ninteractions: {value}\n"
        try:
            file_format.parse_cassette(text, "bad.yaml")
        except CassetteError as error:
            assert str(error).startswith("bad.yaml") and "malformed cassette YAML" in str(error)
        else:
            raise AssertionError(f"{value} was accepted")


# --------------------------------------------------------------------------- options, ini, marker

#: Values a user (or a data-set record) may hand a keyword, including the awkward floats.
keyword_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),
    st.text(max_size=40),
    st.lists(st.text(max_size=8), max_size=3),
    st.sampled_from(["/", "..", "../..", "a/../../..", "/tmp/x.yaml", "../../x.yaml", "a\0b", "x" * 300]),
)  # fmt: skip
marker_keywords = st.dictionaries(
    st.one_of(st.sampled_from(KEYWORDS), st.text(min_size=1, max_size=12)),
    keyword_values,
    max_size=3,
)


@FUZZ
@given(marker_keywords)
def test_case_options_and_cassette_paths_raise_only_case_option_errors(tmp_path_factory, keywords):
    """Whatever the keywords, a CaseOptionsError naming the test or a cassette path inside the
    cassette folder (a name) or the project (a relative .yaml path)."""
    project = tmp_path_factory.getbasetemp() / "project"
    module = project / "tests" / "test_app.py"
    try:
        options = build_options(keywords, where="tests/test_app.py::test_x")
        path = paths.cassette_path(
            module, "tests/test_app.py::test_x", "cassettes", options.cassette, project_root=project
        )
    except CaseOptionsError as error:
        assert str(error)
        return
    if options.cassette is None or not Path(options.cassette).is_absolute():
        inside = (
            project.resolve() if options.cassette else project.resolve() / "tests" / "cassettes"
        )
        assert path.is_relative_to(inside), (options.cassette, path)
    assert all(len(os.fsencode(part)) <= 255 for part in path.parts)


def _source(value: object) -> str:
    """``value`` as Python source (``float("nan")`` for the floats repr cannot spell)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    return repr(value)


def _assert_no_internal_error(result: pytest.RunResult) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output, output
    assert f"pytest_llm{os.sep}" not in output, f"a traceback through the plugin:\n{output}"
    assert result.ret in (
        pytest.ExitCode.OK,
        pytest.ExitCode.TESTS_FAILED,
        pytest.ExitCode.USAGE_ERROR,
    ), output


@SESSIONS
@given(marker_keywords)
def test_marker_keywords_never_give_an_internal_error(pytester, keywords):
    arguments = ", ".join(
        f"{key}={_source(value)}"
        for key, value in keywords.items()
        if key.isidentifier() and key not in ("True", "False", "None")
    )
    pytester.makepyfile(
        test_app=f"""
        from pytest_llm import llm_case

        @llm_case({arguments})
        def test_case(llm_cassette):
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    _assert_no_internal_error(result)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("errors", outcomes.get("error", 0)) == 1


option_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@SESSIONS
@given(
    st.dictionaries(
        st.sampled_from(["--llm-model", "--llm-base-url", "--llm-report"]), option_text, max_size=3
    )
)
def test_command_line_options_never_give_an_internal_error(pytester, monkeypatch, options):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    pytester.makepyfile(test_app="def test_plain():\n    pass\n")
    arguments = []
    for option, value in options.items():
        if option == "--llm-report":  # kept inside the test's folder: nothing written elsewhere
            name = value.replace("/", "_").replace("\\", "_").replace("\0", "_")
            value = f"reports/{name if name not in ('', '.', '..') else 'r'}"
            value += st_suffix(value)
        arguments.append(f"{option}={value}")
    _assert_no_internal_error(pytester.runpytest_inprocess("-p", "no:cacheprovider", *arguments))


def st_suffix(value: str) -> str:
    """Half the fuzzed report paths end in a suffix the plugin accepts (so the report is written)."""
    return ".md" if len(value) % 2 else ""


ini_names = st.sampled_from(
    ["llm_cassette_dir", "llm_model", "llm_embedding_model", "llm_similarity_threshold",
     "llm_drift_method", "llm_local_embedding_model", "llm_redact", "llm_prices",
     "llm_allowed_hosts"]
)  # fmt: skip
ini_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="[]"),
    max_size=30,
)


@SESSIONS
@given(st.dictionaries(ini_names, st.lists(ini_text, min_size=1, max_size=3), max_size=3))
def test_ini_values_never_give_an_internal_error(pytester, values):
    lines = []
    for name, value_lines in values.items():
        cleaned = [line.strip() for line in value_lines if line.strip()]
        if cleaned:
            lines.append(f"{name} =\n" + "".join(f"    {line}\n" for line in cleaned))
    pytester.makeini("[pytest]\n" + "".join(lines))
    pytester.makepyfile(test_app="def test_plain():\n    pass\n")
    _assert_no_internal_error(pytester.runpytest_inprocess("-p", "no:cacheprovider"))
