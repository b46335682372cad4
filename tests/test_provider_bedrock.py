"""Amazon Bedrock's Converse API, understood and not just replayed: the real ``boto3``
``bedrock-runtime`` client records ``converse`` and ``converse_stream`` against the local server
over real sockets (SigV4-signed, bytes-valued headers) and replays with the server stopped and
no AWS variable at all; ConverseStream's binary event stream is stored as readable events and
encoded again, with valid checksums, on replay."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from pytest_llm import providers
from pytest_llm.cli import main
from pytest_llm.providers import aws_event_stream
from pytest_llm.providers import bedrock as bedrock_provider
from pytest_llm.providers.pricing import BUILTIN_PRICES, price_of
from pytest_llm.testing import LocalOpenAIServer

# Imported here, once: pytester's in-process runs would import the SDK anew every session.
boto3 = pytest.importorskip("boto3")
eventstream = pytest.importorskip("botocore.eventstream")

AWS_VARIABLES = (
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
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
ANSWER = "Paris is the capital of France."
ACCESS_KEY = "AKIAPLANTEDKEY123456"
SECRET = "PlantedSecretAccessKey/0123456789abcdefghijklmnop"
SESSION_TOKEN = "PlantedSessionToken0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
METADATA_HOST = "169.254.169.254"
#: botocore's first request to the instance metadata endpoint (IMDSv2's session token).
METADATA_TOKEN_PATH = "/latest/api/token"


@pytest.fixture
def inner(inner, monkeypatch):
    """Inner sessions see no AWS variable at all unless a test sets one, and build a fresh
    boto3 default session (it caches the credentials it found)."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    # each inner session is a fresh process would be: no default session from the run before
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


@pytest.fixture
def server():
    """A server of this test's own, so that replay can run with it stopped."""
    with LocalOpenAIServer() as own:
        yield own


def _client(server: LocalOpenAIServer, region: bool = True) -> str:
    where = ', region_name="us-east-1"' if region else ""
    return (
        f'boto3.client("bedrock-runtime", endpoint_url={server.root_url!r}{where}, '
        'config=Config(retries={"max_attempts": 1}))'
    )


def _record(inner, server: LocalOpenAIServer, *args: str) -> pytest.RunResult:
    return inner.pytester.runpytest("--llm-record", f"--llm-base-url={server.base_url}", *args)


def _replay_with_the_server_stopped(inner, server: LocalOpenAIServer) -> pytest.RunResult:
    served = len(server.requests)
    server.stop()
    result = inner.replay()
    assert len(server.requests) == served
    output = result.stdout.str()
    # botocore never looked for credentials at the instance metadata endpoint: the cassette
    # would have missed it (and the network guard refused it), failing the test
    for sign in (METADATA_HOST, METADATA_TOKEN_PATH, "no recorded answer", "refused"):
        assert sign not in output, output
    return result


def _show(capsys, path) -> str:
    capsys.readouterr()
    status = main.main(["show", str(path)])
    out = capsys.readouterr().out
    assert status == 0, out
    return out


HEADER = """
    import json
    import os
    import boto3
    from botocore.config import Config
    from pytest_llm import llm_case
"""


def test_converse_and_converse_stream_record_and_replay_with_no_aws_credentials(
    inner, server, capsys
):
    server.script(ttft_s=0.05, replies=[{"match": "capital", "text": ANSWER}])
    inner.write(
        HEADER
        + f"""
    @llm_case
    def test_capital(llm_calls):
        # no AWS variable anywhere: the plugin's placeholders are what botocore signs with
        assert os.environ["AWS_ACCESS_KEY_ID"].startswith("pytest-llm-replay-placeholder")
        assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
        client = {_client(server, region=False)}
        ask = dict(modelId="{MODEL}", system=[{{"text": "Answer briefly."}}],
                   messages=[{{"role": "user", "content": [{{"text": "What is the capital of France?"}}]}}])
        plain = client.converse(**ask)
        assert plain["output"]["message"]["content"][0]["text"] == "{ANSWER}"
        assert plain["usage"]["inputTokens"] == 8
        streamed = client.converse_stream(**ask)
        events = list(streamed["stream"])
        text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
        assert text == "{ANSWER}"
        assert events[-1]["metadata"]["usage"]["outputTokens"] == 6
        plain_call, streamed_call = llm_calls
        assert (plain_call.endpoint, streamed_call.endpoint) == ("converse", "converse-stream")
        for call in llm_calls:
            assert (call.provider, call.model) == ("bedrock", "{MODEL}")
            assert call.text == "{ANSWER}"
            # system (2 words) + question (6 words); the answer's 6 words
            assert (call.prompt_tokens, call.completion_tokens) == (8, 6)
            assert call.messages == ask["messages"]
            assert call.latency_s is not None and call.latency_s > 0
            assert call.tool_calls == ()
        assert (plain_call.stream, streamed_call.stream) == (False, True)
        assert plain_call.ttft_s is None
        # the server waited 0.05 s before the first text delta
        assert streamed_call.ttft_s is not None and streamed_call.ttft_s >= 0.05
    """
    )
    _record(inner, server).assert_outcomes(passed=1)
    _replay_with_the_server_stopped(inner, server).assert_outcomes(passed=1)

    cassette = inner.cassette("test_capital")
    text = cassette.read_text()
    assert "base64" not in text
    plain, streamed = (
        interaction["response"] for interaction in yaml.safe_load(text)["interactions"]
    )
    assert plain["json"]["output"]["message"]["content"] == [{"text": ANSWER}]
    assert streamed["headers"]["content-type"] == aws_event_stream.CONTENT_TYPE
    assert streamed["text"] == ANSWER
    events = streamed["aws_event_stream"]
    assert [event["headers"][":event-type"] for event in events][:2] == [
        "messageStart",
        "contentBlockDelta",
    ]
    assert events[-2]["headers"][":event-type"] == "messageStop"
    assert all(event["headers"][":message-type"] == "event" for event in events)
    assert events[1]["payload"] == {"contentBlockIndex": 0, "delta": {"text": "Paris"}}
    assert events[-1]["payload"]["usage"]["inputTokens"] == 8
    shown = _show(capsys, cassette)
    assert f"answer:\n    {ANSWER}" in shown
    assert f"answer (streamed):\n    {ANSWER}" in shown


TOOL_CASE = (
    HEADER
    + """
    TOOLS = {{"tools": [{{"toolSpec": {{"name": "get_weather", "description": "Weather in a city.",
              "inputSchema": {{"json": {{"type": "object", "properties": {{"city": {{"type": "string"}}}}}}}}}}}}]}}

    def streamed_tool_use(stream):
        use, pieces = None, []
        for event in stream:
            start = event.get("contentBlockStart", {{}}).get("start", {{}})
            if "toolUse" in start:
                use = dict(start["toolUse"])
            delta = event.get("contentBlockDelta", {{}}).get("delta", {{}})
            if "toolUse" in delta:
                pieces.append(delta["toolUse"]["input"])
        use["input"] = json.loads("".join(pieces))
        return use

    @llm_case
    def test_weather(llm_calls):
        client = {client}
        question = [{{"role": "user", "content": [{{"text": "Weather in Paris?"}}]}}]
        first = client.converse(modelId="{model}", messages=question, toolConfig=TOOLS)
        assert first["stopReason"] == "tool_use"
        (block,) = first["output"]["message"]["content"]
        use = block["toolUse"]
        assert (use["name"], use["input"]) == ("get_weather", {{"city": "Paris"}})
        streamed = streamed_tool_use(
            client.converse_stream(modelId="{model}", messages=question, toolConfig=TOOLS)["stream"])
        assert (streamed["name"], streamed["input"]) == ("get_weather", {{"city": "Paris"}})
        answer = client.converse(modelId="{model}", toolConfig=TOOLS, messages=[
            *question,
            {{"role": "assistant", "content": [{{"toolUse": use}}]}},
            {{"role": "user", "content": [{{"toolResult": {{
                "toolUseId": use["toolUseId"], "content": [{{"text": "sunny, 21 C"}}]}}}}]}},
        ])
        assert answer["output"]["message"]["content"][0]["text"] == "Sunny and 21 C in Paris."
        for call, id_ in zip(llm_calls[:2], (use["toolUseId"], streamed["toolUseId"])):
            (tool_call,) = call.tool_calls
            assert tool_call["name"] == "get_weather"
            assert tool_call["id"] == id_ and id_.startswith("tooluse_")
            assert tool_call["arguments"] == {{"city": "Paris"}}  # parsed to a dict
            assert call.text == ""
            assert call.completion_tokens == 2  # the words of {{"city": "Paris"}}
        assert llm_calls[2].tool_calls == ()
        assert llm_calls[2].text == "Sunny and 21 C in Paris."
        assert "toolResult" in llm_calls[2].messages[2]["content"][0]
"""
)


def test_tool_use_over_two_turns_plain_and_streamed(inner, server, capsys):
    server.script(
        chunk_chars=4,  # the streamed tool input arrives in several toolUse.input pieces
        replies=[
            {
                "match": "Paris",
                "times": 2,
                "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
            },
            {"text": "Sunny and 21 C in Paris."},
        ],
    )
    inner.write(TOOL_CASE.format(client=_client(server), model=MODEL))
    _record(inner, server).assert_outcomes(passed=1)
    _replay_with_the_server_stopped(inner, server).assert_outcomes(passed=1)
    text = inner.cassette("test_weather").read_text()
    assert text.count("toolUse:") > 3
    shown = _show(capsys, inner.cassette("test_weather"))
    assert 'tool call get_weather({"city": "Paris"})' in shown


STREAM_CASE = (
    HEADER
    + """
    @llm_case
    def test_stream():
        client = {client}
        response = client.converse_stream(modelId="{model}",
                                          messages=[{{"role": "user", "content": [{{"text": "hello"}}]}}])
        list(response["stream"])
"""
)


def test_a_cut_off_stream_is_never_stored(inner, server):
    server.script(replies=[{"text": "one two three four", "fault": "truncate"}])
    inner.write(STREAM_CASE.format(client=_client(server), model=MODEL))
    result = _record(inner, server)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*event stream was cut off before its end marker (a messageStop event)*nothing was saved*"]
    )
    assert "INTERNALERROR" not in result.stdout.str()
    assert not inner.cassette("test_stream").exists()


def test_an_aws_error_is_not_stored_and_botocore_reads_its_type(inner, server):
    server.script(replies=[{"status": 429, "text": "Slow down."}])
    inner.write(
        HEADER
        + f"""
    import pytest

    @llm_case
    def test_throttled():
        client = {_client(server)}
        with pytest.raises(client.exceptions.ThrottlingException, match="Slow down."):
            client.converse(modelId="{MODEL}", messages=[{{"role": "user", "content": [{{"text": "hi"}}]}}])
    """
    )
    result = _record(inner, server)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the API answered 429*nothing was saved*"])
    assert not inner.cassette("test_throttled").exists()


def test_credentials_signature_and_session_token_never_reach_any_file(inner, server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    inner.write(
        HEADER
        + f"""
    @llm_case
    def test_planted():
        client = {_client(server)}
        said = "my key is " + os.environ["AWS_ACCESS_KEY_ID"] + " and " + os.environ["AWS_SESSION_TOKEN"]
        for call in (client.converse, client.converse_stream):
            response = call(modelId="{MODEL}", messages=[{{"role": "user", "content": [{{"text": said}}]}}])
            list(response["stream"]) if "stream" in response else response
    """
    )
    report = inner.pytester.path / "report.json"
    _record(inner, server, f"--llm-report={report}").assert_outcomes(passed=1)
    sent = server.requests[-1].headers
    assert sent["x-amz-security-token"] == SESSION_TOKEN, "the server really got the token"
    signature = re.search(r"Signature=([0-9a-f]+)", sent["authorization"])
    assert signature is not None
    secrets = (ACCESS_KEY, SECRET, SESSION_TOKEN, signature[1], "PlantedSecret", "PlantedSession")
    written = [path for path in inner.pytester.path.rglob("*") if path.is_file()]
    written = [path for path in written if path.suffix in (".yaml", ".json", ".md")]
    assert inner.cassette("test_planted") in written
    for path in written:
        text = path.read_text()
        for secret in secrets:
            assert secret not in text, (path, secret)
    cassette = inner.cassette("test_planted").read_text()
    assert cassette.count("my key is REDACTED and REDACTED") >= 1
    assert "Echo: my key is REDACTED and REDACTED" in cassette  # the streamed answer too
    # the live request is scrubbed the same way, so it still matches the recording
    _replay_with_the_server_stopped(inner, server).assert_outcomes(passed=1)


def test_rerecord_against_a_changed_answer_reports_drift_and_diff_shows_it(inner, capsys, server):
    server.script(replies=[{"text": ANSWER}])
    inner.write(STREAM_CASE.format(client=_client(server), model=MODEL))
    _record(inner, server).assert_outcomes(passed=1)
    old = inner.pytester.path / "old.yaml"
    shutil.copy(inner.cassette("test_stream"), old)
    server.script(replies=[{"text": "The capital of France is Paris, on the Seine."}])
    result = inner.pytester.runpytest("--llm-rerecord", f"--llm-base-url={server.base_url}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= LLM behaviour changes =*",
            "largest drifts among still-passing cases (silent changes):",
            "  drift 0.* test_app.py::test_stream",
        ]
    )
    capsys.readouterr()
    main.main(["diff", str(old), str(inner.cassette("test_stream"))])
    out = capsys.readouterr().out
    assert ANSWER in out and "on the Seine" in out


def test_a_rerecord_of_the_same_tool_answers_changes_nothing_but_timings(inner, server):
    """The server makes up fresh toolUseIds on every call: carried over in the JSON answer and
    inside the stream's frames (encoded again with valid checksums), so the cassette stays
    quiet and still replays."""
    server.script(
        replies=[{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}]
    )
    inner.write(
        HEADER
        + f"""
    @llm_case
    def test_quiet():
        client = {_client(server)}
        ask = dict(modelId="{MODEL}", messages=[{{"role": "user", "content": [{{"text": "weather?"}}]}}])
        client.converse(**ask)
        list(client.converse_stream(**ask)["stream"])
    """
    )
    _record(inner, server).assert_outcomes(passed=1)
    first = inner.cassette("test_quiet").read_text()
    assert first.count("tooluse_") == 2
    inner.pytester.runpytest("--llm-rerecord", f"--llm-base-url={server.base_url}").assert_outcomes(
        passed=1
    )
    again = inner.cassette("test_quiet").read_text()
    timing = re.compile(r"^\s*(?:latency_s|ttft_s):.*$", re.M)
    assert timing.sub("", again) == timing.sub("", first)
    _replay_with_the_server_stopped(inner, server).assert_outcomes(passed=1)


def test_recording_needs_aws_credentials_only_and_names_them(inner, server, monkeypatch):
    """Against a real (non-loopback) endpoint with no key at all, recording is refused up front
    naming the AWS variables; AWS credentials alone (no OPENAI_API_KEY) are enough."""
    inner.write(STREAM_CASE.format(client=_client(server), model=MODEL))
    refused = inner.pytester.runpytest(
        "--llm-record", "--llm-base-url=https://bedrock-runtime.us-east-1.amazonaws.com"
    )
    refused.assert_outcomes(failed=1)
    refused.stdout.fnmatch_lines(["*recording needs an API key*AWS_ACCESS_KEY_ID*"])
    assert "AWS_EC2_METADATA_DISABLED" not in refused.stdout.str()
    assert not inner.cassette("test_stream").exists()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    inner.pytester.runpytest(
        "--llm-record", "--llm-base-url=https://bedrock-runtime.us-east-1.amazonaws.com"
    ).assert_outcomes(passed=1)
    assert ACCESS_KEY not in inner.cassette("test_stream").read_text()


def test_without_the_placeholders_botocore_asks_the_metadata_endpoint_and_is_refused(inner, server):
    """The control for the replay tests above: with the placeholders removed inside the test,
    botocore asks 169.254.169.254 for credentials and replay refuses it (the test fails
    naming the request), so a replay that passes did not try."""
    server.script(replies=[{"text": ANSWER}])
    inner.write(STREAM_CASE.format(client=_client(server), model=MODEL))
    _record(inner, server).assert_outcomes(passed=1)
    inner.write(
        HEADER
        + f"""
    @llm_case
    def test_stream():
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED"):
            os.environ.pop(name, None)
        client = {_client(server)}
        client.converse_stream(modelId="{MODEL}",
                               messages=[{{"role": "user", "content": [{{"text": "hello"}}]}}])
    """
    )
    result = inner.replay()
    result.assert_outcomes(failed=1)
    # the cassette interception sees it first (the guard would refuse what got past it)
    result.stdout.fnmatch_lines(["*no recorded answer*", f"*request:  PUT {METADATA_TOKEN_PATH}*"])


# ---------------------------------------------------------------- the provider on its own


def test_converse_paths_are_bedrock_and_name_their_model():
    provider = bedrock_provider.PROVIDER
    for path, endpoint in (
        ("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", "converse"),
        ("/model/amazon.nova-pro-v1%3A0/converse-stream", "converse-stream"),
    ):
        assert providers.provider_for(path) is provider
        assert provider.endpoint_of(path) == endpoint
    assert (
        provider.request_model("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", {})
        == MODEL
    )
    for path in ("/v1/chat/completions", "/model/x/invoke", "/models/x:generateContent"):
        assert providers.provider_for(path) is not provider, path


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "text",
        {"output": "x"},
        {"output": {"message": {"content": [None, 3, {"toolUse": 1}]}}},
    ],
)
def test_hostile_plain_bodies_read_as_unknown_not_as_a_crash(body):
    answer = bedrock_provider.PROVIDER.answer(body, "converse")
    assert answer.prompt_tokens is None and answer.completion_tokens is None
    assert answer.text in (None, "")
    assert answer.tool_calls == ()


def test_hostile_stream_events_read_as_unknown_not_as_a_crash():
    frames = [
        ({":event-type": "messageStart", ":message-type": "event"}, b"[1, 2]"),
        (
            {":event-type": "contentBlockDelta", ":message-type": "event"},
            b'{"contentBlockIndex": "x", "delta": {"toolUse": {"input": "{\\"a\\""}}}',
        ),
        ({":event-type": "contentBlockDelta", ":message-type": "event"}, b'{"delta": 7}'),
        (
            {":event-type": "metadata", ":message-type": "event"},
            b'{"usage": {"outputTokens": true}}',
        ),
    ]
    body = b"".join(aws_event_stream.encode_frame(headers, payload) for headers, payload in frames)
    events = aws_event_stream.events(body)
    provider = bedrock_provider.PROVIDER
    answer = provider.stream_answer(events)
    assert answer.text == ""
    assert answer.completion_tokens is None
    assert answer.tool_calls == ({"id": None, "name": None, "arguments": '{"a"'},)
    assert not provider.stream_is_complete(events)
    stop = aws_event_stream.encode_frame(
        {":event-type": "messageStop", ":message-type": "event"}, b'{"stopReason": "end_turn"}'
    )
    assert provider.stream_is_complete(aws_event_stream.events(body + stop))
    # a frame cut off by the end of the data is left out, so the stream reads as cut off
    assert not provider.stream_is_complete(aws_event_stream.events(body + stop[:-3]))


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", (3.00, 15.00)),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", (3.00, 15.00)),
        ("amazon.nova-pro-v1:0", (0.80, 3.20)),
        ("us.amazon.nova-lite-v1:0", (0.06, 0.24)),
        ("amazon.nova-micro-v1:0", (0.035, 0.14)),
        ("meta.llama3-1-70b-instruct-v1:0", (0.72, 0.72)),
        ("meta.llama3-8b-instruct-v1:0", (0.30, 0.60)),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0",
            (0.80, 3.20),
        ),
    ],
)
def test_current_bedrock_model_ids_have_builtin_prices(model, price):
    assert price_of(model, BUILTIN_PRICES) == price


def test_cost_budget_prices_a_bedrock_call_and_llm_prices_overrides(inner, server):
    server.script(replies=[{"text": "word " * 50}])
    inner.write(
        HEADER
        + f"""
    @llm_case(cost_budget=0.00001)
    def test_cost():
        client = {_client(server)}
        client.converse(modelId="amazon.nova-pro-v1:0",
                        messages=[{{"role": "user", "content": [{{"text": "q"}}]}}])
    """
    )
    result = _record(inner, server)
    result.assert_outcomes(failed=1)
    # 1 input token at $0.80 and 50 output tokens at $3.20 per million (amazon.nova-pro)
    result.stdout.fnmatch_lines(["*cost_budget: $0.000161 over 1 call(s) > $1e-05*"])
    inner.pytester.makeini("[pytest]\nllm_prices = amazon.nova-pro-v1:0 0 0\n")
    inner.replay().assert_outcomes(passed=1)


def test_recording_without_any_aws_credentials_names_the_variables(inner, server, monkeypatch):
    """No --llm-base-url (the client may point anywhere), no AWS credentials: botocore's
    NoCredentialsError names no variable, the plugin's refusal does, and nothing is saved."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no slow metadata lookup here
    inner.write(STREAM_CASE.format(client=_client(server), model=MODEL))
    result = inner.pytester.runpytest("--llm-record")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*recording test_app.py::test_stream failed: botocore found no AWS credentials: "
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY*nothing was saved*"
        ]
    )
    assert server.requests == []
    assert not inner.cassette("test_stream").exists()
