"""Mistral's chat API, driven by the real ``mistralai`` SDK against the local server over real
sockets. Mistral speaks OpenAI's ``/v1/chat/completions`` format, so its calls are the OpenAI
provider's: this proves the SDK records, replays with no key at all, and is understood."""

from __future__ import annotations

import json
import textwrap

import pytest

from pytest_llm.cassette.interaction import Interaction
from pytest_llm.providers import llm_call

pytest.importorskip("mistralai")

PLANTED_KEY = "PlantedMistralKey0123456789abcdefghij"
MODEL = "mistral-small-latest"

#: The client as an application builds it: no key argument (the SDK reads MISTRAL_API_KEY, and
#: builds without one), the server from the URL --llm-base-url exports (not matched in replay).
PREAMBLE = f"""
    import json
    import os

    from mistralai.client import Mistral
    from pytest_llm import llm_case

    MODEL = "{MODEL}"

    def client():
        base = os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:9/v1").removesuffix("/v1")
        return Mistral(server_url=base)

    def user(text):
        return [{{"role": "user", "content": text}}]
"""

CASES = """
    TOOLS = [{
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }]

    @llm_case
    def test_mistral(llm_calls):
        mistral = client()
        plain = mistral.chat.complete(model=MODEL, messages=user("What is the refund window?"))
        assert plain.choices[0].message.content == "Refunds are accepted within 30 days."
        pieces = [
            event.data.choices[0].delta.content or ""
            for event in mistral.chat.stream(model=MODEL, messages=user("Tell me a short story"))
            if event.data.choices
        ]
        assert "".join(pieces) == "Once upon a time a test passed." and len(pieces) > 3
        asked = mistral.chat.complete(
            model=MODEL, messages=user("What is the weather in Paris?"), tools=TOOLS)
        [tool_call] = asked.choices[0].message.tool_calls
        assert json.loads(tool_call.function.arguments) == {"city": "Paris"}

        said, streamed, tool_turn = llm_calls
        assert [call.provider for call in llm_calls] == ["openai"] * 3  # OpenAI's format
        assert [call.endpoint for call in llm_calls] == ["chat.completions"] * 3
        assert [call.model for call in llm_calls] == [MODEL] * 3
        assert said.text == "Refunds are accepted within 30 days."
        assert (said.prompt_tokens, said.completion_tokens) == (5, 6)
        assert said.messages == user("What is the refund window?")
        assert said.latency_s is not None and said.ttft_s is None
        assert streamed.stream and streamed.text == "Once upon a time a test passed."
        assert streamed.ttft_s is not None and 0 <= streamed.ttft_s <= streamed.latency_s
        [call] = tool_turn.tool_calls
        assert (call["id"], call["name"]) == (tool_call.id, "get_weather")
        assert call["arguments"] == {"city": "Paris"}
"""


def _case(body: str) -> str:
    return PREAMBLE + textwrap.indent(textwrap.dedent(body), "    ")


@pytest.fixture
def no_mistral_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)


def test_mistralai_records_and_replays_with_no_key(inner, monkeypatch, no_mistral_key):
    inner.server.script(
        chunk_chars=3,
        replies=[
            {"match": "refund", "text": "Refunds are accepted within 30 days."},
            {"match": "story", "text": "Once upon a time a test passed."},
            {
                "match": "weather",
                "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
            },
        ],
    )
    inner.write(_case(CASES))
    monkeypatch.setenv("MISTRAL_API_KEY", PLANTED_KEY)
    inner.record().assert_outcomes(passed=1)
    monkeypatch.delenv("MISTRAL_API_KEY")
    assert all(r.headers["authorization"] == f"Bearer {PLANTED_KEY}" for r in inner.server.requests)
    text = inner.cassette("test_mistral").read_text()
    assert PLANTED_KEY not in text and "authorization" not in text.lower()
    assert "text: Once upon a time a test passed." in text  # the assembled stream, readable
    received = len(inner.server.requests)
    inner.replay().assert_outcomes(passed=1)
    assert len(inner.server.requests) == received, "replay must not reach the server"


def test_a_cut_off_mistral_stream_is_not_stored(inner, no_mistral_key):
    inner.server.script(replies=[{"text": "one two three four", "fault": "truncate"}])
    inner.write(
        _case(
            """
            @llm_case
            def test_cut():
                events = list(client().chat.stream(model=MODEL, messages=user("hello")))
                assert events  # the SDK stops quietly at the cut
            """
        )
    )
    result = inner.record()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*event stream was cut off*nothing was saved (no cassette was written)*"]
    )
    assert not inner.cassette("test_cut").exists()


def test_mistral_streams_usage_on_the_last_chunk_and_it_is_read() -> None:
    """Real Mistral streams carry ``usage`` on the final chunk without ``stream_options`` (the
    local server, like OpenAI, sends it only when asked): the OpenAI provider reads it there."""
    chunks = [
        {
            "id": "x",
            "model": MODEL,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}],
        },
        {
            "id": "x",
            "model": MODEL,
            "choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
        },
    ]
    stream = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"
    interaction = Interaction(
        method="POST",
        path="/v1/chat/completions",
        request_body=json.dumps({"model": MODEL, "messages": [], "stream": True}).encode(),
        status=200,
        response_headers={"content-type": ["text/event-stream"]},
        response_body=stream.encode(),
    )
    call = llm_call.describe(interaction)
    assert (call.provider, call.text, call.model) == ("openai", "Hi there", MODEL)
    assert (call.prompt_tokens, call.completion_tokens) == (7, 2)


def test_mistral_models_have_built_in_prices() -> None:
    from pytest_llm.providers import pricing

    table = pricing.BUILTIN_PRICES
    assert pricing.price_of(MODEL, table) == (0.10, 0.30)
    assert pricing.price_of("mistral-large-2411", table) == (2.00, 6.00)
    assert pricing.price_of("codestral-latest", table) == (0.30, 0.90)
