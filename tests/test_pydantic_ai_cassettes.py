"""pydantic-ai's own cassettes replay through ``@llm_case(cassette=path)`` and convert with
``pytest-llm convert``: vcrpy cassettes written by its ``json_body_serializer`` (the JSON body as
YAML under ``parsed_body:`` instead of ``body:``), and those of its newer recorder, cassetter
(``body: {type: json, content: ...}``, a bare ``status: 200``). The cassettes below are written
in those layouts by hand, as those serializers write them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_llm.cassette import file_format
from pytest_llm.cli import main
from pytest_llm.errors import CassetteError

#: pydantic-ai's vcrpy serializer: lower-case headers (authorization, x-* and cf-* filtered),
#: ``parsed_body`` for JSON request and response bodies.
PARSED_BODY_CASSETTE = """\
interactions:
- request:
    headers:
      accept:
      - application/json
      content-type:
      - application/json
    method: POST
    parsed_body:
      messages:
      - content: What is the capital of France?
        role: user
      model: gpt-4o
      n: 1
      stream: false
    uri: https://api.openai.com/v1/chat/completions
  response:
    headers:
      content-type:
      - application/json
      openai-processing-ms:
      - '320'
    parsed_body:
      choices:
      - finish_reason: stop
        index: 0
        message:
          content: The capital of France is Paris.
          role: assistant
      created: 1744043456
      id: chatcmpl-BJjf61mLb9z5H45ClJzbx0UWKwjo1
      model: gpt-4o-2024-08-06
      object: chat.completion
      usage:
        completion_tokens: 8
        prompt_tokens: 24
        total_tokens: 32
    status:
      code: 200
      message: OK
version: 1
"""

#: cassetter, pydantic-ai's newer recorder: typed bodies, a bare status, ``recorded_at``.
TYPED_BODY_CASSETTE = """\
version: 1
interactions:
- request:
    method: POST
    uri: https://api.openai.com/v1/chat/completions
    headers:
      content-type:
      - application/json
    body:
      type: json
      content:
        messages:
        - content: What is the capital of France?
          role: user
        model: gpt-4o
        n: 1
        stream: false
  response:
    status: 200
    headers:
      content-type:
      - application/json
    body:
      type: json
      content:
        choices:
        - finish_reason: stop
          index: 0
          message:
            content: The capital of France is Paris.
            role: assistant
        model: gpt-4o-2024-08-06
        object: chat.completion
        usage:
          completion_tokens: 8
          prompt_tokens: 24
  recorded_at: 2026-03-06T19:22:51.849479+00:00
"""

CASE = """
from pytest_llm import llm_case

@llm_case(cassette="{name}")
def test_pydantic_ai_cassette(llm_client, llm_calls):
    reply = llm_client.chat.completions.create(
        model="gpt-4o", n=1, stream=False,
        messages=[{{"role": "user", "content": "What is the capital of France?"}}],
    )
    assert reply.choices[0].message.content == "The capital of France is Paris."
    [call] = llm_calls
    assert (call.model, call.prompt_tokens, call.completion_tokens) == ("gpt-4o-2024-08-06", 24, 8)
"""


@pytest.mark.parametrize("converted", [False, True], ids=["as-recorded", "converted"])
@pytest.mark.parametrize(
    "cassette", [PARSED_BODY_CASSETTE, TYPED_BODY_CASSETTE], ids=["parsed_body", "typed_body"]
)
def test_a_pydantic_ai_cassette_replays_and_converts(inner, cassette, converted):
    path = inner.pytester.path / "pydantic_ai.yaml"
    path.write_text(cassette)
    if converted:
        assert main.main(["convert", str(path)]) == 0
        text = path.read_text()
        assert "format: pytest-llm" in text and "parsed_body" not in text
        assert "      content: The capital of France is Paris.\n" in text  # JSON as YAML
    original = path.read_bytes()
    inner.write(CASE.format(name=path.name))
    inner.replay().assert_outcomes(passed=1)
    assert path.read_bytes() == original, "replay never rewrites a cassette"


def _hostile(tmp_path: Path, old: str, new: str, cassette: str = PARSED_BODY_CASSETTE) -> Path:
    assert old in cassette
    path = tmp_path / "hostile.yaml"
    path.write_text(cassette.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("cassette", "old", "new", "message"),
    [
        (
            PARSED_BODY_CASSETTE,
            "        total_tokens: 32\n",
            "        total_tokens: .nan\n",
            r"its response's parsed_body is not JSON data \(Out of range float",
        ),
        (
            PARSED_BODY_CASSETTE,
            "      n: 1\n",
            "      n: 2026-03-06\n",
            r"its request's parsed_body is not JSON data \(Object of type date",
        ),
        (
            TYPED_BODY_CASSETTE,
            "      type: json\n      content:\n        choices",
            "      type: binary\n      content:\n        choices",
            r"its response body has type 'binary'; pytest-llm reads the types json, text, none",
        ),
        (
            TYPED_BODY_CASSETTE,
            "    status: 200\n",
            "    status: [200]\n",
            r"response status \[200\] is neither a code nor a mapping",
        ),
        (
            TYPED_BODY_CASSETTE,
            "    body:\n      type: json\n      content:\n        messages",
            "    body:\n      type: text\n      content:\n        messages",
            r"its request body of type text holds dict",
        ),
    ],
)
def test_hostile_pydantic_ai_cassettes_are_clear_errors(tmp_path, cassette, old, new, message):
    path = _hostile(tmp_path, old, new, cassette)
    with pytest.raises(CassetteError, match=rf"hostile\.yaml: interaction #1 .*{message}"):
        file_format.read_cassette(path)


def test_a_hostile_pydantic_ai_cassette_fails_its_case_without_a_traceback(inner):
    path = inner.pytester.path / "pydantic_ai.yaml"
    path.write_text(PARSED_BODY_CASSETTE.replace("total_tokens: 32", "total_tokens: .nan"))
    inner.write(CASE.format(name=path.name))
    result = inner.replay()
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "pydantic_ai.yaml: interaction #1" in output and "parsed_body is not JSON" in output
    assert "INTERNALERROR" not in output and "Traceback" not in output
    status = main.main(["convert", str(path)])
    assert status == 2
    assert "nan" in path.read_text(), "a cassette that cannot be read is not rewritten"


def test_the_typed_layout_text_and_empty_bodies_are_read() -> None:
    cassette = TYPED_BODY_CASSETTE.replace(
        textwrap.indent("body:\n  type: json\n  content:\n    messages:", "    "),
        textwrap.indent("body:\n  type: none\n  content:\n    messages:", "    "),
        1,
    )
    [interaction] = file_format.parse_cassette(cassette, "typed.yaml")
    assert interaction.request_body == b"" and interaction.status == 200
    assert interaction.response_json()["usage"]["prompt_tokens"] == 24
