"""Under pytest-xdist every worker records and replays its own cassettes safely."""

from __future__ import annotations

import pytest

SUITE = """
    import openai
    import pytest
    from pytest_llm import llm_case

    @llm_case
    @pytest.mark.parametrize("n", range(6))
    def test_many(n, llm_model):
        reply = openai.OpenAI().chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": f"question {n}"}])
        assert reply.choices[0].message.content == f"Echo: question {n}"
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_record_and_replay_under_xdist(inner, workers):
    inner.write(SUITE)
    inner.record("-n", workers).assert_outcomes(passed=6)
    files = sorted(
        path.name for path in (inner.pytester.path / "cassettes" / "test_app").glob("*.yaml")
    )
    assert files == [f"test_many[{n}].yaml" for n in range(6)]
    received = len(inner.server.requests)
    inner.replay("-n", workers).assert_outcomes(passed=6)
    assert len(inner.server.requests) == received
    inner.rerecord("-n", workers).assert_outcomes(passed=6)
    assert len(inner.server.requests) == received + 6
