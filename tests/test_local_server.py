"""The local OpenAI-compatible server, driven over real sockets by the real openai client."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel

from pytest_llm.testing import LocalOpenAIServer, Reply, Script, fake_model
from pytest_llm.testing import server as server_module


def user(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def running_server() -> Iterator[LocalOpenAIServer]:
    with LocalOpenAIServer() as server:
        yield server


@pytest.fixture
def server(running_server: LocalOpenAIServer) -> LocalOpenAIServer:
    running_server.reset()
    return running_server


@pytest.fixture
def client(server: LocalOpenAIServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
        yield client


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def post_json(url: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ------------------------------------------------------------------ chat completions


def test_plain_chat_echoes_last_user_text_with_word_usage(client: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hello there"}]},
    ]
    completion = client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]

    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o"
    assert completion.system_fingerprint and completion.system_fingerprint.startswith("fp_")
    assert completion.choices[0].message.content == "Echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (4, 3)
    assert completion.usage.total_tokens == 7


def test_reply_matches_case_insensitively_and_script_model_answers(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(
        model="gpt-scripted",
        replies=[Reply(match="WEATHER", text="Sunny."), Reply(match="capital", text="Paris.")],
    )

    weather = client.chat.completions.create(model="gpt-4o", messages=user("how is the weather?"))
    capital = client.chat.completions.create(model="gpt-4o", messages=user("Capital of France?"))
    other = client.chat.completions.create(model="gpt-4o", messages=user("anything else"))

    assert weather.choices[0].message.content == "Sunny."
    assert capital.choices[0].message.content == "Paris."
    assert other.choices[0].message.content == "Echo: anything else"
    assert weather.model == "gpt-scripted"


def test_streamed_chat_shares_ids_and_pieces_join_to_the_text(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(replies=[Reply(text="The  quick brown\nfox. ")])

    chunks = list(client.chat.completions.create(model="m", messages=user("go"), stream=True))

    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    pieces = [c.choices[0].delta.content or "" for c in chunks[1:-1]]
    assert pieces == ["The", "  quick", " brown", "\nfox.", " "]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len({(c.id, c.created, c.system_fingerprint) for c in chunks}) == 1
    assert all(c.usage is None for c in chunks)


def test_include_usage_adds_a_final_usage_chunk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="m",
        messages=user("one two three"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 3
    assert chunks[-1].usage.completion_tokens == 4
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_chat_stream_helper_builds_the_final_completion(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(replies=[Reply(text="streamed via helper")])

    with client.chat.completions.stream(model="m", messages=user("hi")) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()

    assert "".join(deltas) == "streamed via helper"
    assert final.choices[0].message.content == "streamed via helper"


def test_tool_calls_plain_and_streamed(server: LocalOpenAIServer, client: openai.OpenAI) -> None:
    call = {"name": "get_weather", "arguments": {"city": "Paris"}}
    server.script(replies=[Reply(tool_calls=[call])])

    completion = client.chat.completions.create(model="m", messages=user("weather?"))
    chunks = list(client.chat.completions.create(model="m", messages=user("weather?"), stream=True))

    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None
    function = message.tool_calls[0].function  # type: ignore[union-attr]
    assert (function.name, json.loads(function.arguments)) == ("get_weather", {"city": "Paris"})
    streamed = [c.choices[0].delta.tool_calls for c in chunks if c.choices[0].delta.tool_calls]
    assert streamed[0][0].function is not None
    assert streamed[0][0].function.name == "get_weather"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_structured_output_returns_the_scripted_json(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    class City(BaseModel):
        name: str
        country: str

    server.script(replies=[Reply(text='{"name": "Paris", "country": "France"}')])

    completion = client.chat.completions.parse(
        model="m", messages=user("a city"), response_format=City
    )

    assert completion.choices[0].message.parsed == City(name="Paris", country="France")
    sent = server.requests[-1].json
    assert sent is not None
    assert sent["response_format"]["type"] == "json_schema"


def test_async_requests_are_served_in_parallel(
    server: LocalOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrency proven without the wall clock: each call's scripted latency becomes a
    rendezvous that lets no call go on before all twenty are inside the server at once. A
    server answering calls one after another never gets there, however fast the machine; a
    parallel one always does, however loaded. The timeouts only bound how long a server that
    fails this is waited for (the client's outlasts the rendezvous, so the count is reported).
    """
    calls = 20
    rendezvous_latency_s = 0.25  # any distinct value: it marks the sleeps to turn into a wait
    all_in_flight = threading.Barrier(calls)
    lock = threading.Lock()
    inside = [0, 0]  # calls in the server now, the most there were at once
    real_sleep = server_module._sleep

    def meet_the_others(seconds: float) -> None:
        if seconds != rendezvous_latency_s:
            real_sleep(seconds)
            return
        with lock:
            inside[0] += 1
            inside[1] = max(inside)
        try:
            all_in_flight.wait(timeout=20)
        except threading.BrokenBarrierError:
            pass  # answer anyway; the count below tells what happened
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(server_module, "_sleep", meet_the_others)
    server.script(latency_s=rendezvous_latency_s)

    async def twenty_calls() -> list[object]:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="sk-test", max_retries=0, timeout=40
        ) as client:
            replies = [
                client.chat.completions.create(model="m", messages=user(f"call {n}"))
                for n in range(calls)
            ]
            done = await asyncio.gather(*replies, return_exceptions=True)
            return [
                r if isinstance(r, BaseException) else r.choices[0].message.content for r in done
            ]

    answers = asyncio.run(twenty_calls())

    assert inside[1] == calls, (
        f"at most {inside[1]} of {calls} concurrent calls were in the server at once: "
        "not served in parallel"
    )
    assert answers == [f"Echo: call {n}" for n in range(calls)]


# ------------------------------------------------------------------ embeddings and moderations


def test_embeddings_base64_default_equals_float_and_similarity_follows_words(
    client: openai.OpenAI,
) -> None:
    texts = ["the cat sat on the mat", "a cat sat on a mat", "quarterly revenue grew strongly"]

    default = client.embeddings.create(model="text-embedding-3-small", input=texts)
    floats = client.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="float"
    )

    vectors = [item.embedding for item in floats.data]
    assert [len(v) for v in vectors] == [64, 64, 64]
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-6) for v in vectors)
    for decoded, exact in zip(default.data, floats.data, strict=True):
        assert decoded.embedding == pytest.approx(exact.embedding, abs=1e-6)
    similar, unrelated = cosine(vectors[0], vectors[1]), cosine(vectors[0], vectors[2])
    assert similar > 0.5
    assert similar > unrelated + 0.3
    assert floats.usage.prompt_tokens == 16


def test_embeddings_are_deterministic_and_honour_dimensions(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(embedding_dimensions=32)

    first = client.embeddings.create(model="e", input="stable text", encoding_format="float")
    again = client.embeddings.create(model="e", input="stable text", encoding_format="float")
    sized = client.embeddings.create(model="e", input="stable text", dimensions=256)

    assert first.data[0].embedding == again.data[0].embedding
    assert len(first.data[0].embedding) == 32
    assert len(sized.data[0].embedding) == 256
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="e", input=[[1, 2, 3]])


def test_moderations_flag_lexicon_hits_only(client: openai.OpenAI) -> None:
    result = client.moderations.create(input=["I will kill them", "nice weather today"])

    threat, calm = result.results
    assert result.model == "omni-moderation-latest"
    assert threat.flagged is True
    assert threat.categories.violence is True
    assert threat.category_scores.violence > 0.5
    assert calm.flagged is False
    assert not any(calm.categories.model_dump().values())
    assert max(calm.category_scores.model_dump().values()) < 0.5


def test_reply_flagged_overrides_moderation_for_matching_inputs(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(replies=[Reply(match="weather", flagged=True, endpoint="moderations")])

    result = client.moderations.create(input=["nice weather", "sunny day"])

    assert [r.flagged for r in result.results] == [True, False]


# ------------------------------------------------------------------ responses


def test_plain_response_has_output_text_and_usage(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(replies=[Reply(match="poem", text="Roses are red.", endpoint="responses")])

    response = client.responses.create(model="gpt-4o", input="write a poem", instructions="rhyme")
    echoed = client.responses.create(
        model="gpt-4o", input=[{"role": "user", "content": "plain words"}]
    )

    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == "Roses are red."
    message = response.output[0]
    assert message.type == "message"
    assert message.id.startswith("msg_")
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (4, 3)
    assert echoed.output_text == "Echo: plain words"


def test_streamed_response_events_arrive_in_api_order(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(replies=[Reply(text="one two three")])

    events = list(client.responses.create(model="m", input="go", stream=True))

    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "one two three"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == "one two three"
    assert completed.response.usage is not None


def test_response_stream_helper_gives_the_final_response(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(replies=[Reply(text="helper output")])

    with client.responses.stream(model="m", input="go") as stream:
        final = stream.get_final_response()

    assert final.output_text == "helper output"


# ------------------------------------------------------------------ rules: rotation, times, errors


def test_text_list_rotates_per_rule(server: LocalOpenAIServer, client: openai.OpenAI) -> None:
    server.script(replies=[Reply(match="pick", text=["A", "B", "C"])])

    answers = [
        client.chat.completions.create(model="m", messages=user("pick one"))
        .choices[0]
        .message.content
        for _ in range(4)
    ]

    assert answers == ["A", "B", "C", "A"]


def test_times_limits_a_rule_then_falls_through(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(replies=[Reply(status=500, times=1), Reply(text="recovered")])

    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=user("x"))
    answer = client.chat.completions.create(model="m", messages=user("x"))

    assert answer.choices[0].message.content == "recovered"


def test_rate_limit_and_server_errors_use_the_openai_error_shape(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(
        replies=[Reply(match="limit", status=429), Reply(match="boom", status=500, text="Kaput.")]
    )

    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="m", messages=user("limit me"))
    with pytest.raises(openai.InternalServerError) as broken:
        client.responses.create(model="m", input="boom")

    assert limited.value.response.headers["retry-after"] == "0"
    assert limited.value.body == {
        "message": "Rate limit reached. Please retry.",
        "type": "rate_limit_exceeded",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert isinstance(broken.value.body, dict)
    assert (broken.value.body["type"], broken.value.body["message"]) == ("server_error", "Kaput.")


def test_unknown_endpoint_is_a_404_with_the_error_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.post("/nowhere", body={}, cast_to=object)

    assert isinstance(missing.value.body, dict)
    assert missing.value.body["type"] == "invalid_request_error"


def test_models_lists_the_script_model(server: LocalOpenAIServer, client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["gpt-4o-mini"]
    server.script(model="gpt-custom")
    assert [m.id for m in client.models.list()] == ["gpt-custom"]


# ------------------------------------------------------------------ faults


def _protocol_errors() -> tuple[type[Exception], ...]:
    modules = [
        importlib.util.find_spec(name) and importlib.import_module(name)
        for name in ("httpx2", "httpx")
    ]
    return tuple(module.RemoteProtocolError for module in modules if module)


def test_drop_fault_breaks_plain_and_streamed_calls(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(replies=[Reply(match="drop", fault="drop")])

    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=user("drop"))
    received: list[Any] = []
    # openai 3.x maps a connection dropped mid-stream to APIConnectionError; 1.x lets the
    # transport's protocol error through
    with pytest.raises((openai.APIConnectionError, *_protocol_errors())):
        stream = client.chat.completions.create(model="m", messages=user("drop"), stream=True)
        received.extend(stream)
    healthy = client.chat.completions.create(model="m", messages=user("fine"))

    assert [c.choices[0].delta.role for c in received] == ["assistant"]
    assert healthy.choices[0].message.content == "Echo: fine"


def test_malformed_fault_returns_non_json(server: LocalOpenAIServer, client: openai.OpenAI) -> None:
    server.script(replies=[Reply(fault="malformed")])

    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="m", messages=user("x"))
    with pytest.raises(json.JSONDecodeError):
        list(client.chat.completions.create(model="m", messages=user("x"), stream=True))
    raw = client.chat.completions.with_raw_response.create(model="m", messages=user("x"))

    assert raw.http_response.text == '{"id": "chatcmpl-'


def test_truncate_fault_ends_streams_before_the_final_chunk(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(replies=[Reply(text="cut short here", fault="truncate")])

    chunks = list(client.chat.completions.create(model="m", messages=user("x"), stream=True))
    events = list(client.responses.create(model="m", input="x", stream=True))

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "cut short here"
    assert all(c.choices[0].finish_reason is None for c in chunks)
    assert events[-1].type == "response.output_text.delta"


def test_client_hanging_up_mid_stream_is_silent_and_harmless(
    server: LocalOpenAIServer, client: openai.OpenAI, capfd: pytest.CaptureFixture[str]
) -> None:
    server.script(chunk_delay_s=0.02, replies=[Reply(match="long", text="word " * 30)])

    stream = client.chat.completions.create(model="m", messages=user("long"), stream=True)
    first = next(iter(stream))
    stream.close()
    time.sleep(0.3)
    with pytest.raises(openai.NotFoundError):
        client.get("/unknown", cast_to=object)
    after = client.chat.completions.create(model="m", messages=user("short"))

    assert first.choices[0].delta.role == "assistant"
    assert after.choices[0].message.content == "Echo: short"
    assert capfd.readouterr().err == ""


# ------------------------------------------------------------------ timing, ids, headers


def test_latency_and_ttft_are_observable_on_a_stream(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(latency_s=0.15, ttft_s=0.25, chunk_delay_s=0.05, replies=[Reply(text="a b c")])

    started = time.perf_counter()
    stream = client.chat.completions.create(model="m", messages=user("x"), stream=True)
    headers_at = time.perf_counter() - started
    arrivals = [(chunk, time.perf_counter() - started) for chunk in stream]

    # Only lower bounds: the server cannot send anything sooner than its sleeps allow, while a
    # loaded machine may read any of it later (so gaps between reads prove nothing).
    first_content_at = next(t for c, t in arrivals if c.choices and c.choices[0].delta.content)
    assert 0.15 <= headers_at <= first_content_at
    assert first_content_at >= 0.15 + 0.25
    assert arrivals[-1][1] >= 0.15 + 0.25 + 2 * 0.05  # the last of three pieces, 0.05 s apart


def test_reply_latency_overrides_script_latency(
    server: LocalOpenAIServer, client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []  # the latency the server applied to each call, not a clock reading
    real_sleep = server_module._sleep

    def recording_sleep(seconds: float) -> None:
        slept.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(server_module, "_sleep", recording_sleep)
    server.script(latency_s=0.0, replies=[Reply(match="slow", latency_s=0.2)])

    started = time.perf_counter()
    client.chat.completions.create(model="m", messages=user("slow please"))
    slow = time.perf_counter() - started
    client.chat.completions.create(model="m", messages=user("fast please"))

    assert slept == [0.2, 0.0]
    assert slow >= 0.2  # and the sleep is really taken (a lower bound holds under any load)


def test_every_call_gets_fresh_ids_and_volatile_headers(client: openai.OpenAI) -> None:
    raws = [
        client.chat.completions.with_raw_response.create(model="m", messages=user("same"))
        for _ in range(2)
    ]
    bodies = [raw.parse() for raw in raws]

    assert bodies[0].choices[0].message.content == bodies[1].choices[0].message.content
    assert bodies[0].id != bodies[1].id
    assert bodies[0].system_fingerprint != bodies[1].system_fingerprint
    request_ids = [raw.headers["x-request-id"] for raw in raws]
    assert request_ids[0] != request_ids[1]
    assert all(rid.startswith("req_") for rid in request_ids)
    assert all(raw.headers["openai-processing-ms"].isdigit() for raw in raws)
    assert all("date" in raw.headers for raw in raws)


def test_received_requests_are_recorded_in_order(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    client.chat.completions.create(model="m", messages=user("first"))
    client.embeddings.create(model="e", input="second")

    received = server.requests

    assert [(r.method, r.path) for r in received] == [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/embeddings"),
    ]
    assert received[0].headers["authorization"] == "Bearer sk-test"
    assert received[0].json is not None
    assert received[0].json["messages"] == user("first")
    assert json.loads(received[1].body)["input"] == "second"
    server.reset()
    assert server.requests == []


# ------------------------------------------------------------------ control API and scripts


def test_control_api_scripts_resets_and_lists_over_http(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    script = {"model": "gpt-remote", "replies": [{"match": "ping", "text": ["pong", "pang"]}]}

    status, reply = post_json(f"{server.root_url}/_control/script", script)
    first = client.chat.completions.create(model="m", messages=user("ping"))
    with urllib.request.urlopen(f"{server.root_url}/_control/requests", timeout=5) as response:
        listed = json.loads(response.read())
    reset_status, _ = post_json(f"{server.root_url}/_control/reset", {})
    after_reset = client.chat.completions.create(model="m", messages=user("ping"))

    assert (status, reply["ok"]) == (200, True)
    assert (first.model, first.choices[0].message.content) == ("gpt-remote", "pong")
    assert [(r["method"], r["path"]) for r in listed] == [("POST", "/v1/chat/completions")]
    assert listed[0]["json"]["messages"] == user("ping")
    assert reset_status == 200
    assert after_reset.choices[0].message.content == "Echo: ping"


def test_control_api_rejects_bad_scripts_with_400(server: LocalOpenAIServer) -> None:
    status, body = post_json(f"{server.root_url}/_control/script", {"replies": [{"txt": "x"}]})

    assert status == 400
    assert "replies[0]" in body["error"]["message"]
    assert "'txt'" in body["error"]["message"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"replies": [{"text": "ok"}, {"texts": "x"}]}, r"replies\[1\]: unknown key 'texts'"),
        ({"latency": 1}, r"unknown key 'latency'"),
        ({"replies": [{"status": 42}]}, r"replies\[0\]: status"),
        ({"replies": [{"fault": "explode"}]}, r"replies\[0\]: fault: expected one of drop"),
        ({"replies": [{"endpoint": "images"}]}, r"endpoint: expected one of chat.completions"),
        ({"replies": [{"text": []}]}, r"text: expected a string or a non-empty list"),
        ({"replies": [{"times": -1}]}, r"times: expected an integer >= 0"),
        ({"replies": [{"tool_calls": [{"args": {}}]}]}, r"tool_calls\[0\]"),
        ({"latency_s": -0.5}, r"latency_s: expected a number of seconds >= 0"),
        ({"embedding_dimensions": 0}, r"embedding_dimensions"),
        ({"replies": "nope"}, r"replies: expected a list"),
        ({"replies": ["nope"]}, r"replies\[0\]: reply: expected a mapping"),
    ],
)
def test_script_from_dict_rejects_bad_input_clearly(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        Script.from_dict(data)


def test_script_round_trips_through_yaml_and_dict(tmp_path: Path) -> None:
    path = tmp_path / "script.yaml"
    path.write_text(
        "model: gpt-yaml\nlatency_s: 0.1\nreplies:\n"
        "  - match: hello\n    text: [hi, hey]\n    times: 2\n"
        "  - status: 429\n    endpoint: embeddings\n",
        encoding="utf-8",
    )

    script = Script.from_yaml(path)

    assert script.model == "gpt-yaml"
    assert script.replies == [
        Reply(match="hello", text=["hi", "hey"], times=2),
        Reply(status=429, endpoint="embeddings"),
    ]
    assert Script.from_dict(script.to_dict()) == script


def test_keyword_script_replaces_the_previous_script(
    server: LocalOpenAIServer, client: openai.OpenAI
) -> None:
    server.script(Script(replies=[Reply(text="old")]))
    server.script(replies=[{"text": "new"}])

    answer = client.chat.completions.create(model="m", messages=user("x"))

    assert answer.choices[0].message.content == "new"
    with pytest.raises(TypeError):
        server.script(Script(), latency_s=1.0)


# ------------------------------------------------------------------ server lifecycle and CLI


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_non_loopback_hosts_are_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        LocalOpenAIServer(host=host)


def test_stopped_server_refuses_connections() -> None:
    server = LocalOpenAIServer(host="localhost").start()
    base_url = server.base_url
    server.stop()

    assert base_url.startswith("http://127.0.0.1:")
    with (
        openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client,
        pytest.raises(openai.APIConnectionError),
    ):
        client.models.list()


def test_cli_serves_a_yaml_script_until_sigterm(tmp_path: Path) -> None:
    script_path = tmp_path / "cli.yaml"
    script_path.write_text("replies:\n  - text: from the cli\n", encoding="utf-8")
    src = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_llm.testing", "--script", str(script_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("base_url=http://127.0.0.1:")
        base_url = line.removeprefix("base_url=")
        with openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client:
            answer = client.chat.completions.create(model="m", messages=user("x"))
        assert answer.choices[0].message.content == "from the cli"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_pieces_keep_whitespace_and_words_count_tokens() -> None:
    text = "  leading and trailing  "

    assert "".join(fake_model.split_into_pieces(text)) == text
    assert fake_model.count_words(text) == 3
    assert fake_model.count_prompt_tokens([""]) == 1
