"""Unit tests of finding the JSON value in a model's output (``assert_schema``)."""

from __future__ import annotations

import pytest

from pytest_llm.assertions.json_extraction import Extracted, NoJSONFound, extract_json


@pytest.mark.parametrize(
    ("output", "value"),
    [
        ('{"name": "Ada", "age": 36}', {"name": "Ada", "age": 36}),
        ('\n  [1, 2, {"three": 3}]  \n', [1, 2, {"three": 3}]),
        ("42", 42),
        ('"just a string"', "just a string"),
        ("null", None),
    ],
)
def test_whole_output_is_bare_json(output: str, value: object) -> None:
    assert extract_json(output) == Extracted(value, "bare", 0)


def test_json_tagged_fence_with_prose_around() -> None:
    output = 'Here is the result:\n```json\n{"ok": true, "items": [1, 2]}\n```\nLet me know!'
    assert extract_json(output) == Extracted({"ok": True, "items": [1, 2]}, "fence", 0)


def test_untagged_fence_whose_content_parses() -> None:
    output = 'Result:\n```\n[{"id": 1}, {"id": 2}]\n```'
    assert extract_json(output) == Extracted([{"id": 1}, {"id": 2}], "fence", 0)


def test_fence_tag_is_case_insensitive_and_may_share_the_line() -> None:
    assert extract_json('```JSON {"a": 1}```').value == {"a": 1}


def test_fences_in_other_languages_are_skipped() -> None:
    output = '```python\nconfig = {"debug": True}\n```\nand the data:\n```json\n{"b": 2}\n```'
    assert extract_json(output) == Extracted({"b": 2}, "fence", 0)


def test_fence_holding_a_scalar_or_invalid_json_is_skipped() -> None:
    output = '```json\n42\n```\n```json\n{"a": 1,\n```\nfinally {"c": 3}'
    assert extract_json(output) == Extracted({"c": 3}, "embedded", 0)


def test_embedded_object_with_prose_before_and_after() -> None:
    output = 'Sure! The answer is {"answer": 42, "unit": "m"} as requested.'
    assert extract_json(output) == Extracted({"answer": 42, "unit": "m"}, "embedded", 0)


def test_embedded_nested_object_with_braces_inside_strings() -> None:
    output = 'Output: {"template": "Hello {name}}", "nested": {"list": ["]", "{"]}} done'
    extracted = extract_json(output)
    assert extracted.source == "embedded"
    assert extracted.value == {"template": "Hello {name}}", "nested": {"list": ["]", "{"]}}


def test_embedded_object_with_escaped_quotes() -> None:
    output = r'Reply: {"quote": "she said \"hi {there}\"", "n": 1}.'
    assert extract_json(output).value == {"quote": 'she said "hi {there}"', "n": 1}


def test_several_values_use_the_first_and_count_the_others() -> None:
    output = 'First {"a": 1}, then [2, 3], finally {"c": {"d": 4}}.'
    assert extract_json(output) == Extracted({"a": 1}, "embedded", 2)


def test_values_nested_in_the_first_are_not_counted() -> None:
    assert extract_json('Data: {"a": {"b": [1, {"c": 2}]}} end').others == 0


def test_other_fences_and_values_after_a_fence_are_counted() -> None:
    output = '```json\n{"a": 1}\n```\nAlso:\n```json\n{"b": 2}\n```\nand [3].'
    assert extract_json(output) == Extracted({"a": 1}, "fence", 2)


def test_invalid_json_then_valid_json() -> None:
    output = 'Draft: {"a": 1, oops} -- fixed: {"a": 1, "b": 2}'
    assert extract_json(output) == Extracted({"a": 1, "b": 2}, "embedded", 0)


def test_complete_value_nested_in_an_invalid_one_is_found() -> None:
    assert extract_json('{"outer": {"inner": 1}, broken').value == {"inner": 1}


@pytest.mark.parametrize("output", ['{"a": 1,', 'The result is {"items": [1, 2', "[1, 2, 3"])
def test_truncated_json_is_not_a_value(output: str) -> None:
    with pytest.raises(NoJSONFound):
        extract_json(output)


def test_no_json_error_says_what_was_searched_and_shows_an_excerpt() -> None:
    with pytest.raises(NoJSONFound) as info:
        extract_json("I cannot answer that question, sorry.")
    message = str(info.value)
    assert "code fence" in message
    assert "embedded" in message
    assert "'I cannot answer that question, sorry.'" in message
    assert isinstance(info.value, ValueError)


def test_no_json_error_excerpt_of_a_long_output_is_short() -> None:
    output = "word " * 1000
    with pytest.raises(NoJSONFound) as info:
        extract_json(output)
    message = str(info.value)
    assert "5000 chars" in message
    assert len(message) < 400


def test_empty_output_says_so() -> None:
    with pytest.raises(NoJSONFound, match="empty"):
        extract_json("   \n")


def test_scalars_count_only_as_the_whole_output() -> None:
    with pytest.raises(NoJSONFound):
        extract_json('The answer is 42, or maybe "forty-two".')


@pytest.mark.parametrize(
    "output",
    [
        "{" * 100_000,
        "[" * 100_000,
        '{"a":' * 20_000,
        "[1," * 33_000,
        "[" * 900 + "0," * 49_000,
        '{"' + "{" * 100_000,
    ],
    ids=["braces", "brackets", "nested-objects", "nested-arrays", "deep-truncated", "open-string"],
)
def test_large_pathological_input_without_json(output: str) -> None:
    with pytest.raises(NoJSONFound) as info:
        extract_json(output)
    assert f"({len(output)} chars)" in str(info.value)


def test_large_input_with_json_at_the_end() -> None:
    output = "{ not json } " * 8_000 + '{"found": true}'
    assert extract_json(output) == Extracted({"found": True}, "embedded", 0)
