"""@llm_tool: tool functions whose calls are recorded in the case's cassette and replayed.

Inner sessions drive a small tool-calling agent with the real openai SDK against the local
server; the tool writes a line to ``tool_runs.log`` each time it really runs, and reads the
temperatures it answers from ``world.json`` (changed between runs to tell old results from new).
"""

from __future__ import annotations

import json

import pytest
import yaml

AGENT = """
    import asyncio
    import json
    import pathlib

    from pytest_llm import llm_case, llm_tool

    HERE = pathlib.Path(__file__).parent
    TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]

    def _look_up(city):
        with (HERE / "tool_runs.log").open("a") as log:
            log.write(f"get_weather {city}\\n")
        world = json.loads((HERE / "world.json").read_text())
        return {"city": city, "temperature_c": world.get(city, 0)}

    @llm_tool
    def get_weather(city: str) -> dict:
        return _look_up(city)

    @llm_tool(name="get_weather")
    async def get_weather_async(city: str) -> dict:
        await asyncio.sleep(0)
        return _look_up(city)

    def agent(client, model, question):
        messages = [{"role": "user", "content": question}]
        for _ in range(4):
            reply = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
            message = reply.choices[0].message
            if not message.tool_calls:
                return message.content
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                result = get_weather(**json.loads(call.function.arguments))
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
                )
        raise AssertionError("no final answer")

    async def async_agent(client, model, question):
        messages = [{"role": "user", "content": question}]
        for _ in range(4):
            reply = await client.chat.completions.create(
                model=model, messages=messages, tools=TOOLS
            )
            message = reply.choices[0].message
            if not message.tool_calls:
                return message.content
            messages.append(message.model_dump(exclude_none=True))
            results = await asyncio.gather(*(
                get_weather_async(**json.loads(call.function.arguments))
                for call in message.tool_calls
            ))
            for call, result in zip(message.tool_calls, results):
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
                )
        raise AssertionError("no final answer")

    @llm_case
    def test_weather(llm_client, llm_model):
        assert "sunny" in agent(llm_client, llm_model, "Weather in Paris?")

    @llm_case
    def test_weather_async(llm_async_client, llm_model):
        answer = asyncio.run(async_agent(llm_async_client, llm_model, "Weather in Paris?"))
        assert "sunny" in answer
"""


def _script(*tool_calls: tuple[str, dict[str, object]]) -> dict[str, object]:
    return {
        "replies": [
            {
                "match": "weather",
                "times": 1,
                "tool_calls": [
                    {"name": name, "arguments": arguments} for name, arguments in tool_calls
                ],
            },
            {"match": "weather", "text": "It is sunny."},
        ]
    }


@pytest.fixture
def agent(inner):
    inner.write(AGENT)
    (inner.pytester.path / "world.json").write_text(json.dumps({"Paris": 21, "Oslo": 4}))
    return inner


def _runs(inner) -> list[str]:
    log = inner.pytester.path / "tool_runs.log"
    return log.read_text().splitlines() if log.exists() else []


def _tools(inner, test: str) -> list[dict[str, object]]:
    return yaml.safe_load(inner.cassette(test).read_text())["tools"]


@pytest.mark.parametrize("test", ["test_weather", "test_weather_async"])
def test_record_replay_rerecord_with_old_tool_results(agent, test):
    inner = agent
    inner.server.script(**_script(("get_weather", {"city": "Paris"})))
    inner.record(f"test_app.py::{test}").assert_outcomes(passed=1)
    assert _runs(inner) == ["get_weather Paris"]
    assert _tools(inner, test) == [
        {
            "name": "get_weather",
            "arguments": {"city": "Paris"},
            "result": {"city": "Paris", "temperature_c": 21},
        }
    ]

    inner.replay(f"test_app.py::{test}").assert_outcomes(passed=1)
    assert _runs(inner) == ["get_weather Paris"], "in replay the tool must not run"

    # the world changed; the new model asks for Paris and Oslo
    (inner.pytester.path / "world.json").write_text(json.dumps({"Paris": 30, "Oslo": 5}))
    inner.server.script(
        **_script(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"}))
    )
    result = inner.rerecord(
        f"test_app.py::{test}", "--llm-tools", "replay", "--llm-report", "report.json"
    )
    result.assert_outcomes(passed=1)
    assert _runs(inner) == ["get_weather Paris", "get_weather Oslo"], "only Oslo runs live"
    tools = _tools(inner, test)
    assert [call["result"] for call in tools] == [
        {"city": "Paris", "temperature_c": 21},  # the old world
        {"city": "Oslo", "temperature_c": 5},
    ]
    result.stdout.fnmatch_lines(["*tool calls run live*", f"*{test}*get_weather*Oslo*"])
    report = json.loads((inner.pytester.path / "report.json").read_text())
    [case] = report["cases"]
    assert case["live_tool_calls"] == [{"name": "get_weather", "arguments": {"city": "Oslo"}}]

    inner.replay(f"test_app.py::{test}").assert_outcomes(passed=1)
    assert len(_runs(inner)) == 2


def test_rerecord_with_live_tools_runs_every_call(agent):
    inner = agent
    inner.server.script(**_script(("get_weather", {"city": "Paris"})))
    inner.record("test_app.py::test_weather").assert_outcomes(passed=1)
    (inner.pytester.path / "world.json").write_text(json.dumps({"Paris": 30}))
    inner.server.script(**_script(("get_weather", {"city": "Paris"})))
    result = inner.rerecord("test_app.py::test_weather", "--llm-report", "report.json")
    result.assert_outcomes(passed=1)
    assert _runs(inner) == ["get_weather Paris", "get_weather Paris"]
    assert _tools(inner, "test_weather")[0]["result"]["temperature_c"] == 30
    assert (
        json.loads((inner.pytester.path / "report.json").read_text())["cases"][0]["live_tool_calls"]
        is None
    )
