"""Reading and writing cassette files.

The plugin's own format is readable YAML: JSON bodies as YAML structure, event streams (and
NDJSON streams, one JSON document a line) as one literal block plus the assembled text, AWS
event streams as their decoded frames plus the assembled text, a summary of each call (model,
timing, tokens), stable key order, no line folding. Plain vcrpy / pytest-recording cassettes (``version: 1``,
plain, gzip or base64 bodies, the older httpx layout too) are read as well.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import stat
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pytest_llm.cassette import fast_yaml, tool_calls
from pytest_llm.cassette.interaction import FIXTURE_PHASES, Interaction, Timing, parse_json, path_of
from pytest_llm.errors import (
    CassetteError,
    ContentTooLarge,
    MalformedEventStream,
    UndecodableContent,
)
from pytest_llm.providers import (
    Provider,
    aws_event_stream,
    llm_call,
    streams,
    volatile_header_prefixes,
    volatile_headers,
)
from pytest_llm.providers.streams import StreamFormat

FORMAT_NAME = "pytest-llm"
FORMAT_VERSION = 1
VCRPY_VERSION = 1
HEADER_COMMENT = (
    "# pytest-llm cassette: replayed by `pytest`, recorded by `pytest --llm-record`,\n"
    "# re-recorded and compared by `pytest --llm-rerecord`. Render it with `pytest-llm show`.\n"
)

#: Response headers that change on every call or describe the transport, not the answer.
VOLATILE_RESPONSE_HEADERS = frozenset(
    {
        "date",
        "age",
        "expires",
        "etag",
        "last-modified",
        "request-id",
        "x-envoy-upstream-service-time",
        "cf-ray",
        "cf-cache-status",
        "server",
        "server-timing",
        "alt-svc",
        "via",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "strict-transport-security",
        "traceparent",
        "tracestate",
        "x-amzn-trace-id",
        "x-cloud-trace-context",
        "x-ms-region",
        "x-ms-client-request-id",
        "access-control-expose-headers",
        "x-content-type-options",
        "nel",
        "report-to",
    }
)
#: Every provider's own volatile headers join the transport's above.
VOLATILE_RESPONSE_HEADERS = VOLATILE_RESPONSE_HEADERS | volatile_headers()
VOLATILE_HEADER_PREFIXES = ("cf-", "x-envoy-", "x-kong-", *volatile_header_prefixes())

_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def is_volatile_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in VOLATILE_RESPONSE_HEADERS or lowered.startswith(VOLATILE_HEADER_PREFIXES)


# --------------------------------------------------------------------------- reading


@dataclasses.dataclass(frozen=True)
class CassetteFile:
    """What a cassette file holds: its HTTP interactions and its recorded tool calls."""

    interactions: list[Interaction]
    tool_calls: list[tool_calls.ToolCall] = dataclasses.field(default_factory=list)


def read_cassette(path: Path) -> list[Interaction]:
    """Load a cassette file of either format; every problem is a :class:`CassetteError`."""
    return read_cassette_file(path).interactions


def read_cassette_file(path: Path) -> CassetteFile:
    """Load a cassette file of either format, its tool calls too (see :func:`read_cassette`)."""
    try:
        text = fast_yaml.read_bounded(path).decode("utf-8")
    except UnicodeDecodeError as error:
        raise CassetteError(f"{path}: not a UTF-8 text file ({error.reason})") from None
    except OSError as error:
        raise CassetteError(f"{path}: cannot be read: {error.strerror or error}") from None
    except fast_yaml.RefusedDocument as error:
        raise refused(path, error) from None
    return parse_document_file(load_yaml(text, path), path)


class RefusedCassette(CassetteError):
    """A cassette over a loader limit (:class:`fast_yaml.LoadLimits`), or a recursive one."""


def refused(path: Path | str, error: fast_yaml.RefusedDocument) -> RefusedCassette:
    """The error for a cassette over a loader limit: the file, the line, which limit."""
    mark = error.problem_mark
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    return RefusedCassette(f"{where}: cassette refused: {error.problem} ({fast_yaml.LIMITS_HELP})")


def parse_cassette(text: str, path: Path | str) -> list[Interaction]:
    return parse_document(load_yaml(text, path), path)


def load_yaml(text: str, path: Path | str) -> Any:
    """The YAML document of a cassette file, within the loader limits; a
    :class:`CassetteError` naming the file and line otherwise."""
    try:
        return fast_yaml.load(text)
    except fast_yaml.RefusedDocument as error:
        raise refused(path, error) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = error.problem or error.context or "malformed YAML"
        raise CassetteError(f"{where}: malformed cassette YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise CassetteError(f"{path}: malformed cassette YAML: {error}") from None


def parse_document(document: Any, path: Path | str) -> list[Interaction]:
    """The interactions of a loaded cassette document (:func:`load_yaml`) of either format."""
    return parse_document_file(document, path).interactions


def parse_document_file(document: Any, path: Path | str) -> CassetteFile:
    """The interactions and tool calls of a loaded cassette document of either format (a
    vcrpy cassette has no tool calls)."""
    if not isinstance(document, dict):
        raise CassetteError(
            f"{path}: not a cassette (expected a mapping with 'interactions', got "
            f"{type(document).__name__}); the file may be truncated"
        )
    if "format" in document:
        if document.get("format") != FORMAT_NAME or document.get("version") != FORMAT_VERSION:
            raise CassetteError(
                f"{path}: unknown cassette format {document.get('format')!r} version "
                f"{document.get('version')!r}; this pytest-llm reads format {FORMAT_NAME!r} "
                f"version {FORMAT_VERSION} and vcrpy version {VCRPY_VERSION} (upgrade pytest-llm?)"
            )
        return CassetteFile(
            _parse_entries(document, path, _own_interaction),
            tool_calls.parse_tool_calls(document, path),
        )
    if document.get("version") != VCRPY_VERSION:
        raise CassetteError(
            f"{path}: unknown cassette version {document.get('version')!r}; expected a pytest-llm "
            f"cassette ('format: {FORMAT_NAME}') or a vcrpy cassette ('version: {VCRPY_VERSION}')"
        )
    return CassetteFile(_parse_entries(document, path, _vcrpy_interaction))


def _parse_entries(
    document: dict[str, Any], path: Path | str, parse: Callable[[dict[str, Any]], Interaction]
) -> list[Interaction]:
    entries = document.get("interactions")
    if not isinstance(entries, list):
        raise CassetteError(f"{path}: no 'interactions' list; the file may be truncated")
    interactions = []
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise CassetteError(f"{path}: interaction #{index} is not a mapping (truncated file?)")
        try:
            interactions.append(parse(entry))
        except UndecodableContent as error:
            raise CassetteError(f"{path}: interaction #{index}: {error}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            detail = f"missing {error}" if isinstance(error, KeyError) else str(error)
            raise CassetteError(
                f"{path}: interaction #{index} is incomplete or malformed ({detail}); "
                "the file may be truncated"
            ) from None
    return interactions


def _own_interaction(entry: dict[str, Any]) -> Interaction:
    request, response = entry["request"], entry["response"]
    call = entry.get("call")
    # The writer ends every interaction with its call summary, latency included: a file cut off
    # anywhere before that line (even on a line break, where the YAML still parses) lacks it.
    if not isinstance(call, dict) or "latency_s" not in call:
        raise ValueError("its 'call' summary with 'latency_s', written last, is missing")
    status = response["status"]
    if not isinstance(status, int):
        raise ValueError(f"response status {status!r} is not an integer")
    headers = {
        str(name).lower(): _header_values(value)
        for name, value in (response.get("headers") or {}).items()
    }
    phase = entry.get("phase")
    if phase is not None and phase not in FIXTURE_PHASES:
        raise ValueError(f"phase {phase!r} is neither 'setup' nor 'teardown'")
    return Interaction(
        phase=phase,
        method=str(request["method"]).upper(),
        path=str(request["path"]),
        request_body=_decode_body(request),
        request_content_type="application/json" if "json" in request else None,
        status=status,
        reason=str(response.get("reason") or ""),
        response_headers=headers,
        response_body=_checked_frames(_decode_body(response), headers),
        timing=Timing(latency_s=_number(call.get("latency_s")), ttft_s=_number(call.get("ttft_s"))),
    )


def _decode_body(part: dict[str, Any]) -> bytes:
    if "aws_event_stream" in part:  # encoded again, with valid checksums, for the SDK to parse
        return aws_event_stream.frames_from_document(part["aws_event_stream"])
    if "json" in part:
        return json.dumps(part["json"], ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if "sse" in part:
        return str(part["sse"]).encode("utf-8")
    if "ndjson" in part:
        lines = part["ndjson"]
        if not isinstance(lines, str):
            raise ValueError(
                f"its 'ndjson' stream is {type(lines).__name__}, not a block of text "
                "(one JSON document a line)"
            )
        return lines.encode("utf-8")
    if "text" in part:
        return str(part["text"]).encode("utf-8")
    if "base64" in part:
        return base64.b64decode(part["base64"])
    return b""


def _vcrpy_interaction(entry: dict[str, Any]) -> Interaction:
    request, response = entry["request"], entry["response"]
    if not isinstance(request, dict) or not isinstance(response, dict):
        raise ValueError("its request and response must be mappings")
    if "status_code" in response:  # older vcrpy httpx layout: content / status_code / http_version
        status, reason, raw = response["status_code"], "", response.get("content")
    else:
        status_field = response["status"]
        if isinstance(status_field, int) and not isinstance(status_field, bool):
            status, reason = status_field, ""  # cassetter (pydantic-ai): a bare status code
        elif isinstance(status_field, dict):
            status, reason = status_field["code"], status_field.get("message") or ""
        else:
            raise ValueError(f"response status {status_field!r} is neither a code nor a mapping")
        raw = _foreign_body(response, "response")
    headers = {
        str(name).lower(): _header_values(value)
        for name, value in (response.get("headers") or {}).items()
    }
    body_bytes = _checked_frames(decode_content(_as_bytes(raw), headers), headers)
    request_headers = {
        str(name).lower(): _header_values(value)
        for name, value in (request.get("headers") or {}).items()
    }
    request_bytes = _as_bytes(_foreign_body(request, "request"))
    decoded_request = decode_request_body(request_bytes, request_headers)
    if decoded_request is not request_bytes:  # stored readable: the header no longer applies
        request_headers.pop("content-encoding", None)
        request_headers.pop("content-length", None)
    return Interaction(
        method=str(request["method"]).upper(),
        path=path_of(str(request["uri"])),
        request_body=decoded_request,
        request_content_type=next(iter(request_headers.get("content-type") or ()), None),
        status=int(status),
        reason=str(reason),
        response_headers=headers,
        response_body=body_bytes,
        request_headers=request_headers,
    )


#: The ``type`` values of cassetter's (pydantic-ai's recorder) typed bodies.
_TYPED_BODY_KINDS = ("json", "text", "none")


def _foreign_body(part: dict[str, Any], side: str) -> Any:
    """The body of a vcrpy request or response as stored: vcrpy's ``body`` (a string, or
    ``{string: ...}`` for a response); pydantic-ai's serializer's ``parsed_body`` (the JSON body
    as YAML, which wins over ``body`` as it does there); cassetter's typed ``body: {type,
    content}``. A body that cannot be JSON again is a ValueError naming the field."""
    if part.get("parsed_body") is not None:
        return _json_text(part["parsed_body"], f"its {side}'s parsed_body")
    body = part.get("body")
    if isinstance(body, dict) and "type" in body and "string" not in body:
        kind = body.get("type")
        if kind not in _TYPED_BODY_KINDS:
            raise ValueError(
                f"its {side} body has type {kind!r}; pytest-llm reads the types "
                f"{', '.join(_TYPED_BODY_KINDS)} (re-record the cassette with pytest-llm)"
            )
        content = body.get("content")
        if kind == "none" or content is None:
            return None
        if kind == "text":
            if not isinstance(content, str):
                raise ValueError(f"its {side} body of type text holds {type(content).__name__}")
            return content
        return _json_text(content, f"its {side} body of type json")
    if isinstance(body, dict):
        return body.get("string")
    return body


def _json_text(value: Any, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError(f"{what} is not JSON data ({error})") from None


def _checked_frames(body: bytes, headers: dict[str, list[str]]) -> bytes:
    """An AWS event stream body as stored; MalformedEventStream (a ValueError: the cassette's
    error names the file and interaction) when a frame is malformed (a bad checksum, say)."""
    content_type = next(iter(headers.get("content-type") or ()), None)
    if aws_event_stream.is_aws_event_stream(content_type) and body:
        aws_event_stream.decode_complete_frames(body)
    return body


def decode_content(
    body: bytes, headers: dict[str, list[str]], max_bytes: int = fast_yaml.LIMITS.max_bytes
) -> bytes:
    """Undo gzip/deflate (and zstd, br when the ``zstandard``, ``brotli`` module is installed)
    content encoding and drop the header (also when the body was stored already decoded, as
    some recorders did). No layer may decompress to more than ``max_bytes`` (a few KB of gzip
    can hold gigabytes of zeros): :class:`ContentTooLarge` then; a zstd or br body without its
    decoder is :class:`UndecodableContent` naming the encoding and the package."""
    encodings = headers.pop("content-encoding", None)
    headers.pop("content-length", None)
    for encoding in reversed(
        [item.strip().lower() for value in encodings or () for item in value.split(",")]
    ):
        try:
            if encoding in ("gzip", "x-gzip"):
                body = _bounded_decompress(body, 16 + zlib.MAX_WBITS, max_bytes)
            elif encoding == "deflate":
                body = _bounded_decompress(body, zlib.MAX_WBITS, max_bytes)
            elif encoding == "zstd":
                body = _bounded_zstd(body, max_bytes)
            elif encoding == "br":
                body = _bounded_brotli(body, max_bytes)
        except (zlib.error, EOFError, _CorruptContent):
            break  # stored decoded already
    return body


def decode_request_body(body: bytes, headers: Mapping[str, Sequence[str]]) -> bytes:
    """A request body with its gzip/deflate content encoding undone (bounded like an answer),
    so that it is scrubbed, stored readable and matched as the JSON it is. ``headers`` (lower-case
    names) are not changed; a body that does not decode is returned as it was."""
    encodings = [
        item.strip().lower()
        for value in headers.get("content-encoding") or ()
        for item in value.split(",")
    ]
    if not encodings or any(
        item not in ("gzip", "x-gzip", "deflate", "identity") for item in encodings
    ):
        return body
    try:
        return decode_content(body, {"content-encoding": [", ".join(encodings)]})
    except UndecodableContent:
        return body


def sniffed_gzip(body: bytes) -> bytes | None:
    """A body that is gzip data (its magic number says so), decompressed (bounded); None when it
    is not one. For checks of old cassettes that stored a gzip request body as base64."""
    if not body.startswith(b"\x1f\x8b"):
        return None
    try:
        return _bounded_decompress(body, 16 + zlib.MAX_WBITS, fast_yaml.LIMITS.max_bytes)
    except (zlib.error, EOFError, UndecodableContent):
        return None


class _CorruptContent(Exception):
    """Bytes that are not what their content-encoding says (stored decoded already, say)."""


def _too_large(encoding: str, max_bytes: int) -> ContentTooLarge:
    return ContentTooLarge(
        f"its {encoding} body decompresses to more than {max_bytes} bytes, "
        f"the limit for a cassette body ({fast_yaml.LIMITS_HELP})"
    )


def _decoder_module(encoding: str, module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UndecodableContent(
            f"its body is {encoding}-encoded (content-encoding: {encoding}), which needs the "
            f"{module} package: pip install {module}"
        ) from None


def _bounded_zstd(data: bytes, max_bytes: int) -> bytes:
    """``data`` zstd-decompressed (frames one after another) a mebibyte at a time, refused as
    soon as it comes to more than ``max_bytes``."""
    import io

    zstandard = _decoder_module("zstd", "zstandard")
    parts: list[bytes] = []
    produced = 0
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(
            io.BytesIO(data), read_across_frames=True
        )
        with reader:
            while True:
                chunk = reader.read(_DECOMPRESSED_PIECE)
                if not chunk:
                    break
                produced += len(chunk)
                if produced > max_bytes:
                    raise _too_large("zstd", max_bytes)
                parts.append(chunk)
    except zstandard.ZstdError as error:
        raise _CorruptContent(str(error)) from None
    if not parts and data:
        raise _CorruptContent("no zstd frame")
    return b"".join(parts)


def _bounded_brotli(data: bytes, max_bytes: int) -> bytes:
    """``data`` brotli-decompressed, refused as soon as it comes to more than ``max_bytes``."""
    brotli = _decoder_module("br", "brotli")
    decompressor = brotli.Decompressor()
    parts: list[bytes] = []
    produced = 0
    try:
        try:
            chunk = decompressor.process(data, output_buffer_limit=_DECOMPRESSED_PIECE)
            pieces: Any = None
        except TypeError:  # brotli < 1.2: no output limit, so feed the input a little at a time
            chunk, pieces = b"", (data[at : at + 256] for at in range(0, len(data), 256))
        while True:
            produced += len(chunk)
            if produced > max_bytes:
                raise _too_large("br", max_bytes)
            parts.append(chunk)
            if pieces is not None:
                piece = next(pieces, None)
                if piece is None:
                    break
                chunk = decompressor.process(piece)
            elif decompressor.is_finished() or decompressor.can_accept_more_data():
                break
            else:
                chunk = decompressor.process(b"", output_buffer_limit=_DECOMPRESSED_PIECE)
        if not decompressor.is_finished():
            raise _CorruptContent("brotli data ends before its end")
    except brotli.error as error:
        raise _CorruptContent(str(error)) from None
    return b"".join(parts)


def _bounded_decompress(data: bytes, window_bits: int, max_bytes: int) -> bytes:
    """``data`` decompressed (gzip members one after another, as ``gzip.decompress`` reads
    them) a mebibyte at a time, refused as soon as it comes to more than ``max_bytes``."""
    parts: list[bytes] = []
    produced = 0
    while True:
        decompressor = zlib.decompressobj(window_bits)
        pending = data
        while not decompressor.eof:
            chunk = decompressor.decompress(pending, _DECOMPRESSED_PIECE)
            if not chunk and not pending:
                break  # the input ends before the stream does
            pending = decompressor.unconsumed_tail
            produced += len(chunk)
            if produced > max_bytes:
                encoding = "gzip" if window_bits > zlib.MAX_WBITS else "deflate"
                raise _too_large(encoding, max_bytes)
            parts.append(chunk)
        if not decompressor.eof:
            raise EOFError("compressed data ends before its end-of-stream marker")
        data = decompressor.unused_data.lstrip(b"\0")
        if window_bits <= zlib.MAX_WBITS or not data:
            return b"".join(parts)


_DECOMPRESSED_PIECE = 2**20


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def _header_values(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------- writing


class _CassetteDumper(_BaseDumper):  # type: ignore[misc]
    """Block style, no folding, multi-line strings as literal blocks."""


def _represent_str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_list(dumper: Any, value: list[Any]) -> Any:
    """Vectors (embeddings, logprobs) on one line: a diff of a cassette shows one line per vector,
    not one per number."""
    numeric = len(value) > 1 and all(
        isinstance(item, (int, float)) and not isinstance(item, bool) for item in value
    )
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=numeric)


_CassetteDumper.add_representer(str, _represent_str)
_CassetteDumper.add_representer(list, _represent_list)


def render_cassette(
    interactions: Sequence[Interaction], recorded_tools: Sequence[tool_calls.ToolCall] = ()
) -> str:
    """The cassette file's text; a ``tools:`` list only when ``recorded_tools`` has calls."""
    document: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "interactions": [interaction_document(item) for item in interactions],
    }
    if recorded_tools:
        document[tool_calls.TOOLS_KEY] = tool_calls.tool_calls_document(recorded_tools)
    body = yaml.dump(
        document,
        Dumper=_CassetteDumper,
        sort_keys=False,
        allow_unicode=True,
        width=2**31 - 1,
        default_flow_style=False,
    )
    return HEADER_COMMENT + body


def interaction_document(interaction: Interaction) -> dict[str, Any]:
    request: dict[str, Any] = {"method": interaction.method, "path": interaction.path}
    request.update(
        _body_document(interaction.request_body, stream=None, provider=interaction.provider)
    )
    response: dict[str, Any] = {"status": interaction.status}
    if interaction.reason and interaction.reason != _default_reason(interaction.status):
        response["reason"] = interaction.reason
    headers = {
        name: values[0] if len(values) == 1 else list(values)
        for name, values in sorted(interaction.response_headers.items())
        if not is_volatile_header(name)
    }
    if headers:
        response["headers"] = headers
    response.update(
        _body_document(
            interaction.response_body,
            stream=interaction.stream_format,
            provider=interaction.provider,
        )
    )
    document: dict[str, Any] = {"phase": interaction.phase} if interaction.phase else {}
    document.update(request=request, response=response, call=_call_summary(interaction))
    return document


def _body_document(
    body: bytes, *, stream: StreamFormat | None, provider: Provider
) -> dict[str, Any]:
    if not body:
        return {}
    if stream == "aws_event_stream":
        return _aws_event_stream_document(body, provider)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode("ascii")}
    if stream is not None:  # SSE and NDJSON: the stream as one literal block, its text assembled
        if stream == "sse":
            text = text.replace("\r\n", "\n")
        # NDJSON is kept byte for byte: replay gives back exactly what was sent.
        return {stream: text, "text": provider.stream_answer(streams.events_of(stream, text)).text}
    parsed = parse_json(body)
    if parsed is not None or text.strip() == "null":
        return {"json": parsed}
    return {"text": text}


def _aws_event_stream_document(body: bytes, provider: Provider) -> dict[str, Any]:
    """An AWS event stream's frames as readable events (headers, payload as YAML) and the
    assembled text; bytes that do not decode as frames are kept as base64."""
    try:
        frames = aws_event_stream.decode_frames(body)
    except MalformedEventStream:
        return {"base64": base64.b64encode(body).decode("ascii")}
    return {
        "aws_event_stream": aws_event_stream.frames_document(frames),
        "text": provider.stream_answer(streams.events_of("aws_event_stream", body)).text,
    }


def _call_summary(interaction: Interaction) -> dict[str, Any]:
    call = llm_call.describe(interaction)
    summary: dict[str, Any] = {"endpoint": call.endpoint}
    if call.model:
        summary["model"] = call.model
    summary["latency_s"] = _rounded(call.latency_s)
    if interaction.is_stream:
        summary["ttft_s"] = _rounded(call.ttft_s)
    if call.prompt_tokens is not None:
        summary["prompt_tokens"] = call.prompt_tokens
    if call.completion_tokens is not None:
        summary["completion_tokens"] = call.completion_tokens
    return summary


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _default_reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


#: The name of the atomic writer's temporary file of a cassette: ``.<name>.<random>.tmp``
#: (``tempfile.mkstemp``'s random part; older versions wrote ``.<name>.<pid>.tmp``).
STALE_TEMPORARY = re.compile(r"\..+\.ya?ml\.[A-Za-z0-9_]+\.tmp")
#: A temporary file older than this (seconds) was left by a killed writer: no write of one
#: cassette takes an hour, however loaded the machine.
STALE_AFTER_S = 3600.0


def remove_stale_temporaries(folder: Path, *, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete, in ``folder`` only (not below it), the regular files named like the atomic
    writer's cassette temporaries whose last change is older than ``older_than_s``: a process
    killed between writing and renaming leaves one behind. Returns what was deleted."""
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not STALE_TEMPORARY.fullmatch(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime > older_than_s:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone already, or not ours to delete
    return removed


def write_atomically(path: Path, text: str, *, clean_stale: bool = False) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one; with
    ``clean_stale`` (cassette folders only) first :func:`remove_stale_temporaries` there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if clean_stale:
        remove_stale_temporaries(path.parent)
    # mkstemp opens with O_CREAT | O_EXCL: a planted file or symlink of that name is never
    # followed (a hostile checkout cannot make recording write outside the project), and the
    # rename replaces a symlink at ``path`` itself rather than writing through it.
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        os.fchmod(descriptor, _new_file_mode(path))
        with open(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _new_file_mode(path: Path) -> int:
    """The permissions of the file written to ``path``: those of the regular file there now,
    else what ``open`` would give a new file (mkstemp's 0600 would hide it from the group)."""
    try:
        info = os.lstat(path)
    except OSError:
        info = None
    if info is not None and stat.S_ISREG(info.st_mode):
        return stat.S_IMODE(info.st_mode)
    return 0o666 & ~_UMASK


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
