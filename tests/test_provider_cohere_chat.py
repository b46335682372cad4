"""Cohere's v2 chat API, driven by the real ``cohere`` SDK against the local server over real
sockets: recorded, replayed offline with no key at all, and understood (text, model, tokens,
tool calls, time to first token), plain and streamed."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from pytest_llm.cli import main

pytest.importorskip("cohere")

#: A key shaped like no known prefix: only CO_API_KEY's value says it is a secret.
PLANTED_KEY = "PlantedCohereKey0123456789abcdefghijklmnop"
KEY_VARIABLES = ("CO_API_KEY", "COHERE_API_KEY", "CO_API_URL")
MODEL = "command-a-03-2025"

#: The inner tests build the client as an application would: key from CO_API_KEY (the
#: placeholder in replay), the server from the URL --llm-base-url exports (host and port are
#: not matched, so replay needs none). The SDK reads CO_API_URL only when it is imported.
PREAMBLE = f"""
    import json
    import os

    import cohere
    from pytest_llm import llm_case

    MODEL = "{MODEL}"

    def client():
        base = os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:9/v1").removesuffix("/v1")
        return cohere.ClientV2(base_url=base, max_retries=0)

    def user(text):
        return [{{"role": "user", "content": text}}]
"""

PLAIN_CASE = (
    PREAMBLE
    + """
    @llm_case
    def test_plain(llm_calls):
        reply = client().chat(model=MODEL, messages=user("What is the refund window?"))
        assert reply.message.content[0].text == "Refunds are accepted within 30 days."
        [call] = llm_calls
        assert (call.provider, call.endpoint, call.model) == ("cohere", "cohere.chat", MODEL)
        assert call.text == "Refunds are accepted within 30 days."
        assert call.messages == user("What is the refund window?")
        # billed units (the template's 200 extra tokens are in usage.tokens only)
        assert (call.prompt_tokens, call.completion_tokens) == (5, 6)
        assert call.latency_s is not None and call.latency_s >= 0
        assert call.ttft_s is None and call.stream is False and call.tool_calls == ()
"""
)

STREAM_CASE = (
    PREAMBLE
    + """
    @llm_case
    def test_stream(llm_calls):
        stream = client().chat_stream(model=MODEL, messages=user("Tell me a short story"))
        text = "".join(
            event.delta.message.content.text or ""
            for event in stream
            if event.type == "content-delta"
        )
        assert text == "Once upon a time a test passed."
        [call] = llm_calls
        assert (call.provider, call.endpoint, call.model, call.stream) == (
            "cohere", "cohere.chat", MODEL, True)
        assert call.text == "Once upon a time a test passed."
        assert (call.prompt_tokens, call.completion_tokens) == (5, 7)
        assert call.ttft_s is not None and call.latency_s is not None
        assert 0 <= call.ttft_s <= call.latency_s
"""
)

TOOL_CASE = (
    PREAMBLE
    + """
    TOOLS = [{
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }]

    @llm_case
    def test_tools(llm_calls):
        co = client()
        messages = user("What is the weather in Paris?")
        first = co.chat(model=MODEL, messages=messages, tools=TOOLS)
        [tool_call] = first.message.tool_calls
        assert json.loads(tool_call.function.arguments) == {"city": "Paris", "unit": "celsius"}
        messages.append({
            "role": "assistant",
            "tool_plan": first.message.tool_plan,
            "tool_calls": [tool_call.dict()],
        })
        messages.append({
            "role": "tool",
            "tool_call_id": tool_call.id,
            "content": [{"type": "document", "document": {"data": json.dumps({"temp": 21})}}],
        })
        second = co.chat(model=MODEL, messages=messages, tools=TOOLS)
        assert second.message.content[0].text == "It is 21 degrees in Paris."
        streamed = list(co.chat_stream(model=MODEL, messages=user("Weather in Oslo?"), tools=TOOLS))
        assert streamed[-1].type == "message-end"

        turn_one, turn_two, in_stream = llm_calls
        assert [call.provider for call in llm_calls] == ["cohere"] * 3
        [call] = turn_one.tool_calls
        assert (call["id"], call["name"]) == (tool_call.id, "get_weather")
        assert call["arguments"] == {"city": "Paris", "unit": "celsius"}
        assert turn_one.text == ""
        assert turn_two.text == "It is 21 degrees in Paris." and turn_two.tool_calls == ()
        assert turn_two.messages[2]["tool_call_id"] == tool_call.id
        [streamed_call] = in_stream.tool_calls
        assert streamed_call["name"] == "get_weather" and streamed_call["id"]
        assert streamed_call["arguments"] == {"city": "Oslo", "unit": "celsius"}
        assert in_stream.completion_tokens == turn_one.completion_tokens
"""
)


def _case(body: str) -> str:
    """An inner test module: the preamble, then `body` (indented as the preamble is)."""
    return PREAMBLE + textwrap.indent(textwrap.dedent(body), "    ")


@pytest.fixture
def no_cohere_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _record_with_planted_key(inner, monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.setenv("CO_API_KEY", PLANTED_KEY)
    result = inner.record(*args)
    monkeypatch.delenv("CO_API_KEY")
    return result


def _replay_offline(inner, *args: str):
    """Replay with no Cohere key variable set, and prove the server was not asked."""
    received = len(inner.server.requests)
    result = inner.replay(*args)
    assert len(inner.server.requests) == received, "replay must not reach the server"
    return result


def test_plain_chat_records_and_replays_with_no_key(inner, monkeypatch, no_cohere_key):
    inner.server.script(replies=[{"text": "Refunds are accepted within 30 days."}])
    inner.write(PLAIN_CASE)
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    [request] = inner.server.requests
    assert request.path == "/v2/chat"
    assert request.headers["authorization"] == f"Bearer {PLANTED_KEY}"  # the SDK sent it
    text = inner.cassette("test_plain").read_text()
    assert PLANTED_KEY not in text and "bearer" not in text.lower()
    assert "authorization" not in text.lower()
    _replay_offline(inner).assert_outcomes(passed=1)
    _replay_offline(inner, "-n", "2").assert_outcomes(passed=1)  # and under xdist


def test_streamed_chat_records_and_replays_with_no_key(inner, monkeypatch, no_cohere_key):
    inner.server.script(chunk_chars=3, replies=[{"text": "Once upon a time a test passed."}])
    inner.write(STREAM_CASE)
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    text = inner.cassette("test_stream").read_text()
    assert PLANTED_KEY not in text
    _replay_offline(inner).assert_outcomes(passed=1)


def test_tool_calls_over_two_turns_and_in_a_stream(inner, monkeypatch, no_cohere_key):
    inner.server.script(
        chunk_chars=4,
        replies=[
            {
                "match": "Paris",
                "times": 1,
                "text": "I will look up the weather in Paris.",
                "tool_calls": [
                    {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
                ],
            },
            {"match": "Paris", "text": "It is 21 degrees in Paris."},
            {
                "match": "Oslo",
                "text": "I will look up the weather in Oslo.",
                "tool_calls": [
                    {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}
                ],
            },
        ],
    )
    inner.write(TOOL_CASE)
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    _replay_offline(inner).assert_outcomes(passed=1)


def test_the_cassette_is_readable(inner, monkeypatch, no_cohere_key):
    inner.server.script(chunk_chars=3, replies=[{"text": "Once upon a time a test passed."}])
    inner.write(STREAM_CASE)
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    text = inner.cassette("test_stream").read_text()
    [interaction] = yaml.safe_load(text)["interactions"]
    assert interaction["request"]["json"]["messages"] == [
        {"role": "user", "content": "Tell me a short story"}
    ]
    stream = interaction["response"]["sse"]
    assert "event: content-delta\n" in stream and "event: message-end\n" in stream
    assert "sse: |" in text  # one literal block, one event per line pair
    assert interaction["response"]["text"] == "Once upon a time a test passed."  # assembled
    assert "    text: Once upon a time a test passed.\n" in text  # grep-able, not folded
    call = interaction["call"]
    assert (call["endpoint"], call["model"]) == ("cohere.chat", MODEL)
    assert (call["prompt_tokens"], call["completion_tokens"]) == (5, 7)


def test_a_cut_off_stream_is_not_stored(inner, monkeypatch, no_cohere_key):
    inner.server.script(replies=[{"text": "one two three four", "fault": "truncate"}])
    inner.write(
        _case(
            """
        @llm_case
        def test_cut():
            stream = client().chat_stream(model=MODEL, messages=user("hello"))
            assert [event.type for event in stream][-1] == "content-delta"  # no message-end
        """
        )
    )
    result = _record_with_planted_key(inner, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*POST /v2/chat model=command-a-03-2025*event stream was cut off*message-end*"
            "nothing was saved (no cassette was written)*"
        ]
    )
    assert not inner.cassette("test_cut").exists()


@pytest.mark.parametrize("status", [429, 500])
def test_an_error_status_is_not_stored(inner, monkeypatch, no_cohere_key, status):
    inner.server.script(replies=[{"status": status}])
    inner.write(
        _case(
            """
        from cohere.core.api_error import ApiError
        import pytest

        @llm_case
        def test_error():
            with pytest.raises(ApiError) as raised:
                client().chat(model=MODEL, messages=user("hello"))
            assert raised.value.body["message"]  # Cohere's error shape: {id, message}
        """
        )
    )
    result = _record_with_planted_key(inner, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"*POST /v2/chat*the API answered {status}*nothing was saved (no cassette was written)*"]
    )
    assert not inner.cassette("test_error").exists()


def test_show_prints_the_answer(inner, monkeypatch, no_cohere_key, capsys):
    inner.server.script(replies=[{"text": "Refunds are accepted within 30 days."}])
    inner.write(PLAIN_CASE)
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    capsys.readouterr()
    assert main.main(["show", str(inner.cassette("test_plain"))]) == 0
    out = capsys.readouterr().out
    assert "#1 POST /v2/chat" in out and f"model: {MODEL}" in out
    assert "user: What is the refund window?" in out
    assert "Refunds are accepted within 30 days." in out
    assert "(empty answer)" not in out


def test_rerecord_against_a_changed_answer_reports_drift(inner, monkeypatch, no_cohere_key, capsys):
    inner.write(
        _case(
            """
        @llm_case
        def test_answer():
            reply = client().chat(model=MODEL, messages=user("What is the refund window?"))
            assert "30 days" in reply.message.content[0].text
        """
        )
    )
    inner.server.script(replies=[{"text": "Refunds are accepted within 30 days."}])
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    old = inner.cassette("test_answer").read_text()
    inner.server.script(replies=[{"text": "You have 30 days to send it back, no questions."}])
    monkeypatch.setenv("CO_API_KEY", PLANTED_KEY)
    result = inner.rerecord()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= LLM behaviour changes =*",
            "largest drifts among still-passing cases (silent changes):",
            "  drift 0.* test_app.py::test_answer",
        ]
    )
    capsys.readouterr()
    old_file = inner.pytester.path / "old.yaml"
    old_file.write_text(old)
    main.main(["diff", str(old_file), str(inner.cassette("test_answer"))])
    out = capsys.readouterr().out
    assert "Refunds are accepted within 30 days." in out
    assert "You have 30 days to send it back, no questions." in out


def test_an_unchanged_rerecord_changes_no_byte(inner, monkeypatch, no_cohere_key):
    inner.server.script(chunk_chars=3, replies=[{"text": "Once upon a time a test passed."}])
    inner.write(STREAM_CASE)
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    before = inner.cassette("test_stream").read_bytes()
    monkeypatch.setenv("CO_API_KEY", PLANTED_KEY)
    inner.rerecord().assert_outcomes(passed=1)
    assert inner.cassette("test_stream").read_bytes() == before  # fresh ids carried over


def test_without_the_placeholder_the_sdk_refuses_to_build(no_cohere_key):
    """Why CO_API_KEY has a replay placeholder: ClientV2() with no key raises."""
    import cohere

    with pytest.raises(Exception, match="CO_API_KEY"):
        cohere.ClientV2(base_url="http://127.0.0.1:9")
    from pytest_llm import providers

    assert providers.replay_placeholders()["CO_API_KEY"]
    assert {"CO_API_KEY", "COHERE_API_KEY"} <= set(providers.credential_env_vars())
    assert json.dumps(providers.provider_for("/v2/chat").name) == '"cohere"'


def test_cohere_models_have_built_in_prices() -> None:
    from pytest_llm.providers import pricing

    table = pricing.BUILTIN_PRICES
    assert pricing.price_of(MODEL, table) == (2.50, 10.00)
    assert pricing.price_of("command-r-plus-04-2024", table) == (2.50, 10.00)
    assert pricing.price_of("command-r7b-12-2024", table) == (0.0375, 0.15)
    assert pricing.cost_usd("command-r-08-2024", 1_000_000, 1_000_000, table) == 0.75


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"text"',
        b'{"message": "not a mapping", "usage": 7}',
        b'{"message": {"content": "plain", "tool_calls": [1, {"function": 2}]}, "usage": {"tokens": []}}',
        b'{"message": {"content": [{"type": "text", "text": 5}, "x"]}, "usage": {"billed_units": {"input_tokens": "9", "output_tokens": true}}}',
        b"not json at all",
    ],
)
def test_hostile_cohere_bodies_are_read_as_what_they_say(body: bytes) -> None:
    """A cassette is hostile input: odd shapes give None or nothing, never an exception."""
    from pytest_llm.cassette.interaction import Interaction
    from pytest_llm.providers import llm_call

    call = llm_call.describe(
        Interaction(
            method="POST",
            path="/v2/chat",
            request_body=b'{"model": 3, "messages": "hi"}',
            status=200,
            response_headers={"content-type": ["application/json"]},
            response_body=body,
        )
    )
    assert call.provider == "cohere" and call.model is None
    assert call.prompt_tokens is None and call.completion_tokens is None
    assert call.text in (None, "", "plain")
    assert all(set(tool) == {"id", "name", "arguments"} for tool in call.tool_calls)


def test_hostile_cohere_streams_are_read_as_what_they_say() -> None:
    from pytest_llm.providers import cohere
    from pytest_llm.providers.sse import parse_events

    events = parse_events(
        'data: {"type": "content-delta", "delta": {"message": {"content": "x"}}}\n\n'
        'data: {"type": "tool-call-delta", "delta": {"message": {"tool_calls": {"function": {"arguments": "{}"}}}}}\n\n'
        'data: {"type": "tool-call-start", "index": "0", "delta": []}\n\n'
        'data: {"type": "content-delta", "delta": {"message": {"content": {"text": "ok"}}}}\n\n'
        'data: {"type": "message-end", "delta": {"usage": {"tokens": {"input_tokens": 3.0}}}}\n\n'
    )
    answer = cohere.PROVIDER.stream_answer(events)
    assert answer.text == "ok"
    assert (answer.prompt_tokens, answer.completion_tokens) == (3, None)
    assert [call["arguments"] for call in answer.tool_calls] == ["{}", ""]
    assert cohere.PROVIDER.stream_is_complete(events)
    assert not cohere.PROVIDER.stream_is_complete(events[:-1])
