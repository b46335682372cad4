"""Broken cassettes give one clear message naming the file (and line), and are left alone."""

from __future__ import annotations

import pytest

TEST = """
    from pytest_llm import llm_case

    @llm_case
    def test_chat(llm_client, llm_model):
        llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": "hi"}])
"""


@pytest.fixture
def recorded(inner):
    inner.server.script(replies=[{"text": "hello"}])
    inner.write(TEST)
    inner.record().assert_outcomes(passed=1)
    return inner.cassette("test_chat")


def _assert_clear_failure(inner, result, *patterns):
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(list(patterns))
    output = result.stdout.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output


@pytest.mark.parametrize("mode", ["replay", "record", "rerecord"])
def test_malformed_yaml_names_file_and_line(inner, recorded, mode):
    lines = recorded.read_text().splitlines()
    lines[7] = "    json: {unclosed: [1, 2"
    broken = "\n".join(lines) + "\n"
    recorded.write_text(broken)
    result = getattr(inner, mode)()
    _assert_clear_failure(inner, result, "*test_chat.yaml:*: malformed cassette YAML*")
    assert recorded.read_text() == broken


def test_truncated_cassette_is_malformed(inner, recorded):
    text = recorded.read_text()
    truncated = text[: text.index("  response:")]
    recorded.write_text(truncated)
    _assert_clear_failure(
        inner,
        inner.replay(),
        "*test_chat.yaml: interaction #1 is incomplete or malformed (missing 'response')*",
    )
    assert recorded.read_text() == truncated


def test_cassette_cut_before_interactions(inner, recorded):
    recorded.write_text("format: pytest-llm\nversion: 1\n")
    _assert_clear_failure(
        inner, inner.replay(), "*test_chat.yaml: no 'interactions' list; the file may be truncated*"
    )


def test_unknown_format_version(inner, recorded):
    text = recorded.read_text().replace("version: 1", "version: 7")
    recorded.write_text(text)
    _assert_clear_failure(
        inner, inner.record(), "*test_chat.yaml: unknown cassette format 'pytest-llm' version 7*"
    )
    assert recorded.read_text() == text


def test_empty_file(inner, recorded):
    recorded.write_text("")
    _assert_clear_failure(
        inner, inner.replay(), "*test_chat.yaml: not a cassette (expected a mapping*NoneType*"
    )
