"""LLM cases for the support bot. `pytest examples` replays them from cassettes/ offline."""

from __future__ import annotations

import pytest
from support_bot import SupportBot

from pytest_llm import (
    assert_moderation,
    assert_no_pii,
    assert_schema,
    assert_similar,
    llm_case,
)


@pytest.fixture
def bot(llm_model: str) -> SupportBot:
    return SupportBot(model=llm_model)  # builds its own OpenAI() client


@llm_case(latency_budget=2.0, token_budget=200)
def test_return_policy(bot: SupportBot) -> None:
    answer = bot.answer("How do I return an item?")
    assert "30 days" in answer
    assert_similar(answer, "Items can be returned within 30 days with the receipt.", threshold=0.5)
    assert_no_pii(answer)


@llm_case(tags=["streaming"])
def test_streamed_answer_mentions_receipt(bot: SupportBot, llm_calls) -> None:
    answer = bot.answer_streaming("Can I return shoes I bought last week?")
    assert "receipt" in answer
    [call] = llm_calls
    assert call.stream and call.ttft_s is not None and call.ttft_s < call.latency_s


@llm_case
@pytest.mark.parametrize(
    ("ticket", "category"),
    [
        ("My order 1234 arrived broken, I want my money back", "refund"),
        ("Where is my parcel? It has been two weeks", "shipping"),
    ],
    ids=["broken-item", "late-parcel"],
)
def test_ticket_classification(bot: SupportBot, ticket: str, category: str) -> None:
    result = assert_schema(bot.classify(ticket), "schemas/ticket.json")
    assert result["category"] == category


@llm_case
def test_abusive_message_is_screened(bot: SupportBot) -> None:
    assert not bot.is_safe("I will kill the courier if my parcel is late again")
    assert bot.is_safe("Thanks, the parcel arrived today")
    assert_moderation("Thanks, the parcel arrived today")


@llm_case
def test_answer_is_fast_enough(bot: SupportBot, llm_calls) -> None:
    bot.answer("Do you ship to Norway?")
    assert llm_calls[0].latency_s < 2.0  # the recorded latency, also in replay
