"""Three-turn tool conversations on every API stay consistent through a whole cassette life:
record, replay, re-record, replay, re-record on another model, replay on it.

The local server makes up fresh ids on every call (tool call ids, response ids), and the
application sends them back in the next request: a re-record that did not carry the old ids
into every later request would miss in replay. Concurrent calls, whose arrival order is
reversed on every re-record, must not flip any case either.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

# Imported here, once: pytester's in-process runs would import the SDKs anew every session.
anthropic = pytest.importorskip("anthropic")
boto3 = pytest.importorskip("boto3")
genai = pytest.importorskip("google.genai")

FINAL = "Sunny at nine in Paris."
#: Turn 1 asks for the weather, turn 2 (after its result) for the time, turn 3 answers.
SCRIPT = [
    {"times": 1, "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
    {"times": 1, "tool_calls": [{"name": "get_time", "arguments": {"city": "Paris"}}]},
    {"text": FINAL},
]

KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
)
#: google-genai needs a key to build a client when recording; replay runs with none.
PLANTED_GEMINI_KEY = "AIzaSyPlantedGeminiKey0123456789abcdefg"

OPENAI_CHAT = """
    import json
    from pytest_llm import llm_case

    TOOLS = [{"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}
             for name in ("get_weather", "get_time")]

    @llm_case
    def test_conversation(llm_client, llm_model):
        messages = [{"role": "user", "content": "Plan my day in Paris"}]
        for turn, name in enumerate(("get_weather", "get_time")):
            reply = llm_client.chat.completions.create(model=llm_model, messages=messages, tools=TOOLS)
            (call,) = reply.choices[0].message.tool_calls
            assert call.function.name == name
            messages += [
                reply.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"turn": turn})},
            ]
        final = llm_client.chat.completions.create(model=llm_model, messages=messages, tools=TOOLS)
        assert final.choices[0].message.content == "FINAL"
"""

OPENAI_RESPONSES = """
    from pytest_llm import llm_case

    TOOLS = [{"type": "function", "name": name, "parameters": {"type": "object", "properties": {}}}
             for name in ("get_weather", "get_time")]

    @llm_case
    def test_conversation(llm_client, llm_model):
        reply = llm_client.responses.create(model=llm_model, input="Plan my day in Paris", tools=TOOLS)
        for turn, name in enumerate(("get_weather", "get_time")):
            (call,) = [item for item in reply.output if item.type == "function_call"]
            assert call.name == name
            reply = llm_client.responses.create(
                model=llm_model, tools=TOOLS, previous_response_id=reply.id,
                input=[{"type": "function_call_output", "call_id": call.call_id, "output": f"result {turn}"}],
            )
        assert reply.output_text == "FINAL"
"""

ANTHROPIC_MESSAGES = """
    import anthropic
    from pytest_llm import llm_case

    TOOLS = [{"name": name, "description": name, "input_schema": {"type": "object", "properties": {}}}
             for name in ("get_weather", "get_time")]

    @llm_case
    def test_conversation(llm_model):
        client = anthropic.Anthropic(base_url="ROOT_URL", max_retries=0)
        messages = [{"role": "user", "content": "Plan my day in Paris"}]
        for turn, name in enumerate(("get_weather", "get_time")):
            reply = client.messages.create(model=llm_model, max_tokens=64, tools=TOOLS, messages=messages)
            (use,) = [block for block in reply.content if block.type == "tool_use"]
            assert use.name == name
            messages += [
                {"role": "assistant", "content": [use.model_dump(include={"type", "id", "name", "input"})]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": use.id, "content": f"result {turn}"}]},
            ]
        final = client.messages.create(model=llm_model, max_tokens=64, tools=TOOLS, messages=messages)
        assert final.content[0].text == "FINAL"
"""

GEMINI = """
    from google import genai
    from google.genai import types
    from pytest_llm import llm_case

    TOOLS = types.Tool(function_declarations=[
        types.FunctionDeclaration(name=name, description=name,
                                  parameters={"type": "object", "properties": {"city": {"type": "string"}}})
        for name in ("get_weather", "get_time")])
    NO_RETRY = types.HttpOptions(base_url="ROOT_URL", retry_options=types.HttpRetryOptions(attempts=1))

    @llm_case
    def test_conversation(llm_model):
        client = genai.Client(http_options=NO_RETRY)
        config = types.GenerateContentConfig(tools=[TOOLS])
        contents = [types.Content(role="user", parts=[types.Part.from_text(text="Plan my day in Paris")])]
        for turn, name in enumerate(("get_weather", "get_time")):
            reply = client.models.generate_content(model=llm_model, contents=contents, config=config)
            (call,) = reply.function_calls
            assert call.name == name
            contents += [
                reply.candidates[0].content,
                types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
                    id=call.id, name=call.name, response={"result": turn}))]),
            ]
        final = client.models.generate_content(model=llm_model, contents=contents, config=config)
        assert final.text == "FINAL"
"""

BEDROCK = """
    import boto3
    from botocore.config import Config
    from pytest_llm import llm_case

    TOOLS = {"tools": [{"toolSpec": {"name": name, "description": name,
              "inputSchema": {"json": {"type": "object", "properties": {}}}}}
             for name in ("get_weather", "get_time")]}

    @llm_case
    def test_conversation(llm_model):
        client = boto3.client("bedrock-runtime", endpoint_url="ROOT_URL", region_name="us-east-1",
                              config=Config(retries={"max_attempts": 1}))
        messages = [{"role": "user", "content": [{"text": "Plan my day in Paris"}]}]
        for turn, name in enumerate(("get_weather", "get_time")):
            reply = client.converse(modelId=llm_model, messages=messages, toolConfig=TOOLS)
            (block,) = reply["output"]["message"]["content"]
            use = block["toolUse"]
            assert use["name"] == name
            messages += [
                {"role": "assistant", "content": [{"toolUse": use}]},
                {"role": "user", "content": [{"toolResult": {
                    "toolUseId": use["toolUseId"], "content": [{"text": f"result {turn}"}]}}]},
            ]
        final = client.converse(modelId=llm_model, messages=messages, toolConfig=TOOLS)
        assert final["output"]["message"]["content"][0]["text"] == "FINAL"
"""

#: api -> (inner test module, the model the app starts with)
APIS = {
    "openai-chat": (OPENAI_CHAT, "gpt-4o-mini"),
    "openai-responses": (OPENAI_RESPONSES, "gpt-4o-mini"),
    "anthropic-messages": (ANTHROPIC_MESSAGES, "claude-haiku-4-5"),
    "gemini": (GEMINI, "gemini-2.5-flash"),
    "bedrock-converse": (BEDROCK, "anthropic.claude-3-5-sonnet-20240620-v1:0"),
}


@pytest.fixture
def inner(inner: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """No key or endpoint variable of any SDK, and a fresh boto3 default session in every
    inner session (it caches the credentials it found)."""
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    inner.pytester.makeconftest(
        """
        import boto3
        import pytest

        @pytest.fixture(autouse=True)
        def fresh_boto3_default_session():
            boto3.DEFAULT_SESSION = None
        """
    )
    return inner


def _cycle_steps(inner: Any) -> list[tuple[str, Callable[[], pytest.RunResult]]]:
    return [
        ("record", inner.record),
        ("replay", inner.replay),
        ("rerecord", inner.rerecord),
        ("replay", inner.replay),
        ("rerecord on another model", lambda: inner.rerecord("--llm-model=other")),
        ("replay on another model", lambda: inner.replay("--llm-model=other")),
    ]


@pytest.mark.parametrize("api", list(APIS))
def test_a_three_turn_tool_conversation_survives_record_replay_and_rerecords(
    inner: Any, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    source, model = APIS[api]
    inner.write(source.replace("ROOT_URL", inner.server.root_url).replace("FINAL", FINAL))
    inner.pytester.makeini(f"[pytest]\nllm_model = {model}\n")
    for step, run in _cycle_steps(inner):
        served = len(inner.server.requests)
        if step.startswith("replay"):
            monkeypatch.delenv("GEMINI_API_KEY", raising=False)
        else:
            inner.server.script(replies=SCRIPT)
            if api == "gemini":
                monkeypatch.setenv("GEMINI_API_KEY", PLANTED_GEMINI_KEY)
        result = run()
        outcomes = result.parseoutcomes()
        assert outcomes.get("passed") == 1 and len(outcomes) == 1, (
            f"{api}: {step} failed:\n{result.stdout.str()}"
        )
        sent = len(inner.server.requests) - served
        if step.startswith("replay"):
            assert sent == 0, f"{api}: {step} reached the server"
        else:
            assert sent == 3, f"{api}: {step} sent {sent} requests, not one per turn"
    text = inner.cassette("test_conversation").read_text()
    assert "other" in text


QUESTIONS = ("alpha", "bravo", "charlie")
CONCURRENT = """
    import asyncio
    from pytest_llm import llm_case

    QUESTIONS = ("alpha", "bravo", "charlie")

    @llm_case
    def test_concurrent(llm_async_client, llm_model):
        async def ask(word):
            reply = await llm_async_client.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": f"Tell me about {word}"}])
            return reply.choices[0].message.content

        async def ask_all():
            return await asyncio.gather(*(ask(word) for word in QUESTIONS))

        assert asyncio.run(ask_all()) == [f"All about {word}." for word in QUESTIONS]
"""
RERECORDS = 5
#: Seconds between two answers' latencies: far more than the jitter of a loaded machine.
LATENCY_STEP_S = 0.4


def _concurrent_script() -> list[dict[str, object]]:
    """One script for the record and every re-record: each question has one single-use rule
    per run, so run ``k`` answers ``alpha``, ``bravo``, ``charlie`` in this order when ``k``
    is even and in the reverse order when it is odd: every re-record's arrival order is the
    reverse of the run before it (a machine loaded enough may still reorder some)."""
    replies: list[dict[str, object]] = []
    for run in range(1 + RERECORDS):
        for position, word in enumerate(QUESTIONS):
            rank = position if run % 2 == 0 else len(QUESTIONS) - 1 - position
            replies.append(
                {
                    "match": word,
                    "times": 1,
                    "text": f"All about {word}.",
                    "latency_s": rank * LATENCY_STEP_S,
                }
            )
    return replies


def _recorded_order(cassette: Path) -> list[str]:
    """The questions in the order the cassette holds their interactions."""
    interactions = yaml.safe_load(cassette.read_text())["interactions"]
    return [i["request"]["json"]["messages"][0]["content"].split()[-1] for i in interactions]


def test_concurrent_calls_rerecorded_five_times_report_no_phantom_flips(
    inner: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    inner.write(CONCURRENT)
    inner.server.script(replies=_concurrent_script())
    recorded = inner.record()
    recorded.assert_outcomes(passed=1)
    assert len(inner.server.requests) == len(QUESTIONS)
    # The scripted latencies set the order of arrival; a loaded machine may still reorder a
    # run, so the orders are observed (not asserted) and the test needs only some run whose
    # order differs from the cassette it re-records.
    order = _recorded_order(inner.cassette("test_concurrent"))
    flips = reordered = 0
    for run in range(1, 1 + RERECORDS):
        report = inner.pytester.path / f"r{run}.json"
        served = len(inner.server.requests)
        inner.rerecord(f"--llm-report={report}").assert_outcomes(passed=1)
        assert len(inner.server.requests) - served == len(QUESTIONS)
        previous_order, order = order, _recorded_order(inner.cassette("test_concurrent"))
        assert sorted(order) == sorted(QUESTIONS)
        reordered += order != previous_order
        cases = json.loads(report.read_text())["cases"]
        flips += sum(case["change"] in ("fixed", "regressed") for case in cases)
        served = len(inner.server.requests)
        inner.replay().assert_outcomes(passed=1)
        assert len(inner.server.requests) == served, "replay reached the server"
    with capsys.disabled():
        print(f"\nphantom flips over {RERECORDS} re-records ({reordered} reordered): {flips}")
    assert reordered, "no re-record arrived in another order: the test proved nothing"
    assert flips == 0
