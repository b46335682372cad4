"""Gemini (the google-genai SDK) recorded and replayed, and understood: llm_calls, usage, tool
calls, cut-off streams, credentials, show/diff and drift. The real SDK talks to the local server
over real sockets; replay runs with every Gemini key variable unset."""

from __future__ import annotations

import json
import textwrap

import pytest

from pytest_llm import providers
from pytest_llm.cli import main
from pytest_llm.providers import gemini, pricing
from pytest_llm.providers.sse import parse_events

pytest.importorskip("google.genai")

#: Shaped like a real Gemini API key (the ``AIza`` prefix and 39 characters).
PLANTED_KEY = "AIzaSyPlantedGeminiKey0123456789abcdefg"
VERTEX_TOKEN = "ya29.PlantedVertexAccessToken0123456789"
KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL")
MODEL = "gemini-2.5-flash"


def _suite(root_url: str, body: str) -> str:
    """An inner test module: a Gemini client pointed at the local server, and the tests."""
    header = f"""
        import json

        from google import genai
        from google.genai import types

        from pytest_llm import llm_case

        BASE_URL = "{root_url}"
        NO_RETRY = types.HttpOptions(base_url=BASE_URL, retry_options=types.HttpRetryOptions(attempts=1))


        def gemini():
            # no api_key argument: GEMINI_API_KEY in record, the plugin's placeholder in replay.
            # Callers keep the client: a collected genai.Client closes its HTTP client.
            return genai.Client(http_options=NO_RETRY)
    """
    return textwrap.dedent(header) + textwrap.dedent(body)


@pytest.fixture
def gemini_inner(inner, monkeypatch):
    """``inner`` with the planted key in GEMINI_API_KEY (record); ``replay_without_keys``
    deletes every key variable first."""
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", PLANTED_KEY)
    return inner


def replay_without_keys(inner, monkeypatch, *args):
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    received = len(inner.server.requests)
    result = inner.replay(*args)
    assert len(inner.server.requests) == received, "replay reached the server"
    return result


PLAIN_AND_STREAMED = """
    @llm_case
    def test_plain(llm_calls):
        client = gemini()
        reply = client.models.generate_content(
            model="gemini-2.5-flash", contents="What is the capital of France?")
        assert reply.text == "Paris is the capital."
        (call,) = llm_calls
        assert call.provider == "gemini"
        assert call.endpoint == "generateContent"
        assert call.model == "gemini-2.5-flash"
        assert call.messages == [{"role": "user", "parts": [{"text": "What is the capital of France?"}]}]
        assert call.text == "Paris is the capital."
        assert (call.prompt_tokens, call.completion_tokens) == (6, 4)
        assert call.latency_s >= 0.05  # the script's latency_s: a lower bound, whatever the load
        assert call.ttft_s is None and not call.stream and call.tool_calls == ()
        print("PLAIN OK")

    @llm_case
    def test_streamed(llm_calls):
        client = gemini()
        pieces = [chunk.text for chunk in client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Tell me a story")]
        assert "".join(pieces) == "Once upon a time there was a cat."
        assert len(pieces) > 2
        (call,) = llm_calls
        assert (call.provider, call.endpoint, call.model) == ("gemini", "streamGenerateContent", "gemini-2.5-flash")
        assert call.stream
        assert call.text == "Once upon a time there was a cat."
        assert (call.prompt_tokens, call.completion_tokens) == (4, 8)
        assert 0.05 <= call.ttft_s <= call.latency_s  # the script's ttft_s is the lower bound
        print("STREAM OK")
"""


def _plain_and_streamed_script(inner) -> None:
    inner.server.script(
        replies=[
            {"match": "capital", "text": "Paris is the capital.", "latency_s": 0.05},
            {"match": "story", "text": "Once upon a time there was a cat.", "ttft_s": 0.05},
        ]
    )


@pytest.mark.parametrize("workers", [None, "2"], ids=["no-n", "n2"])
def test_plain_and_streamed_calls_record_and_replay_without_a_key(
    gemini_inner, monkeypatch, workers
):
    inner = gemini_inner
    _plain_and_streamed_script(inner)
    inner.write(_suite(inner.server.root_url, PLAIN_AND_STREAMED))
    extra = ("-n", workers) if workers else ()
    recorded = inner.record("-s", *extra)
    recorded.assert_outcomes(passed=2)
    if workers:  # the workers' output is not shown: the cassettes tell
        assert inner.cassette("test_plain").exists() and inner.cassette("test_streamed").exists()
        replay_without_keys(inner, monkeypatch, *extra).assert_outcomes(passed=2)
        return
    assert recorded.stdout.str().count("OK") == 2
    assert PLANTED_KEY not in recorded.stdout.str()
    # the SDK sent the key as a header: it reached the server and nowhere else
    assert all(r.headers.get("x-goog-api-key") == PLANTED_KEY for r in inner.server.requests)
    for name in ("test_plain", "test_streamed"):
        text = inner.cassette(name).read_text()
        assert PLANTED_KEY not in text and "x-goog-api-key" not in text.lower()
    replayed = replay_without_keys(inner, monkeypatch, "-s")
    replayed.assert_outcomes(passed=2)
    assert replayed.stdout.str().count("OK") == 2


def test_streamed_cassette_is_readable(gemini_inner):
    inner = gemini_inner
    _plain_and_streamed_script(inner)
    inner.write(_suite(inner.server.root_url, PLAIN_AND_STREAMED))
    inner.record("-k", "streamed").assert_outcomes(passed=1)
    text = inner.cassette("test_streamed").read_text()
    # the stream is stored as readable server-sent events, and the assembled answer beside it
    assert 'data: {"candidates": [{"content": {"parts": [{"text": "Once"}]' in text
    assert '"finishReason": "STOP"' in text
    assert "text: Once upon a time there was a cat." in text
    assert ":streamGenerateContent?alt=sse" in text


def test_show_prints_the_answers(gemini_inner, capsys):
    inner = gemini_inner
    _plain_and_streamed_script(inner)
    inner.write(_suite(inner.server.root_url, PLAIN_AND_STREAMED))
    inner.record().assert_outcomes(passed=2)
    for name, answer in [
        ("test_plain", "Paris is the capital."),
        ("test_streamed", "Once upon a time there was a cat."),
    ]:
        capsys.readouterr()
        assert main.main(["show", str(inner.cassette(name))]) == 0
        out = capsys.readouterr().out
        assert answer in out, out
        assert "(empty answer)" not in out
        assert MODEL in out


def test_diff_shows_both_gemini_answers(gemini_inner, tmp_path, capsys):
    inner = gemini_inner
    _plain_and_streamed_script(inner)
    inner.write(_suite(inner.server.root_url, PLAIN_AND_STREAMED))
    inner.record().assert_outcomes(passed=2)
    old = tmp_path / "old.yaml"
    old.write_bytes(inner.cassette("test_streamed").read_bytes())
    inner.server.script(replies=[{"text": "Once upon a time there was a cat. The end."}])
    inner.rerecord("-k", "streamed").assert_outcomes(failed=1)  # the inner assert sees the change
    capsys.readouterr()
    assert main.main(["diff", str(old), str(inner.cassette("test_streamed"))]) == 1
    out = capsys.readouterr().out
    assert "old answer:" in out and "new answer:" in out
    assert out.index("old answer:") < out.index("The end.")
    assert "#1 changed: POST /v1/models/gemini-2.5-flash:streamGenerateContent" in out


ASYNC_CLIENT = """
    import asyncio

    @llm_case
    def test_async(llm_calls):
        async def ask():
            client = gemini()
            plain = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hello")
            pieces = [chunk.text async for chunk in await client.aio.models.generate_content_stream(
                model="gemini-2.5-flash", contents="hello")]
            return plain.text, "".join(pieces)

        assert asyncio.run(ask()) == ("Hi from async.", "Hi from async.")
        assert [(call.endpoint, call.text) for call in llm_calls] == [
            ("generateContent", "Hi from async."), ("streamGenerateContent", "Hi from async.")]
        # time to first token is measured at httpx's transport; google-genai's async client
        # sends through aiohttp when aiohttp is installed, and there it is unknown (None)
        import importlib.util
        uses_aiohttp = importlib.util.find_spec("aiohttp") is not None
        assert (llm_calls[1].ttft_s is None) == uses_aiohttp
        assert llm_calls[1].latency_s is not None
        print("ASYNC OK")
"""


def test_async_client_records_and_replays(gemini_inner, monkeypatch):
    inner = gemini_inner
    inner.server.script(replies=[{"text": "Hi from async."}])
    inner.write(_suite(inner.server.root_url, ASYNC_CLIENT))
    recorded = inner.record("-s")
    recorded.assert_outcomes(passed=1)
    assert "ASYNC OK" in recorded.stdout.str()
    replayed = replay_without_keys(inner, monkeypatch, "-s")
    replayed.assert_outcomes(passed=1)
    assert "ASYNC OK" in replayed.stdout.str()


TOOL_TURNS = """
    WEATHER = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="get_weather", description="Weather in a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}})])

    @llm_case
    def test_tools(llm_calls):
        client = gemini()
        config = types.GenerateContentConfig(tools=[WEATHER])
        question = types.Content(role="user", parts=[types.Part.from_text(text="Weather in Paris?")])
        first = client.models.generate_content(model="gemini-2.5-flash", contents=[question], config=config)
        (asked,) = first.function_calls
        assert (asked.name, asked.args) == ("get_weather", {"city": "Paris", "unit": "celsius"})
        answer = types.Content(role="user", parts=[types.Part.from_function_response(
            name="get_weather", response={"forecast": "sunny"})])
        second = client.models.generate_content(
            model="gemini-2.5-flash", contents=[question, first.candidates[0].content, answer], config=config)
        assert second.text == "It is sunny in Paris."
        streamed = list(client.models.generate_content_stream(
            model="gemini-2.5-flash", contents=[question], config=config))
        assert [c.name for chunk in streamed for c in chunk.function_calls or ()] == ["get_weather"]

        tool_call, = llm_calls[0].tool_calls
        assert tool_call["name"] == "get_weather"
        assert tool_call["arguments"] == {"city": "Paris", "unit": "celsius"}
        assert llm_calls[0].text == ""
        assert llm_calls[1].text == "It is sunny in Paris." and llm_calls[1].tool_calls == ()
        assert llm_calls[1].messages[2]["parts"][0]["functionResponse"]["response"] == {"forecast": "sunny"}
        streamed_call, = llm_calls[2].tool_calls
        assert streamed_call["arguments"] == {"city": "Paris", "unit": "celsius"}
        assert llm_calls[2].completion_tokens == 4  # the fake model: words of the arguments JSON
        print("TOOLS OK")
"""


def test_tool_calls_over_two_turns_with_parsed_arguments(gemini_inner, monkeypatch):
    inner = gemini_inner
    call = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
    inner.server.script(
        replies=[
            {"endpoint": "generateContent", "match": "Paris", "tool_calls": [call], "times": 1},
            {"endpoint": "generateContent", "match": "Paris", "text": "It is sunny in Paris."},
            {"endpoint": "streamGenerateContent", "tool_calls": [call]},
        ]
    )
    inner.write(_suite(inner.server.root_url, TOOL_TURNS))
    recorded = inner.record("-s")
    recorded.assert_outcomes(passed=1)
    assert "TOOLS OK" in recorded.stdout.str()
    replayed = replay_without_keys(inner, monkeypatch, "-s")
    replayed.assert_outcomes(passed=1)
    assert "TOOLS OK" in replayed.stdout.str()


STREAM_ONLY = """
    @llm_case
    def test_stream():
        client = gemini()
        text = "".join(chunk.text or "" for chunk in client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="hello"))
        assert text == "one two three four"
"""


def test_cut_off_stream_is_never_stored(gemini_inner):
    inner = gemini_inner
    inner.server.script(replies=[{"text": "one two three four", "fault": "truncate"}])
    inner.write(_suite(inner.server.root_url, STREAM_ONLY))
    result = inner.record()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*event stream was cut off before its end marker "
            "(a last chunk whose candidate has a finishReason)*nothing was saved*"
        ]
    )
    assert not inner.cassette("test_stream").exists()


def test_error_status_is_not_stored_and_reads_as_google_error(gemini_inner):
    inner = gemini_inner
    inner.server.script(replies=[{"text": "The model is overloaded.", "status": 503}])
    inner.write(
        _suite(
            inner.server.root_url,
            """
            from google.genai import errors

            @llm_case
            def test_overloaded():
                client = gemini()
                try:
                    client.models.generate_content(model="gemini-2.5-flash", contents="hi")
                except errors.ServerError as error:
                    assert (error.code, error.status) == (503, "UNAVAILABLE"), error
                    raise
            """,
        )
    )
    result = inner.record()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the API answered 503: The model is overloaded.*"])
    assert not inner.cassette("test_overloaded").exists()
    assert PLANTED_KEY not in result.stdout.str()


def test_query_key_and_vertex_token_never_reach_cassette_or_output(gemini_inner, monkeypatch):
    """The ``?key=`` form (raw HTTP, as curl examples send it) and the Vertex AI path through the
    SDK with an OAuth token (google-auth credentials built from a token: no real account)."""
    pytest.importorskip("google.oauth2.credentials")
    inner = gemini_inner
    inner.server.script(replies=[{"text": f"Echo of {PLANTED_KEY}"}])
    inner.write(
        _suite(
            inner.server.root_url,
            f"""
            import requests
            from google.oauth2.credentials import Credentials

            @llm_case
            def test_query_key(llm_calls):
                reply = requests.post(
                    BASE_URL + "/v1beta/models/gemini-2.5-flash:generateContent?key={PLANTED_KEY}",
                    json={{"contents": [{{"parts": [{{"text": "key {PLANTED_KEY}"}}]}}]}})
                assert reply.status_code == 200, reply.text
                print("query answer:", llm_calls[0].text)
                assert llm_calls[0].model == "gemini-2.5-flash"

            @llm_case
            def test_vertex(llm_calls):
                client = genai.Client(
                    vertexai=True, project="my-project", location="us-central1",
                    credentials=Credentials(token="{VERTEX_TOKEN}"), http_options=NO_RETRY)
                reply = client.models.generate_content(model="gemini-2.5-pro", contents="hi")
                assert reply.text
                call, = llm_calls
                assert (call.provider, call.endpoint, call.model) == ("gemini", "generateContent", "gemini-2.5-pro")
                assert call.prompt_tokens == 1 and call.completion_tokens == 3
                print("vertex answer:", call.text)
                streamed = "".join(chunk.text or "" for chunk in client.models.generate_content_stream(
                    model="gemini-2.5-pro", contents="hi again"))
                assert streamed.startswith("Echo of ") and llm_calls[1].stream
                assert llm_calls[1].text == "Echo of REDACTED"  # llm_calls holds what the cassette does
                assert llm_calls[1].model == "gemini-2.5-pro" and llm_calls[1].completion_tokens == 3
            """,
        )
    )
    recorded = inner.record("-s")
    recorded.assert_outcomes(passed=2)
    paths = [request.path for request in inner.server.requests]
    assert (
        "/v1beta1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent"
        in paths
    )
    assert (
        "/v1beta1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent"
        in paths
    )
    assert inner.server.requests[-1].headers["authorization"] == f"Bearer {VERTEX_TOKEN}"
    out = recorded.stdout.str()
    assert "query answer: Echo of REDACTED" in out and "vertex answer: Echo of REDACTED" in out
    for name in ("test_query_key", "test_vertex"):
        text = inner.cassette(name).read_text()
        for secret in (PLANTED_KEY, VERTEX_TOKEN, "PlantedGeminiKey", "PlantedVertex"):
            assert secret not in text and secret not in out
        assert "createTime" not in text or name == "test_vertex"
    replay_without_keys(inner, monkeypatch).assert_outcomes(passed=2)


def test_rerecord_against_a_changed_script_reports_drift(gemini_inner):
    inner = gemini_inner
    inner.server.script(replies=[{"text": "Paris is the capital of France."}])
    inner.write(
        _suite(
            inner.server.root_url,
            """
            @llm_case
            def test_capital():
                client = gemini()
                reply = client.models.generate_content(model="gemini-2.5-flash", contents="capital?")
                assert "Paris" in reply.text
            """,
        )
    )
    inner.record().assert_outcomes(passed=1)
    unchanged = inner.rerecord()
    unchanged.assert_outcomes(passed=1)
    assert "drift 0." not in unchanged.stdout.str()
    inner.server.script(
        replies=[{"text": "Paris, a city on the Seine, is where the government sits."}]
    )
    result = inner.rerecord()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*drift 0.* test_app.py::test_capital*"])


def test_quiet_rerecord_keeps_the_cassette_unchanged(gemini_inner):
    """responseId and createTime are made up afresh per call: carried over on re-record."""
    inner = gemini_inner
    inner.server.script(replies=[{"text": "Same answer every time."}])
    inner.write(
        _suite(
            inner.server.root_url,
            STREAM_ONLY.replace("one two three four", "Same answer every time."),
        )
    )
    inner.record().assert_outcomes(passed=1)
    before = inner.cassette("test_stream").read_text()
    inner.rerecord().assert_outcomes(passed=1)
    assert inner.cassette("test_stream").read_text() == before


# --------------------------------------------------------------------------- the provider itself


def _events(*chunks: object) -> list:
    return parse_events("".join(f"data: {json.dumps(chunk)}\r\n\r\n" for chunk in chunks))


@pytest.mark.parametrize(
    ("path", "endpoint", "model"),
    [
        ("/v1beta/models/gemini-2.5-flash:generateContent", "generateContent", "gemini-2.5-flash"),
        (
            "/v1/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
            "streamGenerateContent",
            "gemini-2.0-flash",
        ),
        (
            "/v1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent",
            "generateContent",
            "gemini-2.5-pro",
        ),
        ("/v1beta/models/text-embedding-004:embedContent", "embedContent", "text-embedding-004"),
    ],
)
def test_gemini_paths_are_gemini_and_name_their_model(path, endpoint, model):
    provider = providers.provider_for(path)
    assert provider is gemini.PROVIDER
    assert provider.endpoint_of(path) == endpoint
    assert provider.request_model(path, {}) == model


def test_other_paths_stay_openai():
    assert providers.provider_for("/v1/chat/completions").name == "openai"
    assert providers.provider_for("/v1/models").name == "openai"


def test_stream_completeness_is_the_last_chunks_finish_reason():
    piece = {"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}}]}
    done = {"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}]}
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}}
    provider = gemini.PROVIDER
    assert provider.stream_is_complete(_events(piece, done))
    assert not provider.stream_is_complete(_events(piece))
    assert not provider.stream_is_complete(_events(done, piece))  # a finished candidate, then more
    assert provider.stream_is_complete(_events(blocked))
    assert provider.stream_is_complete(_events(piece, {"error": {"code": 500}}))
    assert not provider.stream_is_complete([])


def test_hostile_bodies_give_none_not_errors():
    provider = gemini.PROVIDER
    for body in (
        None,
        [],
        "text",
        {"candidates": "x"},
        {"candidates": [None]},
        {"usageMetadata": []},
    ):
        answer = provider.answer(body, "generateContent")
        assert answer.prompt_tokens is None and answer.tool_calls == ()
    assert provider.answer({}, "generateContent").text is None
    assert provider.last_user_text({"contents": [{"parts": "x"}, 3]}) is None
    thought = {
        "candidates": [{"content": {"parts": [{"text": "hmm", "thought": True}, {"text": "Yes."}]}}]
    }
    assert provider.answer(thought, "generateContent").text == "Yes."


def test_gemini_credentials_and_placeholders_are_registered():
    assert "x-goog-api-key" in providers.credential_headers()
    assert "key" in providers.credential_query_parameters()
    assert {"GEMINI_API_KEY", "GOOGLE_API_KEY"} <= set(providers.credential_env_vars())
    assert providers.replay_placeholders()["GEMINI_API_KEY"] == gemini.PLACEHOLDER_API_KEY


def test_hostile_streams_give_what_they_can():
    provider = gemini.PROVIDER
    events = _events([1, 2], "text", {"candidates": [{"content": {"parts": [{"text": "ok"}]}}]})
    answer = provider.stream_answer(events)
    assert answer.text == "ok" and answer.prompt_tokens is None and answer.tool_calls == ()
    assert not provider.stream_is_complete(events)


def test_gemini_models_have_builtin_prices():
    table = pricing.BUILTIN_PRICES
    assert pricing.cost_of([("gemini-2.5-flash", 1_000_000, 1_000_000)], table) == pytest.approx(
        2.80
    )
    assert pricing.price_of("gemini-2.0-flash-001", table) == (0.10, 0.40)
    assert pricing.price_of("gemini-2.5-flash-lite-preview-06-17", table) == (0.10, 0.40)


def test_replay_miss_names_the_gemini_prompt(gemini_inner, monkeypatch):
    inner = gemini_inner
    source = """
        @llm_case
        def test_capital():
            client = gemini()
            client.models.generate_content(model="gemini-2.5-flash", contents="Capital of France?")
    """
    inner.write(_suite(inner.server.root_url, source))
    inner.record().assert_outcomes(passed=1)
    inner.write(_suite(inner.server.root_url, source.replace("France", "Spain")))
    result = replay_without_keys(inner, monkeypatch)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*request:  POST /v1/models/gemini-2.5-flash:generateContent: "Capital of Spain?"',
            '*contents?0?.parts?0?.text: now "Capital of Spain?", recorded "Capital of France?"',
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str()
