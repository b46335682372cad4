"""Unit tests of the plain modules behind the hooks."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import pytest

from pytest_llm.case.options import build_options
from pytest_llm.cassette import file_format, matching, paths, stabilizing
from pytest_llm.cassette.interaction import Interaction, Timing
from pytest_llm.cassette.scrubbing import REDACTED, Scrubber
from pytest_llm.cli import diff as cassette_diff
from pytest_llm.cli import show
from pytest_llm.errors import CaseOptionsError, CassetteError
from pytest_llm.providers import first_content_offset, llm_call, openai, sse
from pytest_llm.providers.openai import PROVIDER as OPENAI
from pytest_llm.report import comparison

STREAM = (
    'data: {"id":"c1","created":1,"model":"m-1","choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
    'data: {"id":"c1","created":1,"model":"m-1","choices":[{"delta":{"content":"Hello"}}]}\n\n'
    'data: {"id":"c1","created":1,"model":"m-1","choices":[{"delta":{"content":" world"}}]}\n\n'
    'data: {"id":"c1","created":1,"model":"m-1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'
    "data: [DONE]\n\n"
)


def _chat(
    text: str, *, ident: str = "chatcmpl-1", created: int = 1, latency: float = 1.0
) -> Interaction:
    body = {
        "id": ident,
        "created": created,
        "model": "m-1",
        "system_fingerprint": f"fp_{ident}",
        "choices": [{"message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": len(text.split())},
    }
    return Interaction(
        method="POST",
        path="/v1/chat/completions",
        request_body=json.dumps(
            {"model": "m", "messages": [{"role": "user", "content": "q"}]}
        ).encode(),
        status=200,
        response_headers={"content-type": ["application/json"]},
        response_body=json.dumps(body).encode(),
        timing=Timing(latency_s=latency),
    )


def _stream(text: str = STREAM) -> Interaction:
    return Interaction(
        method="POST",
        path="/v1/chat/completions",
        request_body=b'{"stream":true}',
        status=200,
        response_headers={"content-type": ["text/event-stream"]},
        response_body=text.encode(),
        timing=Timing(latency_s=0.5, ttft_s=0.2),
    )


# --------------------------------------------------------------------------- sse / calls


def test_sse_assembles_text_and_finds_the_first_content_event():
    events = sse.parse_events(STREAM)
    assert OPENAI.stream_answer(events).text == "Hello world"
    assert STREAM.encode()[first_content_offset(OPENAI, events) :].startswith(
        b'data: {"id":"c1","created":1,"model":"m-1","choices":[{"delta":{"content":"Hello"'
    )
    assert OPENAI.stream_is_complete(events)
    assert not OPENAI.stream_is_complete(sse.parse_events(STREAM.replace("data: [DONE]\n\n", "")))


def test_sse_reads_named_events_and_multi_line_data():
    events = sse.parse_events(
        'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",\ndata: "delta":"Hi"}\n\n: comment\n\n'
    )
    assert [event.name for event in events] == ["response.output_text.delta"]
    assert OPENAI.stream_answer(events).text == "Hi"


def test_stream_tool_call_fragments_are_joined():
    chunks = [
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "function": {"name": "get_", "arguments": '{"ci'},
                            }
                        ]
                    }
                }
            ]
        },
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "function": {"name": "weather", "arguments": 'ty":"Oslo"}'},
                            }
                        ]
                    }
                }
            ]
        },
    ]
    text = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks)
    assert openai.assemble_tool_calls(sse.parse_events(text)) == [
        {"id": "call_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'}
    ]


RESPONSES_CALL = {
    "type": "function_call",
    "id": "fc_1",
    "call_id": "call_9",
    "name": "get_weather",
    "arguments": '{"city":"Oslo"}',
}


def test_responses_api_tool_calls_plain_and_streamed():
    body = {
        "object": "response",
        "model": "m-1",
        "output": [{"type": "reasoning", "id": "rs_1"}, RESPONSES_CALL],
        "usage": {"input_tokens": 5, "output_tokens": 7},
    }
    plain = Interaction(
        method="POST",
        path="/v1/responses",
        request_body=b'{"model":"m-1","input":"weather?"}',
        status=200,
        response_headers={"content-type": ["application/json"]},
        response_body=json.dumps(body).encode(),
        timing=Timing(latency_s=0.4),
    )
    # llm_calls parse JSON arguments to a dict (SPEC), whatever the provider's wire format
    expected = ({"id": "call_9", "name": "get_weather", "arguments": {"city": "Oslo"}},)
    assert llm_call.describe(plain).tool_calls == expected
    events = [
        {"type": "response.output_item.added", "output_index": 1, "item": {**RESPONSES_CALL, "arguments": ""}},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '{"city":'},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '"Oslo"}'},
        {"type": "response.output_item.done", "output_index": 1, "item": RESPONSES_CALL},
        {"type": "response.completed", "response": body},
    ]  # fmt: skip
    streamed = _stream("".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events))
    streamed = dataclasses.replace(streamed, path="/v1/responses")
    described = llm_call.describe(streamed)
    assert described.tool_calls == expected
    assert (described.model, described.prompt_tokens, described.completion_tokens) == ("m-1", 5, 7)


def test_describe_call_for_plain_and_streamed_chat():
    plain = llm_call.describe(_chat("All good"))
    assert (
        plain.endpoint,
        plain.model,
        plain.text,
        plain.prompt_tokens,
        plain.completion_tokens,
    ) == ("chat.completions", "m-1", "All good", 3, 2)
    assert plain.messages == [{"role": "user", "content": "q"}] and plain.ttft_s is None
    streamed = llm_call.describe(_stream())
    assert (streamed.text, streamed.model, streamed.prompt_tokens, streamed.ttft_s) == (
        "Hello world",
        "m-1",
        3,
        0.2,
    )


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/v1/chat/completions", "chat.completions"),
        ("/openai/deployments/x/chat/completions?api-version=1", "chat.completions"),
        ("/v1/responses", "responses"),
        ("/v1/embeddings", "embeddings"),
        ("/api/other", "/api/other"),
    ],
)
def test_endpoint_names(path, endpoint):
    assert llm_call.endpoint_of(path) == endpoint


# --------------------------------------------------------------------------- matching


def test_json_bodies_match_as_data_and_host_is_ignored():
    compact = matching.match_key("post", "/v1/x?b=2&a=1", b'{"a":1,"b":[1,2]}')
    spaced = matching.match_key("POST", "/v1/x?a=1&b=2", b'{ "b": [1, 2], "a": 1 }')
    assert compact == spaced
    assert compact != matching.match_key("POST", "/v1/x?a=1&b=2", b'{"a":1,"b":[2,1]}')


def test_embeddings_encoding_format_is_not_part_of_a_match():
    assert matching.match_key(
        "POST", "/v1/embeddings", b'{"input":"x","encoding_format":"base64"}'
    ) == matching.match_key("POST", "/v1/embeddings", b'{"input":"x"}')


def test_data_differences_name_json_paths():
    recorded = {"model": "a", "messages": [{"role": "user", "content": "old"}], "gone": 1}
    live = {
        "model": "a",
        "messages": [{"role": "user", "content": "new"}, {"role": "user"}],
        "extra": True,
    }
    assert matching.data_differences(recorded, live) == [
        'messages[0].content: now "new", recorded "old"',
        'messages[1]: now {"role": "user"}, absent from the recording',
        "gone: recorded 1, now absent",
        "extra: now true, absent from the recording",
    ]


# --------------------------------------------------------------------------- scrubbing


def test_scrubber_covers_literals_shapes_patterns_queries_and_headers():
    scrubber = Scrubber(patterns=[r"ACME-\d+"], literals=["my-very-secret-value"])
    scrubber.learn_from_headers([("Authorization", "Bearer live-token-123456789")])
    assert (
        scrubber.text("a my-very-secret-value b live-token-123456789 ACME-42")
        == f"a {REDACTED} b {REDACTED} {REDACTED}"
    )
    assert scrubber.text("key sk-abcdefghijklmnopqrstuvwxyz012345") == f"key {REDACTED}"
    assert scrubber.url_path("/v1/x?api-key=abc&q=ok") == f"/v1/x?api-key={REDACTED}&q=ok"
    assert scrubber.headers({"set-cookie": ["a=b"], "content-type": ["x ACME-1"]}) == {
        "content-type": [f"x {REDACTED}"]
    }
    body = json.dumps({"text": "ACME-7", "n": 1}).encode()
    assert json.loads(scrubber.body(body)) == {"text": REDACTED, "n": 1}
    stream = b'data: {"delta":"ACME-7"}\n\ndata: [DONE]\n\n'
    assert scrubber.body(stream) == b'data: {"delta":"REDACTED"}\n\ndata: [DONE]\n\n'
    untouched = b'{"a": 1,  "b": "fine"}'
    assert scrubber.body(untouched) is untouched


def test_scrubber_ignores_short_literals():
    scrubber = Scrubber(literals=["abc", ""])
    assert scrubber.text("abc") == "abc"


# --------------------------------------------------------------------------- stability


def test_volatile_fields_and_near_timings_are_carried_over():
    old = _chat("Same answer", ident="chatcmpl-old", created=100, latency=1.0)
    new = _chat("Same answer", ident="chatcmpl-new", created=200, latency=1.2)
    [stable] = stabilizing.stabilize([new], [old])
    assert stable.response_body == old.response_body
    assert stable.timing.latency_s == 1.0  # moved 0.2 s = 20 %: within the tolerance


def test_material_timing_change_and_changed_answer_show():
    old = _chat("Old answer", ident="chatcmpl-old", latency=1.0)
    new = _chat("New answer", ident="chatcmpl-new", latency=1.5)
    [stable] = stabilizing.stabilize([new], [old])
    assert json.loads(stable.response_body)["id"] == "chatcmpl-old"
    assert json.loads(stable.response_body)["choices"][0]["message"]["content"] == "New answer"
    assert stable.timing.latency_s == 1.5


def test_carried_over_ids_replace_only_the_field_not_the_same_text_elsewhere():
    old = _chat("Old", ident="chatcmpl-old")
    new = _chat('the id is "chatcmpl-new"', ident="chatcmpl-new")
    [stable] = stabilizing.stabilize([new], [old])
    payload = json.loads(stable.response_body)
    assert payload["id"] == "chatcmpl-old"
    assert payload["choices"][0]["message"]["content"] == 'the id is "chatcmpl-new"'


def test_stream_ids_carried_over_keep_the_line_layout():
    old = _stream()
    new = _stream(STREAM.replace('"id":"c1"', '"id":"c2"').replace('"created":1', '"created":2'))
    [stable] = stabilizing.stabilize([new], [old])
    assert stable.response_body == old.response_body


# --------------------------------------------------------------------------- cassette format


def test_render_and_read_round_trip(tmp_path: Path):
    interactions = [_chat("Line one\nline two"), _stream()]
    path = tmp_path / "c.yaml"
    file_format.write_atomically(path, file_format.render_cassette(interactions))
    text = path.read_text()
    assert "content: |-\n" in text and "sse: |+\n" in text and "text: Hello world" in text
    loaded = file_format.read_cassette(path)
    assert [json.loads(i.response_body) for i in loaded[:1]] == [
        json.loads(interactions[0].response_body)
    ]
    assert loaded[1].response_body == interactions[1].response_body
    assert loaded[1].timing == Timing(latency_s=0.5, ttft_s=0.2)
    assert file_format.render_cassette(loaded) == file_format.render_cassette(interactions)
    assert list(tmp_path.iterdir()) == [path]


def test_long_strings_are_not_folded():
    long_text = "word " * 200
    rendered = file_format.render_cassette([_chat(long_text.strip())])
    assert long_text.strip() in rendered


def test_vcrpy_gzip_body_is_decoded(tmp_path: Path):
    body = gzip.compress(b'{"choices":[{"message":{"content":"zipped"}}]}')
    document = {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": "https://api.openai.com/v1/chat/completions",
                    "body": "{}",
                    "headers": {},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"Content-Encoding": ["gzip"], "Content-Type": ["application/json"]},
                    "body": {"string": body},
                },
            }
        ],
    }
    import yaml

    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(document))
    [interaction] = file_format.read_cassette(path)
    assert interaction.path == "/v1/chat/completions"
    assert llm_call.describe(interaction).text == "zipped"
    assert "content-encoding" not in interaction.response_headers


def test_malformed_yaml_names_the_line():
    with pytest.raises(CassetteError, match=r"^x.yaml:3: malformed cassette YAML"):
        file_format.parse_cassette(
            "format: pytest-llm\nversion: 1\n  bad: indent\ninteractions: []\n", "x.yaml"
        )


# --------------------------------------------------------------------------- options / paths


def test_options_validation_messages():
    assert build_options({"samples": 3, "tags": ["a"]}, where="t").tags == ("a",)
    with pytest.raises(
        CaseOptionsError, match=r"t: @llm_case samples must be an integer from 1 to 1000, got 0"
    ):
        build_options({"samples": 0}, where="t")
    with pytest.raises(CaseOptionsError, match=r"did you mean 'latency_budget'"):
        build_options({"latency_budgte": 1}, where="t")
    with pytest.raises(CaseOptionsError, match=r"min_pass_rate must be a number between 0 and 1"):
        build_options({"min_pass_rate": 2}, where="t")


def test_cassette_paths(tmp_path: Path):
    module = tmp_path / "tests" / "test_app.py"
    assert paths.cassette_path(
        module, "tests/test_app.py::TestA::test_b[x y/z]", "cassettes", None
    ) == (tmp_path / "tests" / "cassettes" / "test_app" / "TestA.test_b[x_y_z].yaml")
    assert (
        paths.cassette_path(module, "t::test", "cassettes", "shared")
        == tmp_path / "tests" / "cassettes" / "test_app" / "shared.yaml"
    )
    assert (
        paths.cassette_path(module, "t::test", "cassettes", "data/c.yml")
        == tmp_path / "tests" / "data" / "c.yml"
    )
    assert (
        paths.cassette_path(module, "t::test", "cassettes", "../shared/c")
        == tmp_path / "tests" / "cassettes" / "shared" / "c.yaml"
    )
    link = tmp_path / "linked"
    link.symlink_to(tmp_path / "tests", target_is_directory=True)
    assert paths.cassette_path(link / "test_app.py", "t::test", "cassettes", None) == (
        tmp_path / "tests" / "cassettes" / "test_app" / "test.yaml"
    )  # symlinks resolved, as for the files that list unused cassettes
    assert len(paths.cassette_name("m.py::test_" + "x" * 300)) <= 120


# --------------------------------------------------------------------------- report redaction


def test_redact_report_scrubs_every_printed_string():
    from pytest_llm.report.output_redaction import redact_report

    scrubber = Scrubber(literals=["sk-secret-value-123"])
    report = pytest.TestReport(
        "t.py::test",
        ("t.py", 1, "test"),
        {},
        "skipped",
        ("t.py", 1, "Skipped: answer was sk-secret-value-123"),
        "call",
        sections=[("Captured stdout call", "printed sk-secret-value-123\n")],
    )
    report.wasxfail = "flaky: sk-secret-value-123"
    redact_report(report, scrubber.text)
    assert report.longrepr == ("t.py", 1, "Skipped: answer was REDACTED")
    assert report.sections == [("Captured stdout call", "printed REDACTED\n")]
    assert report.wasxfail == "flaky: REDACTED"


def test_scrubber_replaces_a_secret_split_across_stream_chunks_in_the_chunks_it_spans():
    scrubber = Scrubber(literals=["sk-live-secret-value"])
    pieces = ["Echo: sk-li", "ve-sec", "ret-value done"]
    events = [{"choices": [{"delta": {"content": piece}}]} for piece in pieces]
    stream = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
    cleaned = scrubber.body(stream.encode()).decode()
    contents = [
        json.loads(line[5:])["choices"][0]["delta"]["content"]
        for line in cleaned.splitlines()
        if line.startswith("data: {")
    ]
    assert contents == ["Echo: REDACTED", "", " done"]
    assert cleaned.endswith("data: [DONE]\n\n")


def test_scrubber_decodes_json_escapes_and_replaces_credential_fields():
    scrubber = Scrubber(patterns=[r"Geheim-\S+"])
    body = b'{"q": "sk\\u002dproj\\u002dabcdefghijklmnopqrstuv", "n": "Geheim-M\\u00fcller"}'
    assert json.loads(scrubber.body(body)) == {"q": REDACTED, "n": REDACTED}
    body = json.dumps({"echo": "x plain-token-value-1234 y", "token": "plain-token-value-1234"})
    assert json.loads(scrubber.body(body.encode())) == {
        "echo": f"x {REDACTED} y",
        "token": REDACTED,
    }
    logprob = json.dumps({"token": "Hello", "max_tokens": 5}).encode()
    assert scrubber.body(logprob) is logprob  # a short logprobs token is not a credential


def test_scrubber_learns_query_and_cookie_credentials_and_scrubs_urls_in_headers():
    scrubber = Scrubber()
    assert scrubber.url_path("/v1/m?key=query-secret-1234&X-Amz-Signature=abcdef0123456789") == (
        f"/v1/m?key={REDACTED}&X-Amz-Signature={REDACTED}"
    )
    assert scrubber.text("echo query-secret-1234") == f"echo {REDACTED}"
    scrubber.learn_from_headers([("Cookie", "session=cookie-value-5678; theme=dark")])
    assert scrubber.text("cookie-value-5678") == REDACTED
    scrubber.learn_from_headers([("x-goog-api-key", b"bytes-valued-key-9012")])
    assert scrubber.text("bytes-valued-key-9012") == REDACTED
    headers = {"location": ["https://h.example/next?token=abcd&page=2"], "set-cookie": ["a=b"]}
    assert scrubber.headers(headers) == {
        "location": [f"https://h.example/next?token={REDACTED}&page=2"]
    }


def test_scrubber_keeps_the_bytes_of_a_body_that_is_not_utf8_around_its_text():
    scrubber = Scrubber(literals=["multipart-secret-1"])
    body = b"\xff\xfe--b\r\nmultipart-secret-1\r\n\x80"
    assert scrubber.body(body) == b"\xff\xfe--b\r\nREDACTED\r\n\x80"


def _tool_call_answer(city: str) -> Interaction:
    call = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": city}}
    body = {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [call]}}]}
    return Interaction(
        method="POST",
        path="/v1/chat/completions",
        request_body=b'{"model": "m"}',
        status=200,
        response_headers={"content-type": ["application/json"]},
        response_body=json.dumps(body).encode(),
    )


def test_report_drift_and_pytest_llm_diff_measure_a_tool_call_the_same_way():
    old, new = _tool_call_answer('{"city": "Paris"}'), _tool_call_answer('{"city": "Tokyo"}')
    old_answers, new_answers = comparison.answers([old]), comparison.answers([new])
    assert old_answers == ['tool call weather({"city": "Paris"})']
    report_drift = comparison.drift(old_answers, new_answers)
    diff_similarity = cassette_diff.answer_similarity(
        old, new, show.answer_text(old), show.answer_text(new)
    )
    assert report_drift == diff_similarity < 1.0


def test_scrubber_sees_a_secret_split_across_ndjson_lines():
    scrubber = Scrubber(literals=["ollama-secret-value"])
    lines = [
        {"message": {"content": piece}, "done": False} for piece in ("ollama-se", "cret-value")
    ]
    body = "".join(json.dumps(line) + "\n" for line in [*lines, {"done": True}]).encode()
    cleaned = [json.loads(line) for line in scrubber.body(body).decode().splitlines()]
    assert [line.get("message", {}).get("content") for line in cleaned] == [REDACTED, "", None]


def test_case_payload_survives_the_trip_to_the_controller_as_json():
    from pytest_llm.report.case_payload import CallSummary, CasePayload, DatasetOrigin

    call = CallSummary("chat.completions", "gpt-4o-mini", 0.5, 0.1, 12, None)
    payload = CasePayload(
        tags=("smoke",),
        dataset=DatasetOrigin("cases.yaml", 0.8),
        calls=(call,),
        samples_after=(3, 5),
        rerecorded=True,
        before="passed",
        samples_before=(5, 5),
        old_answers=("a",),
        new_answers=("b",),
        drift=0.25,
        calls_before=(call,),
        message="assert 1 == 2",
    )
    assert CasePayload.from_dict(json.loads(json.dumps(payload.to_dict()))) == payload
    assert payload.gate_tolerance() == (
        "tolerated by the data-set gate (min_pass_rate 0.8 for cases.yaml); "
        "the record failed: assert 1 == 2"
    )
    assert CasePayload().gate_tolerance() is None


def test_live_output_writer_holds_lines_until_a_secret_spanning_them_is_whole():
    import io

    from pytest_llm.report.output_redaction import ScrubbingWriter

    scrubber = Scrubber(literals=["two-line\nsecret-value"])
    out = io.StringIO()
    writer = ScrubbingWriter(out, scrubber)
    for piece in ["say two-", "line\n", "secr", "et-value", " ok\n", "tail"]:
        writer.write(piece)
        writer.flush()
        assert "two-line" not in out.getvalue() and "secret-v" not in out.getvalue()
    writer.close()
    assert out.getvalue() == f"say {REDACTED} ok\ntail"


def test_a_miss_shows_the_part_of_a_long_string_around_its_first_difference():
    prompt = "You are a careful assistant. " * 10
    lines = matching.data_differences(
        {"messages": [{"content": prompt + "Answer in French."}]},
        {"messages": [{"content": prompt + "Answer in German."}]},
    )
    assert len(lines) == 1 and "German" in lines[0] and "French" in lines[0]
    assert lines[0].startswith("messages[0].content: now …")


def test_diff_counts_removed_interactions_among_the_interactions(tmp_path, capsys):
    from pytest_llm.cli.main import main

    def chat(text: str) -> Interaction:
        body = {"choices": [{"message": {"role": "assistant", "content": text}}]}
        return Interaction(
            method="POST",
            path="/v1/chat/completions",
            request_body=json.dumps(
                {"model": "m", "messages": [{"role": "user", "content": text}]}
            ).encode(),
            status=200,
            response_headers={"content-type": ["application/json"]},
            response_body=json.dumps(body).encode(),
        )

    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(file_format.render_cassette([chat("a"), chat("b"), chat("c")]))
    new.write_text(file_format.render_cassette([chat("a"), chat("x")]))
    assert main(["diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "2 of 3 interactions changed" in out


def test_the_nearest_recording_of_a_changed_tool_turn_is_that_turn():
    """Turn 2 with a changed tool-call id differs from turn 2's recording in two places, and
    from turn 1's in two as well (two messages absent): the tie goes to the alike body."""

    def chat(messages: list[dict[str, object]]) -> Interaction:
        return Interaction(
            method="POST",
            path="/v1/chat/completions",
            request_body=json.dumps({"model": "m", "messages": messages}).encode(),
            status=200,
            response_headers={},
            response_body=b"{}",
        )

    question = {"role": "user", "content": "Weather in Paris?"}

    def turn_two(call_id: str) -> list[dict[str, object]]:
        call = {"id": call_id, "type": "function", "function": {"name": "w", "arguments": "{}"}}
        return [
            question,
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": "21"},
        ]

    recorded = [chat([question]), chat(turn_two("call_old_0123456789"))]
    live = json.dumps({"model": "m", "messages": turn_two("call_new_9876543210")}).encode()
    found = matching.nearest("POST", "/v1/chat/completions", live, recorded)
    assert found is not None and found[0] == 1


def test_a_judge_score_is_read_on_the_scale_asked_for_never_guessed():
    from pytest_llm.assertions.judge import parse_verdict
    from pytest_llm.errors import JudgeAnswerError

    assert parse_verdict('{"score": 0.8, "reason": "ok"}').score == 0.8
    assert parse_verdict('{"score": 1}').score == 1.0
    assert parse_verdict('{"score": 2, "out_of": 10}').score == 0.2
    for unreadable in ('{"score": 1.5}', '{"score": 2}', '{"score": 0.9, "rea', "no verdict"):
        with pytest.raises(JudgeAnswerError):
            parse_verdict(unreadable)


def test_header_lines_already_learned_from_are_skipped_and_new_ones_still_learned(monkeypatch):
    """learn_from_headers remembers the lines it learned from (the session's clients send the
    same headers every call); past its bound it forgets them, never the secrets."""
    from pytest_llm.cassette import scrubbing

    monkeypatch.setattr(scrubbing, "_HEADERS_SEEN_KEPT", 3)
    scrubber = Scrubber()
    first = ("Authorization", "Bearer first-secret-token-0001")
    scrubber.learn_from_headers([first, ("x-stainless-lang", "python")])
    scrubber.learn_from_headers([first])
    for number in range(5):  # past the bound: the memory is cleared, learning goes on
        scrubber.learn_from_headers([("x-api-key", f"later-secret-value-{number:04}")])
    text = scrubber.text("first-secret-token-0001 later-secret-value-0000 later-secret-value-0004")
    assert text == f"{REDACTED} {REDACTED} {REDACTED}"
    assert len(scrubber._headers_seen) <= 3


def test_a_text_found_clean_is_scrubbed_once_a_secret_in_it_is_learned():
    """text() remembers clean texts; learning a secret forgets them (the secret may be in one)."""
    scrubber = Scrubber()
    text = "the session token is tok-9f8e7d6c5b4a3921 for now"
    assert scrubber.text(text) == text
    assert scrubber.text(text) == text  # remembered clean
    scrubber.add_literal("tok-9f8e7d6c5b4a3921")
    assert scrubber.text(text) == f"the session token is {REDACTED} for now"
    assert scrubber.data({"key": text, text: 1}) == {
        "key": f"the session token is {REDACTED} for now",
        f"the session token is {REDACTED} for now": 1,
    }


def test_the_session_clients_share_one_ssl_context_behind_proxy_variables(monkeypatch):
    """In replay the proxy variables point at the refusing proxy, and httpx builds a transport,
    and an SSL context, for each of them: the plugin's clients (one llm_async_client per
    case) are built with one default context, shared."""
    import importlib
    import importlib.util

    import openai

    # the transports of the HTTP library openai uses: httpx2 (openai 3.x), else httpx (1.x)
    library = "httpx2" if importlib.util.find_spec("httpx2") is not None else "httpx"
    transports = importlib.import_module(f"{library}._transports.default")

    from pytest_llm.config.settings import Mode, Settings
    from pytest_llm.replay.session_machinery import Engine

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    built = []
    original = transports.create_ssl_context

    def counted(*args, **kwargs):
        built.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(transports, "create_ssl_context", counted)
    openai.AsyncOpenAI(api_key="sk-test")  # what a client costs without the plugin
    without = len(built)
    built.clear()
    settings = Settings(
        mode=Mode.REPLAY, model="gpt-4o-mini", embedding_model="text-embedding-3-small",
        local_embedding_model="", similarity_threshold=0.8, base_url=None,
        cassette_dir="cassettes", redact_patterns=(), allowed_hosts=(), report_paths=(),
        prices={}, drift_method="fuzzy",
    )  # fmt: skip
    engine = Engine(settings)
    clients = [engine.new_async_client() for _ in range(3)] + [engine.sync_client()]
    assert without >= 3  # a transport for each proxy variable and the default one
    assert len(built) == 1
    assert transports.create_ssl_context is counted  # unpatched again after each build
    assert len({id(client) for client in clients}) == 4
    import certifi

    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())  # another trust store: its own context
    engine.new_async_client()
    assert len(built) == 2
    engine.close()
