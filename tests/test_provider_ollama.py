"""Ollama's native API, driven by the real ``ollama`` SDK against the local server over real
sockets: recorded, replayed offline with the server stopped and no key, and understood (text,
model, tokens, tool calls, time to first token), plain and streamed (NDJSON), sync and async,
chat, generate and embeddings."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from pytest_llm.cli import main
from pytest_llm.testing import LocalOpenAIServer

pytest.importorskip("ollama")

#: A key shaped like no known prefix: only OLLAMA_API_KEY's value says it is a secret.
PLANTED_KEY = "PlantedOllamaKey0123456789abcdefghijklmnop"
KEY_VARIABLES = ("OLLAMA_API_KEY", "OLLAMA_HOST")
MODEL = "llama3.2"

#: The inner tests build the client as an application would: the server from the URL
#: --llm-base-url exports (host and port are not matched, so replay needs none), the key (if
#: any) from OLLAMA_API_KEY, which the SDK sends as a bearer token.
PREAMBLE = f"""
    import json
    import os

    import ollama
    from pytest_llm import llm_case

    MODEL = "{MODEL}"

    def host():
        return os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:9/v1").removesuffix("/v1")

    def client():
        return ollama.Client(host=host())

    def user(text):
        return [{{"role": "user", "content": text}}]
"""

PLAIN_CASE = (
    PREAMBLE
    + """
    @llm_case
    def test_plain(llm_calls):
        reply = client().chat(model=MODEL, messages=user("What is the refund window?"))
        assert reply.message.content == "Refunds are accepted within 30 days."
        generated = client().generate(model=MODEL, prompt="Say hi")
        assert generated.response == "Refunds are accepted within 30 days."
        chat, generate = llm_calls
        assert (chat.provider, chat.endpoint, chat.model) == ("ollama", "ollama.chat", MODEL)
        assert chat.text == "Refunds are accepted within 30 days."
        assert chat.messages == user("What is the refund window?")
        assert (chat.prompt_tokens, chat.completion_tokens) == (5, 6)
        assert chat.latency_s is not None and chat.latency_s >= 0
        assert chat.ttft_s is None and chat.stream is False and chat.tool_calls == ()
        assert (generate.endpoint, generate.model, generate.messages) == (
            "ollama.generate", MODEL, "Say hi")
        assert generate.text == "Refunds are accepted within 30 days."
        assert (generate.prompt_tokens, generate.completion_tokens) == (2, 6)
"""
)

STREAM_CASE = (
    PREAMBLE
    + """
    @llm_case
    def test_stream(llm_calls):
        parts = list(client().chat(
            model=MODEL, messages=user("Tell me a short story"), stream=True))
        assert "".join(part.message.content for part in parts) == "Once upon a time a test passed."
        assert parts[-1].done is True and parts[-1].eval_count == 7
        pieces = list(client().generate(model=MODEL, prompt="Tell me a short story", stream=True))
        assert "".join(piece.response for piece in pieces) == "Once upon a time a test passed."
        chat, generate = llm_calls
        for call in llm_calls:
            assert (call.provider, call.model, call.stream) == ("ollama", MODEL, True)
            assert call.text == "Once upon a time a test passed."
            assert (call.prompt_tokens, call.completion_tokens) == (5, 7)
            assert call.ttft_s is not None and call.latency_s is not None
            assert 0 <= call.ttft_s <= call.latency_s
        assert (chat.endpoint, generate.endpoint) == ("ollama.chat", "ollama.generate")
"""
)

ASYNC_CASE = (
    PREAMBLE
    + """
    import asyncio

    @llm_case
    def test_async(llm_calls):
        async def ask():
            async_client = ollama.AsyncClient(host=host())
            plain = await async_client.chat(model=MODEL, messages=user("What is the refund window?"))
            stream = await async_client.chat(
                model=MODEL, messages=user("Tell me a short story"), stream=True)
            streamed = "".join([part.message.content async for part in stream])
            return plain.message.content, streamed

        plain, streamed = asyncio.run(ask())
        assert plain == "Refunds are accepted within 30 days."
        assert streamed == "Once upon a time a test passed."
        assert [call.text for call in llm_calls] == [plain, streamed]
        assert [call.stream for call in llm_calls] == [False, True]
        assert llm_calls[1].ttft_s is not None
"""
)

TOOL_CASE = (
    PREAMBLE
    + """
    def get_weather(city: str) -> str:
        '''The weather in a city.

        Args:
          city: the city
        '''
        return json.dumps({"temp": 21})

    @llm_case
    def test_tools(llm_calls):
        ollama_client = client()
        messages = user("What is the weather in Paris?")
        first = ollama_client.chat(model=MODEL, messages=messages, tools=[get_weather])
        [tool_call] = first.message.tool_calls
        assert tool_call.function.arguments == {"city": "Paris", "unit": "celsius"}
        messages.append(first.message)
        messages.append({"role": "tool", "content": get_weather("Paris"), "tool_name": "get_weather"})
        second = ollama_client.chat(model=MODEL, messages=messages, tools=[get_weather])
        assert second.message.content == "It is 21 degrees in Paris."
        streamed = list(ollama_client.chat(
            model=MODEL, messages=user("Weather in Oslo?"), tools=[get_weather], stream=True))
        [streamed_call] = [c for part in streamed for c in part.message.tool_calls or ()]
        assert streamed_call.function.name == "get_weather"

        turn_one, turn_two, in_stream = llm_calls
        [call] = turn_one.tool_calls
        assert call["name"] == "get_weather" and call["id"] is None  # Ollama sends no ids
        assert call["arguments"] == {"city": "Paris", "unit": "celsius"}  # parsed to a dict
        assert turn_one.text == ""
        assert turn_two.text == "It is 21 degrees in Paris." and turn_two.tool_calls == ()
        assert turn_two.messages[2]["role"] == "tool"
        [call] = in_stream.tool_calls
        assert call["arguments"] == {"city": "Oslo", "unit": "celsius"}
        assert in_stream.stream and in_stream.completion_tokens == turn_one.completion_tokens
"""
)

EMBED_CASE = (
    PREAMBLE
    + """
    @llm_case
    def test_embed(llm_calls):
        embedded = client().embed(model="all-minilm", input=["refund policy", "shipping"])
        assert len(embedded.embeddings) == 2 and len(embedded.embeddings[0]) == 64
        legacy = client().embeddings(model="all-minilm", prompt="refund policy")
        assert legacy.embedding == embedded.embeddings[0]
        embed, embeddings = llm_calls
        assert (embed.provider, embed.endpoint, embed.model) == ("ollama", "ollama.embed", "all-minilm")
        assert embed.messages == ["refund policy", "shipping"] and embed.text is None
        assert (embed.prompt_tokens, embed.completion_tokens) == (3, None)
        assert (embeddings.endpoint, embeddings.messages) == ("ollama.embeddings", "refund policy")
        assert (embeddings.prompt_tokens, embeddings.completion_tokens) == (None, None)
"""
)


def _case(body: str) -> str:
    """An inner test module: the preamble, then `body` (indented as the preamble is)."""
    return PREAMBLE + textwrap.indent(textwrap.dedent(body), "    ")


@pytest.fixture
def no_ollama_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def inner(inner: Any) -> Iterator[Any]:
    """The shared ``inner`` helper with a server of its own, so that replay can stop it."""
    with LocalOpenAIServer() as server:
        yield dataclasses.replace(inner, server=server)


def _record_with_planted_key(inner, monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.setenv("OLLAMA_API_KEY", PLANTED_KEY)
    result = inner.record(*args)
    monkeypatch.delenv("OLLAMA_API_KEY")
    return result


def _replay_offline(inner: Any, *args: str) -> pytest.RunResult:
    """Replay with no Ollama key variable set and the server stopped."""
    inner.server.stop()
    return inner.replay(*args)


def _assert_no_key_stored(inner, test: str) -> str:
    text = inner.cassette(test).read_text()
    assert PLANTED_KEY not in text and "bearer" not in text.lower()
    assert "authorization" not in text.lower()
    return text


def test_plain_chat_and_generate_record_and_replay_with_no_key(inner, monkeypatch, no_ollama_key):
    inner.server.script(replies=[{"text": "Refunds are accepted within 30 days."}])
    inner.write(PLAIN_CASE)
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    chat, generate = inner.server.requests
    assert (chat.path, generate.path) == ("/api/chat", "/api/generate")
    assert chat.headers["authorization"] == f"Bearer {PLANTED_KEY}"  # the SDK sent it
    _assert_no_key_stored(inner, "test_plain")
    _replay_offline(inner).assert_outcomes(passed=1)
    inner.replay("-n", "2").assert_outcomes(passed=1)  # and under xdist


def test_streamed_chat_and_generate_record_and_replay(inner, monkeypatch, no_ollama_key):
    inner.server.script(chunk_chars=3, replies=[{"text": "Once upon a time a test passed."}])
    inner.write(STREAM_CASE)
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    _assert_no_key_stored(inner, "test_stream")
    _replay_offline(inner).assert_outcomes(passed=1)


def test_the_async_client_records_and_replays(inner, monkeypatch, no_ollama_key):
    inner.server.script(
        replies=[
            {"match": "refund", "text": "Refunds are accepted within 30 days."},
            {"text": "Once upon a time a test passed."},
        ]
    )
    inner.write(ASYNC_CASE)
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    _replay_offline(inner).assert_outcomes(passed=1)


def test_tool_calls_over_two_turns_and_in_a_stream(inner, monkeypatch, no_ollama_key):
    weather = {"name": "get_weather"}
    inner.server.script(
        replies=[
            {
                "match": "Paris",
                "times": 1,
                "tool_calls": [{**weather, "arguments": {"city": "Paris", "unit": "celsius"}}],
            },
            {"match": "Paris", "text": "It is 21 degrees in Paris."},
            {
                "match": "Oslo",
                "tool_calls": [{**weather, "arguments": {"city": "Oslo", "unit": "celsius"}}],
            },
        ],
    )
    inner.write(TOOL_CASE)
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    _replay_offline(inner).assert_outcomes(passed=1)


def test_embed_and_the_older_embeddings_record_and_replay(inner, monkeypatch, no_ollama_key):
    inner.write(EMBED_CASE)
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    text = _assert_no_key_stored(inner, "test_embed")
    assert "      embeddings:\n      - [-0." in text or "      embeddings:\n      - [0." in text
    # one vector a line
    _replay_offline(inner).assert_outcomes(passed=1)


def test_the_stream_is_stored_line_by_line_and_replayed_byte_for_byte(
    inner, monkeypatch, no_ollama_key
):
    inner.server.script(chunk_chars=3, replies=[{"text": "Déjà vu: <b> & a test passed."}])
    inner.write(
        _case(
            """
        import pathlib
        import httpx
        from pytest_llm import llm_case

        @llm_case
        def test_raw(llm_cassette):
            body = {"model": MODEL, "messages": user("Tell me a short story")}
            answer = httpx.post(host() + "/api/chat", json=body)
            assert answer.headers["content-type"] == "application/x-ndjson"
            pathlib.Path(f"raw-{llm_cassette.mode}.bin").write_bytes(answer.content)
        """
        )
    )
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    text = inner.cassette("test_raw").read_text()
    [interaction] = yaml.safe_load(text)["interactions"]
    response = interaction["response"]
    lines = response["ndjson"].splitlines()
    assert "ndjson: |" in text  # one literal block, one JSON document a line
    assert [json.loads(line)["done"] for line in lines] == [False] * (len(lines) - 1) + [True]
    assert response["text"] == "Déjà vu: <b> & a test passed."  # assembled, grep-able
    assert "    text: 'Déjà vu: <b> & a test passed.'\n" in text
    call = interaction["call"]
    assert (call["endpoint"], call["model"]) == ("ollama.chat", MODEL)
    assert (call["prompt_tokens"], call["completion_tokens"]) == (5, 7)
    assert call["ttft_s"] is not None
    _replay_offline(inner).assert_outcomes(passed=1)
    recorded = (inner.pytester.path / "raw-record.bin").read_bytes()
    assert (inner.pytester.path / "raw-replay.bin").read_bytes() == recorded


def test_a_cut_off_stream_is_not_stored(inner, monkeypatch, no_ollama_key):
    inner.server.script(replies=[{"text": "one two three four", "fault": "truncate"}])
    inner.write(
        _case(
            """
        @llm_case
        def test_cut():
            parts = list(client().chat(model=MODEL, messages=user("hello"), stream=True))
            assert parts and not parts[-1].done  # no line with done: true
        """
        )
    )
    result = _record_with_planted_key(inner, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*POST /api/chat model=llama3.2*NDJSON stream was cut off*"done": true*'
            "nothing was saved (no cassette was written)*"
        ]
    )
    assert not inner.cassette("test_cut").exists()


@pytest.mark.parametrize("status", [429, 500])
def test_an_error_status_is_not_stored(inner, monkeypatch, no_ollama_key, status):
    inner.server.script(replies=[{"status": status, "text": "the runner fell over"}])
    inner.write(
        _case(
            f"""
        import pytest

        @llm_case
        def test_error():
            with pytest.raises(ollama.ResponseError) as raised:
                client().chat(model=MODEL, messages=user("hello"))
            assert raised.value.error == "the runner fell over"  # Ollama's {{"error": ...}}
            assert raised.value.status_code == {status}
        """
        )
    )
    result = _record_with_planted_key(inner, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"*POST /api/chat*the API answered {status}*nothing was saved (no cassette was written)*"]
    )
    assert not inner.cassette("test_error").exists()


def test_budgets_over_unknown_figures_fail_and_models_have_no_built_in_price(
    inner, monkeypatch, no_ollama_key
):
    inner.write(
        _case(
            """
        @llm_case(token_budget=10_000)
        def test_tokens_unknown():
            client().embeddings(model="all-minilm", prompt="no counts in this answer")

        @llm_case(ttft_budget=60)
        def test_ttft_unknown():
            client().chat(model=MODEL, messages=user("plain, not streamed"))

        @llm_case(cost_budget=1.0)
        def test_no_price():
            client().chat(model=MODEL, messages=user("what does a local model cost?"))
        """
        )
    )
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=0, failed=3)
    result = _replay_offline(inner)
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*token_budget: call #1 (ollama.embeddings, all-minilm) reported no token counts*",
            "*ttft_budget: no call of this case was streamed, so no time to first token was*",
            "*cost_budget: no price for model 'llama3.2'*llm_prices*",
        ],
        consecutive=False,
    )
    inner.pytester.makeini("[pytest]\nllm_prices = llama3.2 0 0\n")  # a local model is free
    inner.replay("-k", "test_no_price").assert_outcomes(passed=1)


def test_show_and_a_rerecord_with_a_changed_answer_report_drift(
    inner, monkeypatch, no_ollama_key, capsys
):
    inner.write(
        _case(
            """
        @llm_case
        def test_answer():
            parts = client().chat(model=MODEL, messages=user("What is the refund window?"), stream=True)
            assert "30 days" in "".join(part.message.content for part in parts)
        """
        )
    )
    inner.server.script(replies=[{"text": "Refunds are accepted within 30 days."}])
    _record_with_planted_key(inner, monkeypatch).assert_outcomes(passed=1)
    capsys.readouterr()
    assert main.main(["show", str(inner.cassette("test_answer"))]) == 0
    out = capsys.readouterr().out
    assert "#1 POST /api/chat" in out and f"model: {MODEL}" in out
    assert "user: What is the refund window?" in out
    assert "Refunds are accepted within 30 days." in out and "(empty answer)" not in out
    old = inner.cassette("test_answer").read_text()
    inner.server.script(replies=[{"text": "You have 30 days to send it back, no questions."}])
    result = inner.rerecord()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= LLM behaviour changes =*",
            "largest drifts among still-passing cases (silent changes):",
            "  drift 0.* test_app.py::test_answer",
        ]
    )
    old_file = inner.pytester.path / "old.yaml"
    old_file.write_text(old)
    capsys.readouterr()
    main.main(["diff", str(old_file), str(inner.cassette("test_answer"))])
    out = capsys.readouterr().out
    assert "Refunds are accepted within 30 days." in out
    assert "You have 30 days to send it back, no questions." in out


def test_an_unchanged_rerecord_changes_no_byte(inner, monkeypatch, no_ollama_key):
    inner.server.script(chunk_chars=3, replies=[{"text": "Once upon a time a test passed."}])
    inner.write(STREAM_CASE)
    inner.record().assert_outcomes(passed=1)
    before = inner.cassette("test_stream").read_bytes()
    inner.rerecord().assert_outcomes(passed=1)
    assert inner.cassette("test_stream").read_bytes() == before  # timestamps, durations kept


def test_check_finds_an_ollama_key_in_an_old_cassette(tmp_path, monkeypatch, capsys):
    from pytest_llm.cassette import file_format
    from pytest_llm.cassette.interaction import Interaction

    leaky = tmp_path / "cassettes" / "leaky.yaml"
    leaky.parent.mkdir()
    body = json.dumps({"model": MODEL, "message": {"content": f"your key: {PLANTED_KEY}"}})
    interaction = Interaction(
        method="POST",
        path="/api/chat",
        request_body=b'{"model": "llama3.2", "messages": []}',
        status=200,
        response_headers={"content-type": ["application/json; charset=utf-8"]},
        response_body=body.encode(),
    )
    leaky.write_text(file_format.render_cassette([interaction]))
    monkeypatch.setenv("OLLAMA_API_KEY", PLANTED_KEY)
    assert main.main(["check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{leaky}:" in out and "$OLLAMA_API_KEY" in out and PLANTED_KEY not in out


def test_a_cassette_whose_ndjson_is_not_text_is_a_clear_error(tmp_path):
    from pytest_llm.cassette import file_format
    from pytest_llm.errors import CassetteError

    path = tmp_path / "hostile.yaml"
    path.write_text(
        "format: pytest-llm\nversion: 1\ninteractions:\n"
        "- request: {method: POST, path: /api/chat, json: {model: llama3.2}}\n"
        "  response:\n    status: 200\n    headers: {content-type: application/x-ndjson}\n"
        "    ndjson: [{done: true}]\n"
        "  call: {endpoint: ollama.chat, latency_s: 0.1}\n"  # complete: only the body is wrong
    )
    with pytest.raises(
        CassetteError, match=r"hostile.yaml: interaction #1 .*'ndjson' stream is list"
    ):
        file_format.read_cassette(path)


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"text"',
        b'{"message": "not a mapping", "prompt_eval_count": "7", "eval_count": true}',
        b'{"message": {"content": 5, "tool_calls": [1, {"function": 2}, {"function": {}}]}}',
        b'{"message": {"content": "plain", "tool_calls": {"function": {}}}, "eval_count": -3}',
        b"not json at all",
    ],
)
def test_hostile_ollama_bodies_are_read_as_what_they_say(body: bytes) -> None:
    """A cassette is hostile input: odd shapes give None or nothing, never an exception."""
    from pytest_llm.cassette.interaction import Interaction
    from pytest_llm.providers import llm_call

    call = llm_call.describe(
        Interaction(
            method="POST",
            path="/api/chat",
            request_body=b'{"model": 3, "messages": "hi"}',
            status=200,
            response_headers={"content-type": ["application/json"]},
            response_body=body,
        )
    )
    assert call.provider == "ollama" and call.model is None
    assert call.prompt_tokens is None and call.completion_tokens is None
    assert call.text in (None, "plain")
    assert all(set(tool) == {"id", "name", "arguments"} for tool in call.tool_calls)


def test_hostile_ollama_streams_are_read_as_what_they_say() -> None:
    from pytest_llm.providers import ndjson, ollama

    lines = ndjson.parse_lines(
        '{"message": {"content": "o"}, "done": false}\n'
        "\n"
        "not json\n"
        '{"message": {"content": 3, "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}}\n'
        '{"response": "k", "done": "yes"}\n'
        '{"message": {"content": ""}, "done": true, "model": "m", "prompt_eval_count": 2}\n'
    )
    assert [line.offset for line in lines][:2] == [0, 46]  # byte offsets, blank lines skipped
    answer = ollama.PROVIDER.stream_answer(lines)
    assert (answer.text, answer.model) == ("ok", "m")
    assert (answer.prompt_tokens, answer.completion_tokens) == (2, None)
    assert [call["arguments"] for call in answer.tool_calls] == ["{}"]
    assert ollama.PROVIDER.stream_is_complete(lines)
    assert not ollama.PROVIDER.stream_is_complete(lines[:-1])  # "done": "yes" is not true
    assert ollama.PROVIDER.stream_is_complete(ndjson.parse_lines('{"error": "runner died"}\n'))


def test_ollama_is_its_own_provider_and_its_key_a_credential() -> None:
    from pytest_llm import providers

    assert providers.provider_for("/api/chat").name == "ollama"
    assert providers.provider_for("/ollama/api/generate").endpoint_of("/x/api/generate") == (
        "ollama.generate"
    )
    assert providers.provider_for("/v1/chat/completions").name == "openai"  # its OpenAI route
    assert providers.provider_for("/api/v1/chat/completions").name == "openai"  # OpenRouter's
    assert "OLLAMA_API_KEY" in providers.credential_env_vars()
    assert "OLLAMA_API_KEY" not in providers.replay_placeholders()  # the SDK needs no key
