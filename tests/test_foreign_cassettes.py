"""Cassettes written by plain vcrpy / pytest-recording against the real OpenAI API replay
through ``@llm_case(cassette=path)`` (see tests/data/realworld/PROVENANCE.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_llm.cli import main

REALWORLD = Path(__file__).parent / "data" / "realworld"

CASES = {
    "open-telemetry__test_chat_completion_with_content.yaml": """
        reply = llm_client.chat.completions.create(
            model="gpt-4o-mini", stream=False, messages=[{"role": "user", "content": "Say this is a test"}])
        assert reply.choices[0].message.content == "This is a test."
        assert llm_calls[0].prompt_tokens == 12
    """,
    "traceloop__test_chat.yaml": """
        answers = [
            llm_client.chat.completions.create(
                model="gpt-3.5-turbo",
                messages=[{"role": "user", "content": "Tell me a joke about opentelemetry"}],
            ).choices[0].message.content
            for _ in range(4)
        ]
        assert answers[0].startswith("Why did Opentelemetry break up with Tracing?")
        assert answers[1].startswith("Why did the Opentelemetry developer go broke?\\n\\nBecause every time")
        assert answers[3].startswith("Why did the opentelemetry developer go broke?")
    """,
    "traceloop__test_chat_streaming.yaml": """
        stream = llm_client.chat.completions.create(
            model="gpt-3.5-turbo", stream=True,
            messages=[{"role": "user", "content": "Tell me a joke about opentelemetry"}])
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        assert text == llm_calls[0].text and " did" in text and "\\n" in text
    """,
    "DataDog__moderation.yaml": """
        result = llm_client.moderations.create(model="text-moderation-latest", input="i want to kill them.")
        flagged = result.results[0].categories
        assert result.results[0].flagged and flagged.violence and flagged.harassment
    """,
    "open-telemetry__test_embeddings_with_content.yaml": """
        result = llm_client.embeddings.create(model="text-embedding-3-small", input="This is a test for embeddings")
        assert len(result.data[0].embedding) == 1536
    """,
}


@pytest.mark.parametrize("converted", [False, True], ids=["as-recorded", "converted"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_realworld_cassette_replays(inner, name, converted):
    shutil.copy(REALWORLD / name, inner.pytester.path / name)
    if converted:
        assert main.main(["convert", str(inner.pytester.path / name)]) == 0
        assert "format: pytest-llm" in (inner.pytester.path / name).read_text()
    original = (inner.pytester.path / name).read_bytes()
    body = "\n".join("    " + line for line in CASES[name].strip("\n").splitlines())
    inner.write(
        f"""
from pytest_llm import llm_case

@llm_case(cassette="{name}")
def test_realworld(llm_client, llm_calls):
{body}
"""
    )
    inner.replay().assert_outcomes(passed=1)
    assert (inner.pytester.path / name).read_bytes() == original, "replay never rewrites a cassette"
