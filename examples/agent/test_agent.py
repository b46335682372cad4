"""LLM cases for the travel agent. `pytest examples` replays them from cassettes/ offline:
the model's answers and the results of the recorded tool (get_weather) alike."""

from __future__ import annotations

import json

import pytest
from travel_agent import TravelAgent

from pytest_llm import llm_case


@pytest.fixture
def agent(llm_model: str) -> TravelAgent:
    return TravelAgent(model=llm_model)  # builds its own OpenAI() client


def _tool_calls(llm_calls) -> list[tuple[str, dict]]:
    """(name, arguments) of every tool call the model asked for, in order."""
    return [
        (call["name"], _parsed(call["arguments"])) for item in llm_calls for call in item.tool_calls
    ]


def _parsed(arguments: str | dict) -> dict:
    return json.loads(arguments) if isinstance(arguments, str) else arguments


@llm_case
def test_umbrella_for_bergen(agent: TravelAgent, llm_calls) -> None:
    answer = agent.ask("Should I pack an umbrella for Bergen tomorrow?")
    assert "umbrella" in answer.lower()
    assert _tool_calls(llm_calls) == [("get_weather", {"city": "Bergen"})]
    assert len(llm_calls) == 2  # the tool call turn, then the answer


@llm_case
def test_warmer_city_two_tools_at_once(agent: TravelAgent, llm_calls) -> None:
    answer = agent.ask("Which is warmer tomorrow, Oslo or Lisbon?")
    assert "Lisbon" in answer
    assert _tool_calls(llm_calls) == [
        ("get_weather", {"city": "Oslo"}),
        ("get_weather", {"city": "Lisbon"}),
    ]
    # the second request sends both results back, each under its tool call's id
    sent_back = [m for m in llm_calls[1].request["messages"] if m["role"] == "tool"]
    asked = {call["id"] for call in llm_calls[0].tool_calls}
    assert {m["tool_call_id"] for m in sent_back} == asked


@llm_case(tags=["multi-turn"])
def test_budget_in_euros_over_three_turns(agent: TravelAgent, llm_calls) -> None:
    answer = agent.ask("Is it sunny in Lisbon tomorrow, and what is 2000 NOK in euros?")
    assert "170" in answer
    assert [name for name, _ in _tool_calls(llm_calls)] == ["get_weather", "convert_currency"]
    assert len(llm_calls) == 3
