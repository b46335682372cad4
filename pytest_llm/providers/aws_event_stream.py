"""The AWS event stream (``application/vnd.amazon.eventstream``): binary frames, as Bedrock's
ConverseStream (and other AWS streaming APIs) send them.

A frame is a 12-byte prelude (total length, headers length, both big-endian uint32, and the
CRC32 of those 8 bytes), typed headers, a payload, and the CRC32 of everything before it::

    [total][headers length][prelude crc] [headers] [payload] [message crc]

A header is its name (uint8 length, UTF-8), a type byte and a value: 0/1 true/false, 2 int8,
3 int16, 4 int32, 5 int64, 6 bytes and 7 string (uint16 length first), 8 timestamp (int64
milliseconds), 9 UUID (16 bytes). Bedrock's events carry ``:event-type``, ``:content-type``
and ``:message-type`` strings and a JSON payload.

Pure standard library (no botocore): the plugin decodes the frames to store them readably and
encodes them again, with valid checksums, to replay them.
"""

from __future__ import annotations

import base64
import dataclasses
import struct
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_llm.errors import MalformedEventStream
from pytest_llm.providers.sse import Event

CONTENT_TYPE = "application/vnd.amazon.eventstream"
PRELUDE_LENGTH = 12
#: botocore's limits for one frame; a frame over them is refused.
MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024
_FRAME_OVERHEAD = PRELUDE_LENGTH + 4

#: Header types by their type byte, and the other way round (bool and str are plain values).
TYPED_HEADER_KINDS = ("byte", "short", "integer", "long", "bytes", "timestamp", "uuid")
_TYPE_OF_KIND = {"byte": 2, "short": 3, "integer": 4, "long": 5, "bytes": 6, "timestamp": 8}
_INTEGER_FORMATS = {2: "!b", 3: "!h", 4: "!i", 5: "!q", 8: "!q"}
_KIND_OF_TYPE = {number: kind for kind, number in _TYPE_OF_KIND.items()} | {9: "uuid"}


@dataclasses.dataclass(frozen=True)
class TypedHeader:
    """A header value that is neither a string nor a boolean: its kind and value."""

    kind: str  # one of TYPED_HEADER_KINDS
    value: int | bytes | uuid.UUID


HeaderValue = str | bool | TypedHeader


@dataclasses.dataclass(frozen=True)
class Frame:
    """One message of the stream: its headers in order, its payload, where it starts."""

    headers: Mapping[str, HeaderValue]
    payload: bytes
    #: Where the frame starts in the stream, and its length in bytes (0: not from a stream).
    offset: int = dataclasses.field(default=0, compare=False)
    length: int = dataclasses.field(default=0, compare=False)

    def string_header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value if isinstance(value, str) else None


def is_aws_event_stream(content_type: str | None) -> bool:
    return bool(content_type) and CONTENT_TYPE in (content_type or "").lower()


# --------------------------------------------------------------------------- encoding


def encode_frame(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One frame with valid prelude and message checksums; MalformedEventStream when a header
    cannot be encoded (a name over 255 bytes, a value out of its type's range, ...)."""
    encoded_headers = b"".join(_encode_header(name, value) for name, value in headers.items())
    if len(encoded_headers) > MAX_HEADERS_LENGTH:
        raise MalformedEventStream(f"headers of {len(encoded_headers)} bytes: over the maximum")
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise MalformedEventStream(f"a payload of {len(payload)} bytes: over the maximum")
    total = _FRAME_OVERHEAD + len(encoded_headers) + len(payload)
    lengths = struct.pack("!II", total, len(encoded_headers))
    prelude = lengths + struct.pack("!I", zlib.crc32(lengths))
    message = prelude + encoded_headers + payload
    return message + struct.pack("!I", zlib.crc32(message))


def encode_frames(frames: Sequence[Frame]) -> bytes:
    return b"".join(encode_frame(frame.headers, frame.payload) for frame in frames)


def _encode_header(name: str, value: HeaderValue) -> bytes:
    if not isinstance(name, str):
        raise MalformedEventStream(f"header name {name!r} is not a string")
    raw_name = name.encode("utf-8")
    if not 1 <= len(raw_name) <= 255:
        raise MalformedEventStream(f"header name {name[:40]!r} is not 1 to 255 bytes long")
    head = struct.pack("!B", len(raw_name)) + raw_name
    if isinstance(value, bool):
        return head + (b"\x00" if value else b"\x01")
    if isinstance(value, str):
        return head + b"\x07" + _with_length(value.encode("utf-8"), name)
    if not isinstance(value, TypedHeader):
        raise MalformedEventStream(
            f"header {name!r}: a {type(value).__name__} value is not a header value"
        )
    if value.kind == "uuid":
        if not isinstance(value.value, uuid.UUID):
            raise MalformedEventStream(f"header {name!r}: a uuid header needs a UUID")
        return head + b"\x09" + value.value.bytes
    type_byte = _TYPE_OF_KIND.get(value.kind)
    if type_byte is None:
        raise MalformedEventStream(f"header {name!r}: unknown header type {value.kind!r}")
    if type_byte == 6:
        if not isinstance(value.value, bytes):
            raise MalformedEventStream(f"header {name!r}: a bytes header needs bytes")
        return head + b"\x06" + _with_length(value.value, name)
    number = value.value
    if not isinstance(number, int) or isinstance(number, bool):
        raise MalformedEventStream(f"header {name!r}: a {value.kind} header needs an integer")
    try:
        return head + bytes([type_byte]) + struct.pack(_INTEGER_FORMATS[type_byte], number)
    except struct.error:
        raise MalformedEventStream(
            f"header {name!r}: {number} is out of range for a {value.kind} header"
        ) from None


def _with_length(data: bytes, name: str) -> bytes:
    if len(data) > 0xFFFF:
        raise MalformedEventStream(f"header {name!r}: a value of {len(data)} bytes is too long")
    return struct.pack("!H", len(data)) + data


# --------------------------------------------------------------------------- decoding


def decode_frames(data: bytes) -> list[Frame]:
    """Every frame of ``data``; MalformedEventStream (naming the byte offset) on a bad checksum,
    an impossible length, a malformed header or trailing bytes that are not a whole frame."""
    frames, rest = decode_complete_frames(data)
    if rest:
        raise MalformedEventStream(
            f"at byte {len(data) - len(rest)}: {len(rest)} trailing bytes are not a whole frame "
            "(the stream was cut off?)"
        )
    return frames


def decode_complete_frames(
    data: bytes, *, stop_at_malformed: bool = False
) -> tuple[list[Frame], bytes]:
    """The whole frames at the start of ``data``, and what follows them (a frame cut off by
    the end of the data). A frame that is there but malformed raises MalformedEventStream, or
    with ``stop_at_malformed`` ends the frames (it and what follows are the rest)."""
    frames: list[Frame] = []
    offset = 0
    view = memoryview(data)
    while len(data) - offset >= PRELUDE_LENGTH:
        try:
            frame = _frame_at(view, offset, len(frames) + 1)
        except MalformedEventStream:
            if stop_at_malformed:
                break
            raise
        if frame is None:
            break  # cut off by the end of the data
        frames.append(frame)
        offset += frame.length
    return frames, data[offset:]


def _frame_at(view: memoryview, offset: int, number: int) -> Frame | None:
    """The frame at ``offset``, or None when the data ends before it does."""
    total, headers_length, prelude_crc = struct.unpack_from("!III", view, offset)
    where = f"at byte {offset} (frame {number})"
    computed = zlib.crc32(view[offset : offset + 8])
    if computed != prelude_crc:
        raise MalformedEventStream(
            f"{where}: prelude checksum mismatch "
            f"(expected 0x{prelude_crc:08x}, computed 0x{computed:08x})"
        )
    if headers_length > MAX_HEADERS_LENGTH:
        raise MalformedEventStream(f"{where}: headers of {headers_length} bytes: too long")
    payload_length = total - headers_length - _FRAME_OVERHEAD
    if payload_length < 0:
        raise MalformedEventStream(
            f"{where}: total length {total} is shorter than its headers ({headers_length})"
        )
    if payload_length > MAX_PAYLOAD_LENGTH:
        raise MalformedEventStream(f"{where}: a payload of {payload_length} bytes: too long")
    if len(view) - offset < total:
        return None
    (message_crc,) = struct.unpack_from("!I", view, offset + total - 4)
    computed = zlib.crc32(view[offset : offset + total - 4])
    if computed != message_crc:
        raise MalformedEventStream(
            f"{where}: message checksum mismatch "
            f"(expected 0x{message_crc:08x}, computed 0x{computed:08x})"
        )
    start = offset + PRELUDE_LENGTH
    headers = _decode_headers(bytes(view[start : start + headers_length]), where)
    payload_start = start + headers_length
    payload = bytes(view[payload_start : payload_start + payload_length])
    return Frame(headers, payload, offset, total)


def _decode_headers(data: bytes, where: str) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    position = 0

    def take(count: int) -> bytes:
        nonlocal position
        if position + count > len(data):
            raise MalformedEventStream(f"{where}: a header runs past the end of the headers")
        piece = data[position : position + count]
        position += count
        return piece

    while position < len(data):
        name_length = take(1)[0]
        name = _utf8(take(name_length), where, "header name")
        type_byte = take(1)[0]
        value: HeaderValue
        if type_byte in (0, 1):
            value = type_byte == 0
        elif type_byte in _INTEGER_FORMATS:
            fmt = _INTEGER_FORMATS[type_byte]
            (number,) = struct.unpack(fmt, take(struct.calcsize(fmt)))
            value = TypedHeader(_KIND_OF_TYPE[type_byte], number)
        elif type_byte in (6, 7):
            (length,) = struct.unpack("!H", take(2))
            raw = take(length)
            value = (
                _utf8(raw, where, f"header {name!r}")
                if type_byte == 7
                else TypedHeader("bytes", raw)
            )
        elif type_byte == 9:
            value = TypedHeader("uuid", uuid.UUID(bytes=take(16)))
        else:
            raise MalformedEventStream(f"{where}: header {name!r} has unknown type {type_byte}")
        if name in headers:
            raise MalformedEventStream(f"{where}: header {name!r} appears twice")
        headers[name] = value
    return headers


def _utf8(raw: bytes, where: str, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedEventStream(f"{where}: {what} is not UTF-8") from None


# --------------------------------------------------------------------------- rewriting


def map_payloads(data: bytes, rewrite: Callable[[bytes], bytes]) -> bytes:
    """``data`` with each whole frame's payload rewritten (checksums made valid again). A
    cut-off or malformed tail is kept as it is (bytes that are no event stream: all of them)."""
    frames, rest = decode_complete_frames(data, stop_at_malformed=True)
    pieces = []
    for frame in frames:
        payload = rewrite(frame.payload)
        if payload == frame.payload:  # an unchanged frame keeps its bytes exactly
            pieces.append(data[frame.offset : frame.offset + frame.length])
        else:
            pieces.append(encode_frame(frame.headers, payload))
    return b"".join(pieces) + rest


# --------------------------------------------------------------------------- the cassette's form


def header_document(value: HeaderValue) -> Any:
    """A header value as YAML data: strings and booleans as they are, others tagged."""
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value.value, bytes):
        return {"type": value.kind, "base64": base64.b64encode(value.value).decode("ascii")}
    return {"type": value.kind, "value": str(value.value) if value.kind == "uuid" else value.value}


def header_from_document(name: str, document: Any) -> HeaderValue:
    """The header value :func:`header_document` wrote; MalformedEventStream otherwise."""
    if isinstance(document, (str, bool)):
        return document
    if not isinstance(document, dict) or document.get("type") not in TYPED_HEADER_KINDS:
        raise MalformedEventStream(
            f"header {name!r}: {document!r} is not a string, a boolean or a typed header "
            f"({{type: one of {', '.join(TYPED_HEADER_KINDS)}, value: ...}})"
        )
    kind = document["type"]
    try:
        if kind == "bytes":
            return TypedHeader(kind, base64.b64decode(str(document["base64"]), validate=True))
        if kind == "uuid":
            return TypedHeader(kind, uuid.UUID(str(document["value"])))
    except (KeyError, ValueError) as error:
        raise MalformedEventStream(
            f"header {name!r}: not a valid {kind} header ({error})"
        ) from None
    number = document.get("value")
    if not isinstance(number, int) or isinstance(number, bool):
        raise MalformedEventStream(f"header {name!r}: a {kind} header needs an integer value")
    return TypedHeader(kind, number)


def frames_document(frames: Sequence[Frame]) -> list[dict[str, Any]]:
    """Frames as the cassette stores them: each its headers (``:event-type``,
    ``:message-type``, ...) and its payload as data when it is JSON (``payload``), else as text
    (``payload_text``) or base64 (``payload_base64``)."""
    from pytest_llm.cassette.bounded_json import parse_json  # the cassette imports this module

    documents = []
    for frame in frames:
        document: dict[str, Any] = {
            "headers": {name: header_document(value) for name, value in frame.headers.items()}
        }
        if frame.payload:
            parsed = parse_json(frame.payload)
            if parsed is not None or frame.payload.strip() == b"null":
                document["payload"] = parsed
            else:
                try:
                    document["payload_text"] = frame.payload.decode("utf-8")
                except UnicodeDecodeError:
                    document["payload_base64"] = base64.b64encode(frame.payload).decode("ascii")
        documents.append(document)
    return documents


def frames_from_document(document: Any) -> bytes:
    """The wire bytes of the frames :func:`frames_document` wrote, with valid checksums;
    MalformedEventStream naming the event otherwise."""
    import json

    if not isinstance(document, list):
        raise MalformedEventStream(
            f"the event stream is a {type(document).__name__}, not a list of events"
        )
    frames = []
    for number, event in enumerate(document, start=1):
        try:
            if not isinstance(event, dict) or not isinstance(event.get("headers", {}), dict):
                raise MalformedEventStream("not a mapping with 'headers' and 'payload'")
            headers = {
                str(name): header_from_document(str(name), value)
                for name, value in (event.get("headers") or {}).items()
            }
            if "payload" in event:
                payload = json.dumps(
                    event["payload"], ensure_ascii=False, separators=(",", ":")
                ).encode("utf-8")
            elif "payload_text" in event:
                payload = str(event["payload_text"]).encode("utf-8")
            elif "payload_base64" in event:
                payload = base64.b64decode(str(event["payload_base64"]), validate=True)
            else:
                payload = b""
            frames.append(encode_frame(headers, payload))
        except (MalformedEventStream, ValueError, TypeError, RecursionError) as error:
            raise MalformedEventStream(f"event #{number}: {error}") from None
    return b"".join(frames)


def events(data: bytes) -> list[Event]:
    """The whole frames of a stream as events: the name is the ``:event-type`` (an
    exception's ``:exception-type``), the data the payload as text. A cut-off or malformed tail
    is left out: it holds no end marker, so the stream reads as cut off."""
    frames, _ = decode_complete_frames(data, stop_at_malformed=True)
    return [
        Event(
            frame.string_header(":event-type") or frame.string_header(":exception-type"),
            frame.payload.decode("utf-8", "replace"),
            frame.offset,
            message_type=frame.string_header(":message-type"),
        )
        for frame in frames
    ]
