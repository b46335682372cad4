"""A small customer-support assistant: the kind of application code pytest-llm tests.

It builds its own ``OpenAI()`` client, as real applications do; the tests never hand it one.
"""

from __future__ import annotations

import json
from typing import Any

from openai import OpenAI

SYSTEM_PROMPT = (
    "You are the support assistant of Northwind Outfitters. Answer in at most two sentences. "
    "Returns are accepted within 30 days with the receipt."
)

CLASSIFY_PROMPT = (
    "Classify the customer ticket. Reply with JSON only: "
    '{"category": "refund" | "shipping" | "other", "urgent": true | false, "summary": "..."}'
)


class SupportBot:
    def __init__(self, model: str = "gpt-4o-mini", client: OpenAI | None = None) -> None:
        self.model = model
        self.client = client or OpenAI()

    def answer(self, question: str) -> str:
        reply = self.client.chat.completions.create(
            model=self.model,
            temperature=0,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": question},
            ],
        )
        return reply.choices[0].message.content or ""

    def answer_streaming(self, question: str) -> str:
        """Stream the answer (as a chat UI would) and return the whole text."""
        stream = self.client.chat.completions.create(
            model=self.model,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": question},
            ],
        )
        return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    def classify(self, ticket: str) -> dict[str, Any]:
        reply = self.client.chat.completions.create(
            model=self.model,
            temperature=0,
            response_format={"type": "json_object"},
            messages=[
                {"role": "system", "content": CLASSIFY_PROMPT},
                {"role": "user", "content": ticket},
            ],
        )
        result: dict[str, Any] = json.loads(reply.choices[0].message.content or "{}")
        return result

    def is_safe(self, text: str) -> bool:
        """Screen a customer message before it reaches a human agent."""
        return not self.client.moderations.create(input=text).results[0].flagged
