"""Record once against the local server, then replay offline: the core workflow."""

from __future__ import annotations

import pytest
import yaml

CHAT_TEST = """
    from pytest_llm import llm_case

    @llm_case
    def test_refund(llm_client, llm_model):
        reply = llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": "How do I return an item?"}]
        )
        assert "30 days" in reply.choices[0].message.content
"""

APP_CLIENT_TEST = """
    import openai
    from pytest_llm import llm_case

    def answer(question, model):
        client = openai.OpenAI()  # the application builds its own client
        reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}])
        return reply.choices[0].message.content

    @llm_case
    def test_refund(llm_model):
        assert "30 days" in answer("How do I return an item?", llm_model)
"""


def test_record_then_replay_offline(inner):
    inner.server.script(replies=[{"match": "return", "text": "You can return it within 30 days."}])
    inner.write(CHAT_TEST)
    inner.record().assert_outcomes(passed=1)
    cassette = inner.cassette("test_refund")
    assert cassette.exists()
    received = len(inner.server.requests)
    inner.replay().assert_outcomes(passed=1)
    assert len(inner.server.requests) == received, "replay must not reach the server"


def test_application_built_client_replays_without_key_or_url(inner):
    inner.server.script(replies=[{"match": "return", "text": "Within 30 days."}])
    inner.write(APP_CLIENT_TEST)
    inner.record().assert_outcomes(passed=1)
    received = len(inner.server.requests)
    inner.replay().assert_outcomes(passed=1)
    assert len(inner.server.requests) == received


def test_cassette_is_readable_yaml_with_call_summary(inner):
    inner.server.script(
        model="gpt-4o-mini-2024-07-18", replies=[{"text": "You can return it within 30 days."}]
    )
    inner.write(CHAT_TEST)
    inner.record().assert_outcomes(passed=1)
    text = inner.cassette("test_refund").read_text()
    document = yaml.safe_load(text)
    assert document["format"] == "pytest-llm" and document["version"] == 1
    [interaction] = document["interactions"]
    assert interaction["request"]["json"]["messages"][0]["content"] == "How do I return an item?"
    assert (
        interaction["response"]["json"]["choices"][0]["message"]["content"]
        == "You can return it within 30 days."
    )
    assert interaction["call"]["model"] == "gpt-4o-mini-2024-07-18"
    assert interaction["call"]["prompt_tokens"] > 0
    assert "You can return it within 30 days." in text  # grep-able, not folded
    headers = interaction["response"]["headers"]
    assert "x-request-id" not in headers and "date" not in headers
    assert "authorization" not in text.lower()


def test_missing_cassette_fails_with_path_and_command(inner):
    inner.write(CHAT_TEST)
    result = inner.replay()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*no recorded answer for a request of test_app.py::test_refund (replay mode)*",
            '*request:  POST /v1/chat/completions model=gpt-4o-mini: "How do I return an item?"*',
            "*cassette: cassettes/test_app/test_refund.yaml does not exist yet*",
            "*To record it: pytest --llm-record 'test_app.py::test_refund'*",
        ]
    )
    assert "APIConnectionError" not in result.stdout.str()


def test_changed_prompt_names_the_difference(inner):
    inner.server.script(replies=[{"text": "Within 30 days."}])
    inner.write(CHAT_TEST)
    inner.record().assert_outcomes(passed=1)
    inner.write(CHAT_TEST.replace("How do I return", "How can I return"))
    result = inner.replay()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*cassette: cassettes/test_app/test_refund.yaml (1 recorded, 0 replayed so far)*",
            "*nearest recording: #1 POST /v1/chat/completions, which differs in:*",
            '*messages?0?.content: now "How can I return an item?", recorded "How do I return an item?"*',
        ]
    )


def test_miss_swallowed_by_application_still_fails(inner):
    inner.server.script(replies=[{"text": "Within 30 days."}])
    inner.write(APP_CLIENT_TEST)
    inner.record().assert_outcomes(passed=1)
    inner.write(
        """
        import openai
        from pytest_llm import llm_case

        @llm_case
        def test_refund(llm_model):
            try:
                openai.OpenAI().chat.completions.create(
                    model=llm_model, messages=[{"role": "user", "content": "something else"}])
            except Exception:
                pass  # an application that falls back silently
        """
    )
    result = inner.replay()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no recorded answer*", '*now "something else"*'])


def test_identical_requests_replay_in_order_and_extra_call_fails(inner):
    inner.server.script(replies=[{"text": ["first", "second", "third"]}])
    inner.write(
        """
        from pytest_llm import llm_case

        @llm_case
        def test_three(llm_client, llm_model):
            texts = [
                llm_client.chat.completions.create(
                    model=llm_model, messages=[{"role": "user", "content": "same"}]
                ).choices[0].message.content
                for _ in range(3)
            ]
            assert texts == ["first", "second", "third"]
        """
    )
    inner.record().assert_outcomes(passed=1)
    inner.replay().assert_outcomes(passed=1)
    inner.write(
        """
        from pytest_llm import llm_case

        @llm_case
        def test_three(llm_client, llm_model):
            for _ in range(4):
                llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": "same"}])
        """
    )
    result = inner.replay()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*were all replayed already*more often than when it was recorded*"]
    )


def test_record_mode_replays_matching_cassettes_and_records_changed_ones(inner):
    inner.server.script(replies=[{"text": "Within 30 days."}])
    inner.write(CHAT_TEST.replace("30 days", "days"))
    inner.record().assert_outcomes(passed=1)
    before = len(inner.server.requests)
    inner.record().assert_outcomes(passed=1)
    assert len(inner.server.requests) == before, "a matching cassette replays in --llm-record"
    inner.write(CHAT_TEST.replace("30 days", "days").replace("How do I return", "How can I return"))
    inner.record().assert_outcomes(passed=1)
    assert len(inner.server.requests) == before + 1
    assert "How can I return" in inner.cassette("test_refund").read_text()
    inner.replay().assert_outcomes(passed=1)


def test_rerecord_of_an_unchanged_answer_changes_no_byte(inner):
    inner.server.script(replies=[{"text": "Within 30 days."}])
    inner.write(CHAT_TEST.replace("30 days", "days"))
    inner.record().assert_outcomes(passed=1)
    first = inner.cassette("test_refund").read_bytes()
    inner.rerecord().assert_outcomes(passed=1)
    bodies = [request.json for request in inner.server.requests]
    assert len(bodies) == 2, "rerecord calls the live API again"
    assert inner.cassette("test_refund").read_bytes() == first


def test_marker_typo_is_a_clear_error(inner):
    inner.write(
        """
        from pytest_llm import llm_case

        @llm_case(sample=3)
        def test_typo():
            pass
        """
    )
    result = inner.replay()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*@llm_case got an unknown keyword 'sample' (did you mean 'samples'?)*"]
    )
    assert "INTERNALERROR" not in result.stdout.str()


def test_marker_and_options_are_documented(pytester):
    pytester.runpytest("--markers").stdout.fnmatch_lines(
        ["@pytest.mark.llm_case(*, cassette=None, samples=1,*Provided by pytest-llm."]
    )
    help_text = pytester.runpytest("--help").stdout.str()
    for name in (
        "--llm-record",
        "--llm-rerecord",
        "--llm-model",
        "--llm-base-url",
        "--llm-report",
        "llm_cassette_dir",
        "llm_redact",
        "llm_prices",
    ):
        assert name in help_text


def test_module_and_class_markers_with_the_closest_winning(inner):
    inner.server.script(replies=[{"text": "ok"}])
    inner.write(
        """
        import pytest
        from pytest_llm import llm_case

        pytestmark = pytest.mark.llm_case(tags=["module"])

        def test_module_level(llm_cassette):
            assert llm_cassette.path.name == "test_module_level.yaml"

        @llm_case
        class TestGroup:
            @llm_case(cassette="custom")
            def test_in_class(self, llm_cassette, llm_client, llm_model):
                assert llm_cassette.path.name == "custom.yaml"
                llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": "x"}])

            def test_plain(self, llm_cassette):
                assert llm_cassette.path.name == "TestGroup.test_plain.yaml"
        """
    )
    inner.record().assert_outcomes(passed=3)
    inner.replay().assert_outcomes(passed=3)
    assert inner.cassette("custom").exists()


def test_plain_tests_get_no_cassette(inner):
    inner.write(
        """
        def test_plain():
            assert True
        """
    )
    inner.replay().assert_outcomes(passed=1)
    assert not (inner.pytester.path / "cassettes").exists()


def test_requests_over_https_replays_each_recording_once(inner):
    """urllib3 connects before an HTTPS request is sent, and vcrpy asks the cassette then and
    again for the response: one request must still take one recording."""
    inner.write(
        """
        import os
        import requests
        from pytest_llm import llm_case

        @llm_case
        def test_twice(llm_model):
            base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
            body = {"model": llm_model, "messages": [{"role": "user", "content": "same"}]}
            answers = [requests.post(base + "/chat/completions", json=body).json() for _ in "ab"]
            assert [a["choices"][0]["message"]["content"] for a in answers] == ["Echo: same"] * 2
        """
    )
    inner.record().assert_outcomes(passed=1)
    inner.replay().assert_outcomes(passed=1)


def test_aiohttp_json_bodies_are_stored_and_matched_as_json(inner):
    pytest.importorskip("aiohttp")
    inner.write(
        """
        import asyncio
        import os
        import aiohttp
        from pytest_llm import llm_case

        @llm_case
        def test_aiohttp(llm_model, llm_calls):
            base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
            body = {"model": llm_model, "messages": [{"role": "user", "content": "from aiohttp"}]}

            async def ask():
                async with aiohttp.ClientSession() as session:
                    async with session.post(base + "/chat/completions", json=body) as answer:
                        return await answer.json()

            answer = asyncio.run(ask())
            assert answer["choices"][0]["message"]["content"] == "Echo: from aiohttp"
            assert llm_calls[0].messages == body["messages"]
        """
    )
    inner.record().assert_outcomes(passed=1)
    text = inner.cassette("test_aiohttp").read_text()
    assert "content: from aiohttp" in text and "{'model'" not in text
    inner.replay().assert_outcomes(passed=1)
