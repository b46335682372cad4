"""Every kind of call the openai SDK makes records and replays: streams, async, Responses API,
embeddings, moderations, and plain HTTP clients in application code."""

from __future__ import annotations

import yaml


def _record_and_replay(inner, source: str, passed: int = 1) -> None:
    inner.write(source)
    inner.record().assert_outcomes(passed=passed)
    received = len(inner.server.requests)
    inner.replay().assert_outcomes(passed=passed)
    assert len(inner.server.requests) == received, "replay must not reach the server"


def test_streamed_chat_is_stored_as_events_and_text(inner):
    inner.server.script(replies=[{"text": "Returns are accepted within 30 days."}])
    _record_and_replay(
        inner,
        """
        from pytest_llm import llm_case

        @llm_case
        def test_stream(llm_client, llm_model, llm_calls):
            stream = llm_client.chat.completions.create(
                model=llm_model, stream=True, stream_options={"include_usage": True},
                messages=[{"role": "user", "content": "returns?"}])
            text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
            assert text == "Returns are accepted within 30 days."
            [call] = llm_calls
            assert call.stream and call.text == text and call.completion_tokens == 6
            assert call.ttft_s is not None and call.ttft_s <= call.latency_s
        """,
    )
    response = yaml.safe_load(inner.cassette("test_stream").read_text())["interactions"][0][
        "response"
    ]
    assert response["text"] == "Returns are accepted within 30 days."
    assert response["sse"].splitlines()[0].startswith("data: {")
    assert response["sse"].rstrip().endswith("data: [DONE]")


def test_stream_helper_and_async_client(inner):
    inner.server.script(replies=[{"text": "Hello there."}])
    _record_and_replay(
        inner,
        """
        import asyncio
        from pytest_llm import llm_case

        @llm_case
        def test_helper(llm_client, llm_model):
            with llm_client.chat.completions.stream(
                model=llm_model, messages=[{"role": "user", "content": "hi"}]) as stream:
                final = stream.get_final_completion()
            assert final.choices[0].message.content == "Hello there."

        @llm_case
        def test_async(llm_async_client, llm_model):
            async def main():
                reply = await llm_async_client.chat.completions.create(
                    model=llm_model, messages=[{"role": "user", "content": "hi"}])
                stream = await llm_async_client.chat.completions.create(
                    model=llm_model, stream=True, messages=[{"role": "user", "content": "hi"}])
                text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
                return reply.choices[0].message.content, text
            assert asyncio.run(main()) == ("Hello there.", "Hello there.")
        """,
        passed=2,
    )


def test_responses_api_plain_and_streamed(inner):
    inner.server.script(replies=[{"text": "A short answer."}])
    _record_and_replay(
        inner,
        """
        from pytest_llm import llm_case

        @llm_case
        def test_responses(llm_client, llm_model, llm_calls):
            plain = llm_client.responses.create(model=llm_model, input="question")
            assert plain.output_text == "A short answer."
            with llm_client.responses.stream(model=llm_model, input="question") as stream:
                final = stream.get_final_response()
            assert final.output_text == "A short answer."
            assert [call.endpoint for call in llm_calls] == ["responses", "responses"]
            assert [call.text for call in llm_calls] == ["A short answer.", "A short answer."]
            assert llm_calls[1].completion_tokens == 3
        """,
    )
    response = yaml.safe_load(inner.cassette("test_responses").read_text())["interactions"][1][
        "response"
    ]
    assert "event: response.output_text.delta" in response["sse"]
    assert response["text"] == "A short answer."


def test_embeddings_and_moderations(inner):
    _record_and_replay(
        inner,
        """
        from pytest_llm import llm_case

        @llm_case
        def test_other_endpoints(llm_client, llm_calls):
            vectors = llm_client.embeddings.create(model="text-embedding-3-small", input=["a cat", "a dog"])
            assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 64
            moderation = llm_client.moderations.create(input="I will kill them")
            assert moderation.results[0].flagged
            assert [call.endpoint for call in llm_calls] == ["embeddings", "moderations"]
        """,
    )


def test_requests_library_in_application_code(inner, monkeypatch):
    inner.server.script(replies=[{"text": "From requests."}])
    inner.write(
        """
        import os
        import requests
        from pytest_llm import llm_case

        @llm_case
        def test_plain_http(llm_calls):
            base = os.environ["OPENAI_BASE_URL"]
            reply = requests.post(base + "/chat/completions", json={
                "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
            assert reply.json()["choices"][0]["message"]["content"] == "From requests."
            assert llm_calls[0].text == "From requests."
        """
    )
    inner.record().assert_outcomes(passed=1)
    received = len(inner.server.requests)
    # replay: OPENAI_BASE_URL is not set, the application falls back to a different host
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    inner.replay().assert_outcomes(passed=1)
    assert len(inner.server.requests) == received


def test_llm_cassette_and_llm_calls_fixtures(inner):
    inner.server.script(replies=[{"text": "Hi."}])
    _record_and_replay(
        inner,
        """
        def test_fixtures(llm_client, llm_model, llm_cassette, llm_calls):
            assert llm_cassette.path.name == "test_fixtures.yaml"
            assert llm_cassette.mode in ("replay", "record")
            llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": "x"}])
            assert llm_calls[0].messages == [{"role": "user", "content": "x"}]
            assert llm_calls[0].model == llm_model
        """,
    )


def test_clients_built_per_call_share_one_default_ssl_context(inner):
    inner.server.script(replies=[{"text": "ok"}])
    _record_and_replay(
        inner,
        """
        import importlib, importlib.util
        import openai
        from pytest_llm import llm_case

        flavour = "httpx2" if importlib.util.find_spec("httpx2") else "httpx"
        transports = importlib.import_module(flavour + "._transports.default")

        @llm_case
        def test_fresh_clients(llm_model):
            # the application builds a client per call: one SSL context serves them all
            assert transports.create_ssl_context() is transports.create_ssl_context()
            assert transports.create_ssl_context(verify=False) is not transports.create_ssl_context(verify=False)
            for _ in range(3):
                reply = openai.OpenAI().chat.completions.create(
                    model=llm_model, messages=[{"role": "user", "content": "hi"}])
                assert reply.choices[0].message.content == "ok"

        def test_outside_cases_nothing_is_shared():
            assert transports.create_ssl_context() is not transports.create_ssl_context()
        """,
        passed=2,
    )
