"""Re-recording changes only what the model says differently: the server returns fresh ids,
timestamps, fingerprints and request-id headers on every call."""

from __future__ import annotations

import difflib

SUITE = """
    from pytest_llm import llm_case

    @llm_case
    def test_mixed(llm_client, llm_model):
        llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": "plain"}])
        for _ in llm_client.chat.completions.create(
                model=llm_model, stream=True, stream_options={"include_usage": True},
                messages=[{"role": "user", "content": "streamed"}]):
            pass
        llm_client.responses.create(model=llm_model, input="responses")
        llm_client.embeddings.create(model="text-embedding-3-small", input="vector")
"""

ANSWER = "Returns are accepted within thirty days of delivery"


def _changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_same_answers_change_no_byte_and_one_word_changes_only_its_lines(inner):
    inner.write(SUITE)
    inner.server.script(replies=[{"text": ANSWER}])
    inner.record().assert_outcomes(passed=1)
    first = inner.cassette("test_mixed").read_text()

    inner.rerecord().assert_outcomes(passed=1)
    assert inner.cassette("test_mixed").read_text() == first  # fresh ids, same answers: no change

    inner.server.script(replies=[{"text": ANSWER.replace("thirty", "forty")}])
    inner.rerecord().assert_outcomes(passed=1)
    changed = _changed_lines(first, inner.cassette("test_mixed").read_text())
    assert changed, "the new word must show"
    for line in changed:
        assert "thirty" in line or "forty" in line, f"unrelated line changed: {line}"
    # exactly four lines, each once before and once after: the chat answer, the one stream
    # chunk holding the word, the stream's assembled text, the Responses API output text
    assert len(changed) == 8, changed
