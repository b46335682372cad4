"""A small tool-calling travel assistant: several turns, two tools, calls run concurrently.

The model asks for tools; the agent runs them and sends the results back until the model
answers. ``get_weather`` stands in for a paid weather API whose answers change every hour: it
is an ``@llm_tool``, so its calls are recorded in the case's cassette and replayed in CI
without calling the API. ``convert_currency`` is a pure function of its arguments: it runs
as it is, in replay too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openai import OpenAI

from pytest_llm import llm_tool

SYSTEM_PROMPT = (
    "You are a travel assistant. Use the tools for weather and prices; answer in one sentence."
)

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Tomorrow's forecast for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "convert_currency",
            "description": "Convert an amount between currencies.",
            "parameters": {
                "type": "object",
                "properties": {
                    "amount": {"type": "number"},
                    "source": {"type": "string"},
                    "target": {"type": "string"},
                },
                "required": ["amount", "source", "target"],
            },
        },
    },
]

#: What the (imaginary) paid weather service says today; in a real application an HTTP call.
_FORECASTS = {
    "Bergen": {"summary": "rain", "temperature_c": 9},
    "Lisbon": {"summary": "sunny", "temperature_c": 24},
    "Oslo": {"summary": "cloudy", "temperature_c": 12},
}

_RATES = {("NOK", "EUR"): 0.085, ("EUR", "NOK"): 11.7}


@llm_tool
def get_weather(city: str) -> dict[str, Any]:
    """Tomorrow's forecast: a paid API call in real life, recorded in the cassette."""
    forecast = _FORECASTS.get(city, {"summary": "unknown", "temperature_c": None})
    return {"city": city, **forecast}


def convert_currency(amount: float, source: str, target: str) -> dict[str, Any]:
    """A pure function: nothing to record."""
    rate = _RATES[(source.upper(), target.upper())]
    return {"amount": round(amount * rate, 2), "currency": target.upper()}


_HANDLERS: dict[str, Callable[..., dict[str, Any]]] = {
    "get_weather": get_weather,
    "convert_currency": convert_currency,
}


class TravelAgent:
    def __init__(self, model: str = "gpt-4o-mini", client: OpenAI | None = None) -> None:
        self.model = model
        self.client = client or OpenAI()

    def ask(self, question: str, *, max_turns: int = 5) -> str:
        messages: list[Any] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": question},
        ]
        for _ in range(max_turns):
            reply = self.client.chat.completions.create(
                model=self.model, temperature=0, messages=messages, tools=TOOLS
            )
            message = reply.choices[0].message
            if not message.tool_calls:
                return message.content or ""
            messages.append(message.model_dump(exclude_none=True))
            # the tool calls of one turn run concurrently, as agents do
            with ThreadPoolExecutor(max_workers=4) as pool:
                results = list(pool.map(self._run_tool, message.tool_calls))
            for call, result in zip(message.tool_calls, results, strict=True):
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
                )
        raise RuntimeError(f"no answer after {max_turns} turns")

    @staticmethod
    def _run_tool(call: Any) -> dict[str, Any]:
        handler = _HANDLERS[call.function.name]
        return handler(**json.loads(call.function.arguments))
