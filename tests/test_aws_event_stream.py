"""The AWS event stream codec (``pytest_llm.providers.aws_event_stream``): frames it encodes parse
with botocore's own parser, decoding gives back what was encoded, a corrupted checksum or a
malformed header is a clear error (in a cassette: naming the file), and scrubbing and
stabilizing rewrite frames without breaking them."""

from __future__ import annotations

import json
import struct
import uuid
import zlib

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llm.cassette import file_format
from pytest_llm.cassette.scrubbing import REDACTED, Scrubber
from pytest_llm.errors import CassetteError, MalformedEventStream
from pytest_llm.providers import aws_event_stream
from pytest_llm.providers.aws_event_stream import (
    Frame,
    TypedHeader,
    decode_complete_frames,
    decode_frames,
    encode_frame,
)

eventstream = pytest.importorskip("botocore.eventstream")

BEDROCK_HEADERS = {
    ":event-type": "contentBlockDelta",
    ":content-type": "application/json",
    ":message-type": "event",
}
DELTA = b'{"contentBlockIndex":0,"delta":{"text":"Hello"}}'

header_names = st.text(min_size=1, max_size=20).filter(lambda name: len(name.encode()) <= 255)
header_values = st.one_of(
    st.text(max_size=40),
    st.booleans(),
    st.builds(TypedHeader, st.just("byte"), st.integers(-(2**7), 2**7 - 1)),
    st.builds(TypedHeader, st.just("short"), st.integers(-(2**15), 2**15 - 1)),
    st.builds(TypedHeader, st.just("integer"), st.integers(-(2**31), 2**31 - 1)),
    st.builds(TypedHeader, st.just("long"), st.integers(-(2**63), 2**63 - 1)),
    st.builds(TypedHeader, st.just("timestamp"), st.integers(-(2**63), 2**63 - 1)),
    st.builds(TypedHeader, st.just("bytes"), st.binary(max_size=40)),
    st.builds(TypedHeader, st.just("uuid"), st.uuids()),
)
frames = st.builds(
    Frame, st.dictionaries(header_names, header_values, max_size=6), st.binary(max_size=300)
)


def _botocore_value(value: object) -> object:
    """What botocore's parser gives for one of our header values."""
    if isinstance(value, TypedHeader):
        return value.value.bytes if isinstance(value.value, uuid.UUID) else value.value
    return value


@settings(max_examples=150, deadline=None)
@given(st.lists(frames, max_size=5))
def test_frames_round_trip_and_botocore_parses_them(stream):
    data = aws_event_stream.encode_frames(stream)
    decoded = decode_frames(data)
    assert [(dict(f.headers), f.payload) for f in decoded] == [
        (dict(f.headers), f.payload) for f in stream
    ]
    buffer = eventstream.EventStreamBuffer()
    buffer.add_data(data)
    parsed = list(buffer)
    assert [message.payload for message in parsed] == [frame.payload for frame in stream]
    assert [message.headers for message in parsed] == [
        {name: _botocore_value(value) for name, value in frame.headers.items()} for frame in stream
    ]


@settings(max_examples=100, deadline=None)
@given(st.lists(frames, min_size=1, max_size=4))
def test_the_cassette_form_encodes_back_to_the_same_bytes(stream):
    data = aws_event_stream.encode_frames(stream)
    document = aws_event_stream.frames_document(decode_frames(data))
    reloaded = yaml.safe_load(yaml.safe_dump(document))
    again = aws_event_stream.frames_from_document(reloaded)
    assert [(dict(f.headers), _same_json(f.payload)) for f in decode_frames(again)] == [
        (dict(f.headers), _same_json(f.payload)) for f in stream
    ]


def _same_json(payload: bytes) -> object:
    """JSON payloads compare as data (the cassette writes them compactly), others as bytes."""
    try:
        return ("json", json.loads(payload))
    except ValueError:
        return ("bytes", payload)


@settings(max_examples=150, deadline=None)
@given(st.lists(frames, min_size=1, max_size=3), st.data())
def test_any_single_flipped_bit_is_detected_or_cut_off(stream, data):
    encoded = bytearray(aws_event_stream.encode_frames(stream))
    position = data.draw(st.integers(0, len(encoded) - 1))
    encoded[position] ^= 1 << data.draw(st.integers(0, 7))
    try:
        decoded, rest = decode_complete_frames(bytes(encoded))
    except MalformedEventStream:
        return
    # a flipped length bit can make the data look cut off, never silently different
    assert rest, "a corrupted stream decoded as if it were whole"
    assert len(decoded) < len(stream)


def test_a_corrupted_message_checksum_names_the_frame_and_offset():
    first = encode_frame(BEDROCK_HEADERS, DELTA)
    second = bytearray(encode_frame(BEDROCK_HEADERS, DELTA))
    second[-1] ^= 0xFF
    with pytest.raises(
        MalformedEventStream, match=rf"at byte {len(first)} \(frame 2\): message checksum mismatch"
    ):
        decode_frames(first + bytes(second))


def test_a_corrupted_prelude_checksum_is_refused_before_trusting_its_lengths():
    frame = bytearray(encode_frame(BEDROCK_HEADERS, DELTA))
    frame[0:4] = struct.pack("!I", 2**31)  # a huge total length...
    with pytest.raises(MalformedEventStream, match="prelude checksum mismatch"):
        decode_frames(bytes(frame))  # ...is never believed: the prelude's checksum fails


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        (b"\x03abc\x0b", "unknown type 11"),
        (b"\x03abc\x07\x00\x09xy", "runs past the end"),
        (b"\x01a\x00\x01a\x01", "appears twice"),
        (b"\x02\xff\xfe\x00", "header name is not UTF-8"),
    ],
)
def test_malformed_headers_with_valid_checksums_are_refused(headers, problem):
    total = 16 + len(headers)
    lengths = struct.pack("!II", total, len(headers))
    message = lengths + struct.pack("!I", zlib.crc32(lengths)) + headers
    with pytest.raises(MalformedEventStream, match=problem):
        decode_frames(message + struct.pack("!I", zlib.crc32(message)))


def test_a_frame_cut_off_by_the_end_of_the_data_is_the_rest_not_an_error():
    whole = encode_frame(BEDROCK_HEADERS, DELTA)
    decoded, rest = decode_complete_frames(whole + whole[:20])
    assert len(decoded) == 1 and rest == whole[:20]
    with pytest.raises(MalformedEventStream, match="20 trailing bytes are not a whole frame"):
        decode_frames(whole + whole[:20])


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"": "x"}, "not 1 to 255 bytes"),
        ({"a" * 256: "x"}, "not 1 to 255 bytes"),
        ({"n": TypedHeader("byte", 200)}, "out of range"),
        ({"n": TypedHeader("float", 1)}, "unknown header type"),
        ({"n": 1.5}, "not a header value"),
        ({"n": "x" * 70000}, "too long"),
    ],
)
def test_headers_that_cannot_be_encoded_are_refused(headers, problem):
    with pytest.raises(MalformedEventStream, match=problem):
        encode_frame(headers, b"")


def _stream_cassette(events: object) -> str:
    return yaml.safe_dump(
        {
            "format": "pytest-llm",
            "version": 1,
            "interactions": [
                {
                    "request": {"method": "POST", "path": "/model/m/converse-stream", "json": {}},
                    "response": {
                        "status": 200,
                        "headers": {"content-type": aws_event_stream.CONTENT_TYPE},
                        "aws_event_stream": events,
                    },
                    # complete (the call summary is written last): only the stream is wrong
                    "call": {"endpoint": "converse-stream", "latency_s": 0.1},
                }
            ],
        }
    )


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        ("not a list", "not a list of events"),
        ([3], r"event #1: not a mapping"),
        ([{"headers": {":event-type": ["a", "list"]}}], r"event #1: header ':event-type'"),
        ([{"headers": {"n": {"type": "long", "value": 2**70}}}], "event #1: .*out of range"),
        ([{"headers": {}, "payload_base64": "***"}], "event #1"),
    ],
)
def test_a_hostile_cassette_event_stream_is_an_error_naming_the_file(tmp_path, events, problem):
    path = tmp_path / "hostile.yaml"
    path.write_text(_stream_cassette(events))
    with pytest.raises(CassetteError, match=rf"hostile.yaml: interaction #1 .*{problem}"):
        file_format.read_cassette(path)


def test_malformed_frames_in_a_vcrpy_cassette_are_an_error_naming_the_file(tmp_path):
    frame = bytearray(encode_frame(BEDROCK_HEADERS, DELTA))
    frame[-2] ^= 0x10
    path = tmp_path / "foreign.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "interactions": [
                    {
                        "request": {
                            "method": "POST",
                            "uri": "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse-stream",
                            "body": "{}",
                            "headers": {},
                        },
                        "response": {
                            "status": {"code": 200, "message": "OK"},
                            "headers": {"Content-Type": [aws_event_stream.CONTENT_TYPE]},
                            "body": {"string": bytes(frame)},
                        },
                    }
                ],
            }
        )
    )
    with pytest.raises(CassetteError, match=r"foreign.yaml: interaction #1 .*message checksum"):
        file_format.read_cassette(path)


def test_scrubbing_a_stream_rewrites_the_frames_that_held_a_secret_with_valid_checksums():
    secret = "AKIA" + "PLANTED0123456AB"
    pieces = [
        f'{{"contentBlockIndex":0,"delta":{{"text":"{text}"}}}}'
        for text in ("the key ", secret[:10], secret[10:], " ends")
    ]
    data = b"".join(encode_frame(BEDROCK_HEADERS, piece.encode()) for piece in pieces)
    scrubbed = Scrubber().body(data, aws_event_stream.CONTENT_TYPE)
    buffer = eventstream.EventStreamBuffer()
    buffer.add_data(scrubbed)
    texts = [json.loads(message.payload)["delta"]["text"] for message in buffer]
    assert "".join(texts) == f"the key {REDACTED} ends"  # split over two frames, still found
    assert secret[:10].encode() not in scrubbed and secret[10:].encode() not in scrubbed
    untouched = encode_frame(BEDROCK_HEADERS, DELTA)
    assert Scrubber().body(untouched, aws_event_stream.CONTENT_TYPE) == untouched


def test_payload_rewriting_keeps_unchanged_frames_byte_for_byte_and_the_cut_off_tail():
    one = encode_frame(BEDROCK_HEADERS, b'{"toolUseId":"tooluse_new"}')
    two = encode_frame(BEDROCK_HEADERS, DELTA)
    data = one + two + two[:7]
    rewritten = aws_event_stream.map_payloads(data, lambda p: p.replace(b"_new", b"_old"))
    decoded, rest = decode_complete_frames(rewritten)
    assert [frame.payload for frame in decoded] == [b'{"toolUseId":"tooluse_old"}', DELTA]
    assert rewritten.endswith(two + two[:7]) and rest == two[:7]
