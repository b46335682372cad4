"""Anthropic's Messages API, understood and not just replayed: the real ``anthropic`` SDK (and
``langchain-anthropic``) record against the local server over real sockets and replay with no
key at all; ``llm_calls``, the cassette, ``show``/``diff`` and re-record drift read its wire
format."""

from __future__ import annotations

import difflib
import json
import re
import shutil

import pytest
import yaml

from pytest_llm import providers
from pytest_llm.cli import main
from pytest_llm.providers import anthropic as anthropic_provider
from pytest_llm.providers import sse
from pytest_llm.providers.pricing import BUILTIN_PRICES, price_of

# Imported here, once: pytester's in-process runs would import the SDK anew every session.
anthropic = pytest.importorskip("anthropic")

KEY_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")
SECRET_KEY = "sk-ant-api03-PlantedAnthropicKey0123456789abcdefXYZ"
ENV_SECRET = "sk-ant-api03-PlantedEnvironmentKey9876543210zyxwv"
MODEL = "claude-haiku-4-5"
ANSWER = "Paris is the capital of France."
TIMING_LINE = re.compile(r"^\s*(?:latency_s|ttft_s):\s")


@pytest.fixture
def inner(inner, monkeypatch):
    """The inner sessions see no Anthropic key or base URL unless a test sets one."""
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return inner


def _client_source(inner, api_key: str | None = None) -> str:
    key = f", api_key={api_key!r}" if api_key else ""
    return f"anthropic.Anthropic(base_url={inner.server.root_url!r}, max_retries=0{key})"


def _record_then_replay_offline(inner, source: str, passed: int = 1) -> None:
    """Record against the server, then replay with every key variable unset and no request
    reaching the server."""
    inner.write(source)
    inner.record().assert_outcomes(passed=passed)
    served = len(inner.server.requests)
    inner.replay().assert_outcomes(passed=passed)
    assert len(inner.server.requests) == served, "replay must not reach the API"


def _show(capsys, path) -> str:
    capsys.readouterr()
    status = main.main(["show", str(path)])
    out = capsys.readouterr().out
    assert status == 0, out
    return out


def test_plain_and_streamed_messages_record_and_replay_with_no_key(inner, capsys):
    inner.server.script(ttft_s=0.05, replies=[{"match": "capital", "text": ANSWER}])
    _record_then_replay_offline(
        inner,
        f"""
        import os
        import anthropic
        from pytest_llm import llm_case

        @llm_case
        def test_capital(llm_calls):
            # no key anywhere: the plugin's placeholder is what the SDK builds with
            assert os.environ["ANTHROPIC_API_KEY"].startswith("sk-ant-pytest-llm-")
            client = {_client_source(inner)}
            ask = dict(model="{MODEL}", max_tokens=64, system="Answer briefly.",
                       messages=[{{"role": "user", "content": "What is the capital of France?"}}])
            plain = client.messages.create(**ask)
            assert plain.content[0].text == "{ANSWER}"
            with client.messages.stream(**ask) as stream:
                assert stream.get_final_text() == "{ANSWER}"
            plain_call, streamed_call = llm_calls
            for call in llm_calls:
                assert (call.provider, call.endpoint, call.model) == ("anthropic", "messages", "{MODEL}")
                assert call.text == "{ANSWER}"
                # system (2 words) + question (6 words); the answer's 6 words
                assert (call.prompt_tokens, call.completion_tokens) == (8, 6)
                assert call.messages == ask["messages"]
                assert call.latency_s is not None and call.latency_s > 0
                assert call.tool_calls == ()
            assert (plain_call.stream, streamed_call.stream) == (False, True)
            assert plain_call.ttft_s is None
            # the server waited 0.05 s before the first text delta
            assert streamed_call.ttft_s is not None and streamed_call.ttft_s >= 0.05
        """,
    )
    interactions = yaml.safe_load(inner.cassette("test_capital").read_text())["interactions"]
    plain, streamed = (interaction["response"] for interaction in interactions)
    assert "event: content_block_delta" in streamed["sse"]
    assert '"type": "text_delta"' in streamed["sse"]
    assert streamed["text"] == ANSWER
    assert ANSWER in json.dumps(plain)
    shown = _show(capsys, inner.cassette("test_capital"))
    assert f"answer:\n    {ANSWER}" in shown
    assert f"answer (streamed):\n    {ANSWER}" in shown
    assert "(empty answer)" not in shown


TWO_TURN_CASE = """
    import json
    import anthropic
    from pytest_llm import llm_case

    TOOLS = [{{"name": "get_weather", "description": "Weather in a city.",
              "input_schema": {{"type": "object", "properties": {{"city": {{"type": "string"}}}}}}}}]

    @llm_case
    def test_weather(llm_calls):
        client = {client}
        question = [{{"role": "user", "content": "Weather in Paris?"}}]
        first = client.messages.create(model="{model}", max_tokens=64, tools=TOOLS, messages=question)
        (tool_use,) = [block for block in first.content if block.type == "tool_use"]
        assert (tool_use.name, tool_use.input) == ("get_weather", {{"city": "Paris"}})
        assert first.stop_reason == "tool_use"
        with client.messages.stream(model="{model}", max_tokens=64, tools=TOOLS, messages=question) as stream:
            streamed = stream.get_final_message()
        assert [(b.name, b.input) for b in streamed.content] == [("get_weather", {{"city": "Paris"}})]
        answer = client.messages.create(model="{model}", max_tokens=64, tools=TOOLS, messages=[
            *question,
            {{"role": "assistant", "content": [tool_use.model_dump(include={{"type", "id", "name", "input"}})]}},
            {{"role": "user", "content": [
                {{"type": "tool_result", "tool_use_id": tool_use.id, "content": "sunny, 21 C"}}]}},
        ])
        assert answer.content[0].text == "Sunny and 21 C in Paris."
        for call in llm_calls[:2]:
            (tool_call,) = call.tool_calls
            assert tool_call["name"] == "get_weather"
            assert tool_call["id"].startswith("toolu_")
            assert tool_call["arguments"] == {{"city": "Paris"}}
            assert call.text == ""
            assert call.completion_tokens == 2  # the words of {{"city": "Paris"}}
        assert llm_calls[0].tool_calls[0]["id"] == tool_use.id
        assert llm_calls[2].tool_calls == ()
        assert llm_calls[2].text == "Sunny and 21 C in Paris."
        assert llm_calls[2].messages[2]["content"][0]["type"] == "tool_result"
"""


def test_tool_calls_over_two_turns_plain_and_streamed(inner, capsys):
    inner.server.script(
        chunk_chars=4,  # the streamed tool input arrives in several input_json_delta pieces
        replies=[
            {
                "match": "Paris",
                "times": 2,
                "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
            },
            {"text": "Sunny and 21 C in Paris."},
        ],
    )
    _record_then_replay_offline(
        inner, TWO_TURN_CASE.format(client=_client_source(inner), model=MODEL)
    )
    cassette = inner.cassette("test_weather").read_text()
    assert cassette.count('"type": "input_json_delta"') > 1
    shown = _show(capsys, inner.cassette("test_weather"))
    assert 'tool call get_weather({"city": "Paris"})' in shown


STREAM_CASE = f"""
    import anthropic
    from pytest_llm import llm_case

    @llm_case
    def test_stream():
        client = {{client}}
        with client.messages.stream(model="{MODEL}", max_tokens=64,
                                    messages=[{{{{"role": "user", "content": "hello"}}}}]) as stream:
            stream.get_final_text()
"""


def test_a_cut_off_stream_is_never_stored(inner):
    inner.server.script(replies=[{"text": "one two three four", "fault": "truncate"}])
    inner.write(STREAM_CASE.format(client=_client_source(inner)))
    result = inner.record()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*event stream was cut off before its end marker (event: message_stop)*nothing was saved*"]
    )
    assert "INTERNALERROR" not in result.stdout.str()
    assert not inner.cassette("test_stream").exists()


def test_an_error_status_is_not_stored_and_the_sdk_reads_its_error_body(inner):
    inner.server.script(replies=[{"status": 529, "text": "Overloaded."}])
    inner.write(
        f"""
        import anthropic
        import pytest
        from pytest_llm import llm_case

        @llm_case
        def test_overloaded():
            client = {_client_source(inner)}
            with pytest.raises(anthropic.APIStatusError) as raised:
                client.messages.create(model="{MODEL}", max_tokens=8,
                                       messages=[{{"role": "user", "content": "hi"}}])
            assert raised.value.status_code == 529
            assert raised.value.body["error"] == {{"type": "overloaded_error", "message": "Overloaded."}}
        """
    )
    result = inner.record()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the API answered 529*nothing was saved*"])
    assert not inner.cassette("test_overloaded").exists()


def test_keys_in_headers_query_and_environment_never_reach_the_cassette(inner, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", ENV_SECRET)
    inner.write(
        f"""
        import os
        import anthropic
        import requests
        from pytest_llm import llm_case

        @llm_case
        def test_planted():
            client = anthropic.Anthropic(
                base_url={inner.server.root_url!r}, api_key="{SECRET_KEY}", max_retries=0,
                default_query={{"x-api-key": "{SECRET_KEY}"}})
            token = os.environ.get("ANTHROPIC_AUTH_TOKEN", "")
            reply = client.messages.create(model="{MODEL}", max_tokens=64, messages=[
                {{"role": "user", "content": "my token is " + token}}])
            assert reply.content[0].text.startswith("Echo: my token is")
            raw = requests.post(
                {inner.server.root_url!r} + "/v1/messages?x-api-key={SECRET_KEY}",
                headers={{"x-api-key": "{SECRET_KEY}", "anthropic-version": "2023-06-01"}},
                json={{"model": "{MODEL}", "max_tokens": 8,
                      "messages": [{{"role": "user", "content": "raw"}}]}})
            assert raw.json()["content"][0]["text"] == "Echo: raw"
        """
    )
    inner.record().assert_outcomes(passed=1)
    sdk_call, raw_call = inner.server.requests[-2:]
    assert SECRET_KEY in sdk_call.headers.get("x-api-key", sdk_call.headers.get("authorization"))
    assert raw_call.headers["x-api-key"] == SECRET_KEY, "the server really got the key"
    text = inner.cassette("test_planted").read_text()
    for secret in (SECRET_KEY, ENV_SECRET, "PlantedAnthropicKey", "PlantedEnvironmentKey"):
        assert secret not in text
    assert "Echo: my token is REDACTED" in text
    # the live request is scrubbed the same way, so it still matches the recording
    inner.replay().assert_outcomes(passed=1)


def test_rerecord_against_a_changed_answer_reports_drift_and_diff_shows_it(inner, capsys):
    inner.server.script(replies=[{"text": ANSWER}])
    inner.write(
        f"""
        import anthropic
        from pytest_llm import llm_case

        @llm_case
        def test_capital():
            client = {_client_source(inner)}
            client.messages.create(model="{MODEL}", max_tokens=64,
                                   messages=[{{"role": "user", "content": "Capital of France?"}}])
        """
    )
    inner.record().assert_outcomes(passed=1)
    old = inner.pytester.path / "old.yaml"
    shutil.copy(inner.cassette("test_capital"), old)
    inner.server.script(replies=[{"text": "The capital of France is Paris, on the Seine."}])
    result = inner.rerecord()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= LLM behaviour changes =*",
            "largest drifts among still-passing cases (silent changes):",
            "  drift 0.* test_app.py::test_capital",
        ]
    )
    capsys.readouterr()
    main.main(["diff", str(old), str(inner.cassette("test_capital"))])
    out = capsys.readouterr().out
    assert ANSWER in out and "on the Seine" in out


def test_langchain_anthropic_records_and_replays_with_no_key(inner):
    pytest.importorskip("langchain_anthropic")
    inner.server.script(
        ttft_s=0.05,
        replies=[
            {
                "match": "weather",
                "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}],
            },
            {"text": ANSWER},
        ],
    )
    _record_then_replay_offline(
        inner,
        f"""
        import json
        from langchain_anthropic import ChatAnthropic
        from pytest_llm import llm_case

        WEATHER = {{"name": "get_weather", "description": "Weather in a city.",
                   "input_schema": {{"type": "object", "properties": {{"city": {{"type": "string"}}}}}}}}

        @llm_case
        def test_chain(llm_calls):
            chat = ChatAnthropic(model="{MODEL}", base_url={inner.server.root_url!r},
                                 max_retries=0, max_tokens=64)
            assert chat.invoke("What is the capital of France?").content == "{ANSWER}"
            streamed = "".join(chunk.text for chunk in chat.stream("And streamed?"))
            assert streamed == "{ANSWER}"
            asked = chat.bind_tools([WEATHER]).invoke("What is the weather in Oslo?")
            assert asked.tool_calls[0]["args"] == {{"city": "Oslo"}}
            plain, stream, tool = llm_calls
            assert [call.provider for call in llm_calls] == ["anthropic"] * 3
            assert [call.model for call in llm_calls] == ["{MODEL}"] * 3
            assert (plain.text, stream.text) == ("{ANSWER}", "{ANSWER}")
            assert [call.stream for call in llm_calls] == [False, True, False]
            assert (stream.prompt_tokens, stream.completion_tokens) == (2, 6)
            assert all(call.latency_s > 0 for call in llm_calls)
            assert stream.ttft_s >= 0.05
            assert tool.tool_calls[0]["name"] == "get_weather"
            assert tool.tool_calls[0]["arguments"] == {{"city": "Oslo"}}
        """,
    )
    streamed = yaml.safe_load(inner.cassette("test_chain").read_text())["interactions"][1]
    assert streamed["response"]["text"] == ANSWER


# ---------------------------------------------------------------- the provider on its own


def test_anthropic_paths_are_claimed_and_openai_lookalikes_are_not():
    for path in ("/v1/messages", "/anthropic/v1/messages?beta=true", "/v1/messages/count_tokens"):
        assert providers.provider_for(path).name == "anthropic", path
    for path in ("/v1/threads/thread_1/messages", "/v1/chat/completions", "/messages"):
        assert providers.provider_for(path).name == "openai", path
    endpoint = anthropic_provider.PROVIDER.endpoint_of
    assert endpoint("/v1/messages") == "messages"
    assert endpoint("/v1/messages/count_tokens") == "messages.count_tokens"
    assert endpoint("/v1/messages/batches/msgbatch_1") == "messages.batches"


@pytest.mark.parametrize(
    "body",
    [None, [], "text", {"content": "not a list"}, {"content": [None, 3, {"type": "tool_use"}]}],
)
def test_hostile_plain_bodies_read_as_unknown_not_as_a_crash(body):
    answer = anthropic_provider.PROVIDER.answer(body, "messages")
    assert answer.prompt_tokens is None and answer.completion_tokens is None
    assert answer.text in (None, "")


def test_hostile_stream_events_read_as_unknown_not_as_a_crash():
    stream = (
        "event: message_start\ndata: [1, 2]\n\n"
        'event: content_block_delta\ndata: {"type": "content_block_delta", "index": "x", '
        '"delta": {"type": "input_json_delta", "partial_json": "{\\"a\\""}}\n\n'
        'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": 7}\n\n'
        'event: message_delta\ndata: {"type": "message_delta", "usage": {"output_tokens": true}}\n\n'
    )
    events = sse.parse_events(stream)
    answer = anthropic_provider.PROVIDER.stream_answer(events)
    assert answer.text == ""
    assert answer.completion_tokens is None
    assert answer.tool_calls == ({"id": None, "name": None, "arguments": '{"a"'},)
    assert not anthropic_provider.PROVIDER.stream_is_complete(events)
    assert anthropic_provider.PROVIDER.stream_is_complete(
        [*events, *sse.parse_events('event: message_stop\ndata: {"type": "message_stop"}\n\n')]
    )


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("claude-sonnet-4-5-20250929", (3.00, 15.00)),
        ("claude-opus-4-1-20250805", (15.00, 75.00)),
        ("claude-opus-4-20250514", (15.00, 75.00)),
        ("claude-haiku-4-5", (1.00, 5.00)),
        ("claude-3-5-haiku-latest", (0.80, 4.00)),
    ],
)
def test_current_claude_models_have_builtin_prices(model, price):
    assert price_of(model, BUILTIN_PRICES) == price


def test_cost_budget_prices_an_anthropic_call_from_its_usage(inner):
    inner.server.script(replies=[{"text": "word " * 50}])
    inner.write(
        f"""
        import anthropic
        from pytest_llm import llm_case

        @llm_case(cost_budget=0.0001)
        def test_cost():
            client = {_client_source(inner)}
            client.messages.create(model="{MODEL}", max_tokens=64,
                                   messages=[{{"role": "user", "content": "q"}}])
        """
    )
    result = inner.record()
    result.assert_outcomes(failed=1)
    # 1 input token at $1 and 50 output tokens at $5 per million (claude-haiku-4-5)
    result.stdout.fnmatch_lines(["*cost_budget: $0.000251 over 1 call(s) > $0.0001*"])


def test_a_rerecord_of_the_same_answers_changes_no_byte_but_timings(inner):
    """The server makes up fresh message and tool-use ids on every call: they are carried
    over, plain and streamed, so a quiet re-record stays quiet."""
    inner.server.script(
        replies=[
            {
                "match": "weather",
                "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}],
            },
            {"text": ANSWER},
        ]
    )
    inner.write(
        f"""
        import anthropic
        from pytest_llm import llm_case

        @llm_case
        def test_quiet():
            client = {_client_source(inner)}
            for question in ("capital?", "weather?"):
                ask = dict(model="{MODEL}", max_tokens=64,
                           messages=[{{"role": "user", "content": question}}])
                client.messages.create(**ask)
                with client.messages.stream(**ask) as stream:
                    stream.get_final_message()
        """
    )
    inner.record().assert_outcomes(passed=1)
    first = inner.cassette("test_quiet").read_text()
    assert first.count("msg_") >= 4 and "toolu_" in first
    inner.rerecord().assert_outcomes(passed=1)
    again = inner.cassette("test_quiet").read_text()
    changed = [
        line
        for line in difflib.unified_diff(
            _without_timings(first).splitlines(), _without_timings(again).splitlines(), n=0
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == []


def _without_timings(text: str) -> str:
    """A cassette without its latency and ttft lines (measured afresh, kept unless they moved:
    tests/test_stable_rerecords.py pins that rule)."""
    return "".join(line for line in text.splitlines(True) if not TIMING_LINE.match(line))


def test_recording_with_only_an_anthropic_key_is_allowed(inner, monkeypatch):
    """An Anthropic key alone is enough to record (no OPENAI_API_KEY needed). Without
    --llm-base-url the plugin demands no key up front (the client may point anywhere, the local
    server included); with none at all, the SDK's own error says what is missing."""
    inner.server.script(replies=[{"text": ANSWER}])
    inner.write(
        f"""
        import anthropic
        from pytest_llm import llm_case

        @llm_case
        def test_capital():
            client = anthropic.Anthropic(base_url={inner.server.root_url!r}, max_retries=0)
            client.messages.create(model="{MODEL}", max_tokens=64,
                                   messages=[{{"role": "user", "content": "Capital?"}}])
        """
    )
    refused = inner.pytester.runpytest("--llm-record")
    refused.assert_outcomes(failed=1)
    refused.stdout.fnmatch_lines(["*Could not resolve authentication method*"])
    assert "Capital?" not in (
        inner.cassette("test_capital").read_text()
        if inner.cassette("test_capital").exists()
        else ""
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET_KEY)
    inner.pytester.runpytest("--llm-record").assert_outcomes(passed=1)
    assert SECRET_KEY not in inner.cassette("test_capital").read_text()
