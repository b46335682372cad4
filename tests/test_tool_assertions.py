"""assert_tool_called and assert_tool_sequence: the real SDKs of every provider (OpenAI chat and
Responses, Anthropic, Gemini, Cohere) ask the local server for tools, plain and streamed; the
assertions pass on what was recorded and again in replay, and their failures say which tool
calls were made with which arguments."""

from __future__ import annotations

import textwrap

import pytest

from pytest_llm import assert_tool_called, assert_tool_sequence
from pytest_llm.providers.llm_call import LLMCall, parsed_tool_calls

PARIS = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
PROVIDER_KEYS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "CO_API_KEY",
    "COHERE_API_KEY",
    "CO_API_URL",
)

#: Every provider's client, built as an application would, plain then streamed; each case asks
#: twice for the weather in Paris and checks both tool calls with the assertions.
CHECKS = """
    def check(llm_calls, streamed_first=False):
        assert len(llm_calls) == 2 and [call.stream for call in llm_calls] == [streamed_first, not streamed_first]
        for call in llm_calls:
            [tool] = call.tool_calls
            assert set(tool) == {"id", "name", "arguments"} and tool["name"] == "get_weather"
            assert tool["id"] or call.provider == "gemini"  # Gemini's functionCall id is optional
            assert tool["arguments"] == {"city": "Paris", "unit": "celsius"}
        found = assert_tool_called("get_weather", args={"city": "Paris"}, times=2)
        assert [tool["arguments"]["unit"] for tool in found] == ["celsius", "celsius"]
        assert assert_tool_called("get_weather", args=Weather) == found
        assert assert_tool_sequence(["get_weather", ("get_weather", {"unit": "celsius"})]) == [
            "get_weather", "get_weather"]
        with pytest.raises(AssertionError, match="(?s)get_weather.*Oslo.*tool calls made"):
            assert_tool_called("get_weather", args={"city": "Oslo"})
"""

HEADER = """
    import os
    import pydantic
    import pytest
    from pytest_llm import assert_tool_called, assert_tool_sequence, llm_case

    class Weather(pydantic.BaseModel):
        city: str
        unit: str

    WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
    QUESTION = "Weather in Paris?"
"""

CASES = {
    "openai_chat": """
        @llm_case
        def test_tools(llm_client, llm_model, llm_calls):
            tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}]
            ask = dict(model=llm_model, tools=tools, messages=[{"role": "user", "content": QUESTION}])
            llm_client.chat.completions.create(**ask)
            list(llm_client.chat.completions.create(**ask, stream=True))
            check(llm_calls)
    """,
    "openai_responses": """
        @llm_case
        def test_tools(llm_client, llm_model, llm_calls):
            tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}]
            plain = llm_client.responses.create(model=llm_model, tools=tools, input=QUESTION)
            assert [item.type for item in plain.output] == ["function_call"]
            with llm_client.responses.stream(model=llm_model, tools=tools, input=QUESTION) as stream:
                final = stream.get_final_response()
            assert [item.name for item in final.output] == ["get_weather"]
            check(llm_calls)
    """,
    "anthropic": """
        import anthropic

        @llm_case
        def test_tools(llm_calls):
            client = anthropic.Anthropic(base_url=os.environ["ROOT_URL"], max_retries=0)
            tools = [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}]
            ask = dict(model="claude-haiku-4-5", max_tokens=64, tools=tools,
                       messages=[{"role": "user", "content": QUESTION}])
            client.messages.create(**ask)
            with client.messages.stream(**ask) as stream:
                stream.get_final_message()
            check(llm_calls)
    """,
    "gemini": """
        from google import genai
        from google.genai import types

        @llm_case
        def test_tools(llm_calls):
            options = types.HttpOptions(base_url=os.environ["ROOT_URL"],
                                        retry_options=types.HttpRetryOptions(attempts=1))
            client = genai.Client(http_options=options)
            config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[
                types.FunctionDeclaration(name="get_weather", parameters=WEATHER_SCHEMA)])])
            client.models.generate_content(model="gemini-2.5-flash", contents=QUESTION, config=config)
            list(client.models.generate_content_stream(
                model="gemini-2.5-flash", contents=QUESTION, config=config))
            check(llm_calls)
    """,
    "cohere": """
        import cohere

        @llm_case
        def test_tools(llm_calls):
            client = cohere.ClientV2(base_url=os.environ["ROOT_URL"], max_retries=0)
            tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}]
            ask = dict(model="command-a-03-2025", tools=tools,
                       messages=[{"role": "user", "content": QUESTION}])
            list(client.chat_stream(**ask))
            client.chat(**ask)
            check(llm_calls, streamed_first=True)
    """,
}


@pytest.fixture
def tool_inner(inner, monkeypatch):
    for name in PROVIDER_KEYS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ROOT_URL", inner.server.root_url)
    return inner


def _module(body: str) -> str:
    return textwrap.dedent(HEADER) + textwrap.dedent(CHECKS) + textwrap.dedent(body)


def _record_then_replay(inner, monkeypatch, source: str, keys: dict[str, str]) -> None:
    inner.write(source)
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    recorded = inner.record()
    recorded.assert_outcomes(passed=1)
    for name in keys:
        monkeypatch.delenv(name)
    served = len(inner.server.requests)
    replayed = inner.replay()
    replayed.assert_outcomes(passed=1)
    assert len(inner.server.requests) == served, "replay must not reach the API"


@pytest.mark.parametrize("api", sorted(CASES))
def test_every_provider_plain_and_streamed(tool_inner, monkeypatch, api):
    """Tool calls of each provider's wire format, plain and streamed (arguments arriving in
    pieces), are read with their id, name and parsed arguments, recorded and replayed."""
    sdk = {"anthropic": "anthropic", "cohere": "cohere", "gemini": "google.genai"}.get(api)
    if sdk is not None:
        pytest.importorskip(sdk)  # the providers extra (not installed with openai 1.x in CI)
    tool_inner.server.script(chunk_chars=5, replies=[{"tool_calls": [PARIS]}])
    keys = {"gemini": {"GEMINI_API_KEY": "AIzaSyPlantedGeminiKey0123456789abcdefg"}}
    keys["cohere"] = {"CO_API_KEY": "PlantedCohereKey0123456789abcdefghijklmnop"}
    _record_then_replay(tool_inner, monkeypatch, _module(CASES[api]), keys.get(api, {}))


AGENT_SCRIPT = [
    {
        "tool_calls": [
            {"name": "search", "arguments": {"query": "hotels in Oslo", "limit": 3}},
            {
                "name": "get_weather",
                "arguments": {
                    "city": "Oslo",
                    "days": [1, 2],
                    "options": {"unit": "C", "wind": True},
                },
            },
            {"name": "book", "arguments": "not json"},
        ]
    }
]

AGENT_PREAMBLE = """
    import pydantic
    import pytest
    from pytest_llm import assert_tool_called, assert_tool_sequence, llm_case

    class Weather(pydantic.BaseModel):
        city: str
        days: list[int]

    class Booking(pydantic.BaseModel):
        hotel: str

    def ask(llm_client, llm_model):
        llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": "Plan my trip to Oslo"}])
"""

AGENT_CASES = """
    @llm_case
    def test_called(llm_client, llm_model, llm_calls):
        ask(llm_client, llm_model)
        [found] = assert_tool_called("get_weather", args={"options": {"unit": "C"}})
        assert found["arguments"]["days"] == [1, 2]
        assert assert_tool_called("search", times=1)[0]["arguments"] == {"query": "hotels in Oslo", "limit": 3}
        assert assert_tool_called("get_weather", args={"days": [1, 2]}, calls=llm_calls)
        assert assert_tool_called("get_weather", args=Weather)
        schema = {"type": "object", "properties": {"city": {"enum": ["Oslo"]}}, "required": ["city"]}
        assert assert_tool_called("get_weather", args=schema)
        assert assert_tool_called("cancel", times=0) == []
        assert assert_tool_called("book")[0]["arguments"] == "not json"

    @llm_case
    def test_called_failures(llm_client, llm_model):
        ask(llm_client, llm_model)
        with pytest.raises(AssertionError) as raised:
            assert_tool_called("get_weather", args={"options": {"unit": "F"}})
        message = str(raised.value)
        assert 'tool get_weather with arguments containing {"options": {"unit": "F"}} was not called' in message
        assert '$.options.unit: "C" != "F"' in message
        assert "tool calls made (3 in 1 LLM call):" in message
        assert '1. search({"query": "hotels in Oslo", "limit": 3})' in message
        assert "3. book(not json)" in message
        with pytest.raises(AssertionError, match=r"tool search was called 1 time\\(s\\), expected exactly 2"):
            assert_tool_called("search", times=2)
        with pytest.raises(AssertionError, match=r"(?s)\\$.days\\[1\\]: 2 != 3"):
            assert_tool_called("get_weather", args={"days": [1, 3]})
        with pytest.raises(AssertionError, match=r"(?s)\\$.options.wind: true != 1"):
            assert_tool_called("get_weather", args={"options": {"wind": 1}})
        with pytest.raises(AssertionError, match="(?s)arguments valid for Booking.*'hotel' is a required"):
            assert_tool_called("search", args=Booking)
        with pytest.raises(AssertionError, match="book.*not a JSON object"):
            assert_tool_called("book", args={"hotel": "x"})
        with pytest.raises(AssertionError, match="tool translate was not called"):
            assert_tool_called("translate")

    @llm_case
    def test_sequence_modes(llm_client, llm_model):
        ask(llm_client, llm_model)
        made = ["search", "get_weather", "book"]
        assert assert_tool_sequence(made) == made
        assert assert_tool_sequence(["search", ("get_weather", {"city": "Oslo"}), "book"]) == made
        assert assert_tool_sequence(["book", "search", "get_weather"], mode="unordered") == made
        assert assert_tool_sequence([*made, "cancel"], mode="subset") == made
        assert assert_tool_sequence([("get_weather", Weather), "search"], mode="superset") == made
        assert assert_tool_sequence([], mode="superset") == made

    @llm_case
    def test_sequence_failures(llm_client, llm_model):
        ask(llm_client, llm_model)
        with pytest.raises(AssertionError) as raised:
            assert_tool_sequence(["search", "book", "get_weather"])
        message = str(raised.value)
        assert "tool calls do not match the expected sequence (mode=strict):" in message
        assert 'position 2: expected book, got get_weather({"city": "Oslo"' in message
        assert "expected: [search, book, get_weather]" in message
        with pytest.raises(AssertionError, match="(?s)position 2: .*city.*Bergen.*"):
            assert_tool_sequence(["search", ("get_weather", {"city": "Bergen"}), "book"])
        with pytest.raises(AssertionError, match="3 tool call\\\\(s\\\\) made, 2 expected"):
            assert_tool_sequence(["search", "get_weather"])
        with pytest.raises(AssertionError, match="made, not expected: book"):
            assert_tool_sequence(["search", "get_weather"], mode="unordered")
        with pytest.raises(AssertionError, match="expected, not made: search"):
            assert_tool_sequence(["search", "search", "get_weather", "book"], mode="unordered")
        with pytest.raises(AssertionError, match="made, not expected: book"):
            assert_tool_sequence(["search", "get_weather"], mode="subset")
        with pytest.raises(AssertionError, match="(?s)expected, not made: get_weather .*Bergen"):
            assert_tool_sequence([("get_weather", {"city": "Bergen"})], mode="superset")

    @llm_case
    def test_a_failure_in_the_report(llm_client, llm_model):
        ask(llm_client, llm_model)
        assert_tool_sequence(["get_weather", "search"])
"""


def test_modes_arguments_and_messages_record_and_replay(inner):
    inner.server.script(replies=AGENT_SCRIPT)
    inner.write(textwrap.dedent(AGENT_PREAMBLE) + textwrap.dedent(AGENT_CASES))
    for result in (inner.record(), inner.replay()):
        result.assert_outcomes(passed=4, failed=1)
        result.stdout.fnmatch_lines(
            [
                "*AssertionError: tool calls do not match the expected sequence (mode=strict):",
                '*position 1: expected get_weather, got search({"query": "hotels in Oslo", "limit": 3})',
                "*expected: [[]get_weather, search]",
                "*tool calls made (3 in 1 LLM call):",
                '*2. get_weather({"city": "Oslo", "days": [[]1, 2], "options": {"unit": "C", "wind": true}})',
            ]
        )
        assert "INTERNALERROR" not in result.stdout.str()


def test_no_call_and_no_tool_call_are_clear_failures(inner):
    inner.server.script(replies=[{"text": "Sunny."}])
    inner.write(
        """
        from pytest_llm import assert_tool_called, assert_tool_sequence, llm_case

        @llm_case
        def test_no_call():
            assert_tool_called("get_weather")

        @llm_case
        def test_no_tool_call(llm_client, llm_model):
            llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": "hi"}])
            assert_tool_sequence(["get_weather"], mode="superset")

        def test_outside_a_case():
            assert_tool_called("get_weather")
        """
    )
    result = inner.record()
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines_random(
        [
            "*assert_tool_called: no LLM call was made so far in this test, so no tool was called",
            "*expected, not made: get_weather",
            "*no tool calls were made (1 LLM call)",
            "*RuntimeError: assert_tool_called needs an LLM case*",
        ]
    )


def _call(*tools: dict[str, object]) -> LLMCall:
    return LLMCall(
        endpoint="chat.completions",
        model="m",
        messages=[],
        text="",
        latency_s=None,
        ttft_s=None,
        prompt_tokens=None,
        completion_tokens=None,
        tool_calls=parsed_tool_calls(tools),
    )


CALLS = [_call({"id": "1", "name": "search", "arguments": '{"q": "x"}'})]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: assert_tool_called(3), TypeError, "name must be a tool name"),  # type: ignore[arg-type]
        (lambda: assert_tool_called(""), ValueError, "non-empty tool name"),
        (lambda: assert_tool_called("search", times=-1), ValueError, "times must be 0 or more"),
        (lambda: assert_tool_called("search", times=True), TypeError, "times must be an int"),
        (lambda: assert_tool_called("search", args=["q"]), TypeError, "args must be a dict"),
        (lambda: assert_tool_called("search", calls="x"), TypeError, "calls must be a list"),
        (
            lambda: assert_tool_called("search", calls=[{"tool_calls": []}]),
            TypeError,
            r"calls\[0\]",
        ),
        (lambda: assert_tool_sequence(["search"], mode="any"), ValueError, "unknown mode 'any'"),
        (lambda: assert_tool_sequence("search"), TypeError, "a list of tool names"),
        (lambda: assert_tool_sequence([("search",)]), TypeError, r"expected\[0\] must be"),
        (lambda: assert_tool_sequence([("search", 3)]), TypeError, r"expected\[0\]\[1\] must be"),
    ],
)
def test_bad_arguments_are_errors_of_the_test(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_given_calls_and_parsed_arguments():
    assert CALLS[0].tool_calls[0]["arguments"] == {"q": "x"}
    assert assert_tool_called("search", args={"q": "x"}, calls=CALLS)[0]["id"] == "1"
    assert assert_tool_sequence(["search"], calls=CALLS) == ["search"]
    with pytest.raises(AssertionError, match="no LLM call was made in the given calls"):
        assert_tool_called("search", calls=[])
    # arguments that are JSON but not an object, or not JSON, stay as they came
    assert [
        tool["arguments"]
        for tool in _call(
            {"name": "a", "arguments": "[1]"},
            {"name": "b", "arguments": '{"a"'},
            {"name": "c", "arguments": ""},
        ).tool_calls
    ] == ["[1]", '{"a"', {}]
