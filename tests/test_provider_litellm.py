"""LiteLLM's routes, driven through the real ``litellm`` package against the local server over
real sockets: its openai route (the openai SDK underneath), its anthropic route (its own httpx
client speaking the Messages API) and its ollama_chat route (``/api/chat``, NDJSON streams).
Recorded, then replayed with the server stopped and no key at all."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_llm.testing import LocalOpenAIServer

# Not importorskip: importing litellm before LITELLM_LOCAL_MODEL_COST_MAP is set makes it fetch
# its price map, and retry in a background thread that later runs into a replay's network block.
if importlib.util.find_spec("litellm") is None:
    pytest.skip("litellm is in the providers extra", allow_module_level=True)

KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "OLLAMA_API_KEY",
    "OLLAMA_HOST",
    "OLLAMA_API_BASE",
)

CASES = """
import os

import litellm
from pytest_llm import llm_case

MESSAGES = [{"role": "user", "content": "What is the refund window?"}]
ANSWER = "Refunds are accepted within 30 days."


def root():
    return os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:9/v1").removesuffix("/v1")


# An Ollama model litellm's price map does not know is looked up with /api/show, from its
# logging thread after the call, at OLLAMA_API_BASE (default http://localhost:11434) rather than
# the call's api_base: a request outside the case. A registered model is never looked up.
litellm.register_model({
    "ollama_chat/llama3.2": {
        "litellm_provider": "ollama", "mode": "chat", "max_tokens": 131072,
        "input_cost_per_token": 0.0, "output_cost_per_token": 0.0,
    }
})


def streamed(chunks):
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks)


@llm_case
def test_openai_route(llm_calls):
    reply = litellm.completion(model="openai/gpt-4o-mini", api_base=root() + "/v1", messages=MESSAGES)
    assert reply.choices[0].message.content == ANSWER
    chunks = litellm.completion(
        model="openai/gpt-4o-mini", api_base=root() + "/v1", messages=MESSAGES, stream=True)
    assert streamed(chunks) == ANSWER
    plain, stream = llm_calls
    assert [call.provider for call in llm_calls] == ["openai", "openai"]
    assert (plain.text, plain.model, plain.prompt_tokens, plain.completion_tokens) == (
        ANSWER, "gpt-4o-mini", 5, 6)
    assert stream.text == ANSWER and stream.ttft_s is not None and plain.latency_s is not None
    # with a custom base URL litellm does not ask for stream_options.include_usage
    assert "stream_options" not in stream.request and stream.prompt_tokens is None


@llm_case
def test_anthropic_route(llm_calls):
    model = "anthropic/claude-3-5-haiku-20241022"
    reply = litellm.completion(model=model, api_base=root(), messages=MESSAGES)
    assert reply.choices[0].message.content == ANSWER
    assert streamed(litellm.completion(model=model, api_base=root(), messages=MESSAGES, stream=True)) == ANSWER
    for call in llm_calls:
        assert call.latency_s is not None
        assert (call.provider, call.endpoint, call.text) == ("anthropic", "messages", ANSWER)
        assert (call.model, call.prompt_tokens, call.completion_tokens) == (
            "claude-3-5-haiku-20241022", 5, 6)
    assert llm_calls[1].stream and llm_calls[1].ttft_s is not None


@llm_case
def test_ollama_route(llm_calls):
    reply = litellm.completion(model="ollama_chat/llama3.2", api_base=root(), messages=MESSAGES)
    assert reply.choices[0].message.content == ANSWER
    chunks = litellm.completion(
        model="ollama_chat/llama3.2", api_base=root(), messages=MESSAGES, stream=True)
    assert streamed(chunks) == ANSWER
    chats = list(llm_calls)
    assert [call.endpoint for call in chats] == ["ollama.chat", "ollama.chat"]  # no /api/show
    assert [call.stream for call in chats] == [False, True]
    assert chats[1].ttft_s is not None
    for call in chats:
        assert call.latency_s is not None
        assert (call.provider, call.model, call.text) == ("ollama", "llama3.2", ANSWER)
        assert (call.prompt_tokens, call.completion_tokens) == (5, 6)
"""


@pytest.fixture(scope="module")
def litellm_imported() -> None:
    """litellm imported once (it takes seconds), with its price map read from the package:
    otherwise it fetches it from the network when imported."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # noqa: F401


@pytest.fixture
def inner(inner: Any, litellm_imported: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The shared ``inner`` helper with a server of its own (replay stops it), no key set."""
    for name in KEY_VARIABLES:
        monkeypatch.setenv(name, "")  # so that teardown restores what the inner module sets
        monkeypatch.delenv(name)
    with LocalOpenAIServer() as server:
        yield dataclasses.replace(inner, server=server)


def test_litellm_routes_record_and_replay_with_no_key(inner):
    inner.server.script(replies=[{"text": "Refunds are accepted within 30 days."}])
    inner.write(CASES)
    inner.record().assert_outcomes(passed=3)
    paths = [request.path for request in inner.server.requests]
    assert {"/v1/chat/completions", "/v1/messages", "/api/chat"} <= set(paths)
    assert "/api/show" not in paths  # the registered model is not looked up
    for test in ("test_openai_route", "test_anthropic_route", "test_ollama_route"):
        text = inner.cassette(test).read_text()
        assert "placeholder" not in text and "x-api-key" not in text.lower()
    assert "ndjson: |" in inner.cassette("test_ollama_route").read_text()
    assert "sse: |" in inner.cassette("test_anthropic_route").read_text()
    inner.server.stop()
    inner.replay().assert_outcomes(passed=3)
