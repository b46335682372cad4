"""Fuzzing of the parsers that read what users and models hand us: nothing but the documented
clear errors may come out.

The suite runs a small number of examples per target; for the long run:

    PYTEST_LLM_FUZZ_EXAMPLES=10000 pytest tests/test_fuzz.py -p no:cacheprovider
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llm import cassette_format, datasets, sse
from pytest_llm.errors import CassetteError
from pytest_llm.json_extraction import NoJSONFound, extract_json

EXAMPLES = int(os.environ.get("PYTEST_LLM_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

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

VALID_CASSETTE = cassette_format.render_cassette([])


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
        cassette_format.parse_cassette(text, "fuzz.yaml")
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
    assert isinstance(sse.assemble_text(events), str)
    sse.assemble_tool_calls(events)
    sse.is_complete(events)
    offset = sse.first_content_offset(events)
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
