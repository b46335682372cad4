"""What a YAML file is (a cassette of which format, or something else) and what is wrong with
a cassette before it is committed: it does not parse, it holds a secret or a credential
header, or it stored an error response that says more about the API's mood than the model.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_llm.assertions.pii import Finding
from pytest_llm.cassette.file_format import (
    FORMAT_NAME,
    VCRPY_VERSION,
    RefusedCassette,
    load_yaml,
    parse_document,
    parse_document_file,
    sniffed_gzip,
)
from pytest_llm.cassette.interaction import Interaction
from pytest_llm.cassette.scrubbing import CREDENTIAL_HEADERS, SECRET_SHAPES, fragment_windows
from pytest_llm.cassette.tool_calls import ToolCall
from pytest_llm.errors import CassetteError
from pytest_llm.providers import credential_env_vars, replay_placeholders
from pytest_llm.replay.recorder import UNSTORABLE_STATUSES

#: Named patterns searched for besides the built-in secret shapes: ``(kind, pattern)``.
ExtraSecrets = Sequence[tuple[str, "re.Pattern[str]"]]
#: How a finding of a piece of a secret's value is named (``a piece of the value of $NAME``).
_PIECE = "a piece of the value of "
#: Shorter environment values are not looked for: they would match by chance.
_MIN_SECRET_LENGTH = 8


def project_secrets(redact_patterns: Sequence[str], environ: Mapping[str, str]) -> ExtraSecrets:
    """What ``pytest-llm check`` looks for besides the secret shapes: the project's
    ``llm_redact`` patterns and the values of the providers' credential variables
    set in ``environ`` (the replay placeholders and values under 8 characters left out)."""
    placeholders = set(replay_placeholders().values())
    found: list[tuple[str, re.Pattern[str]]] = [
        (f"llm_redact {pattern!r}", re.compile(pattern)) for pattern in redact_patterns
    ]
    for name in credential_env_vars():
        value = environ.get(name, "").strip()
        if len(value) >= _MIN_SECRET_LENGTH and value not in placeholders:
            found.append((f"the value of ${name}", re.compile(re.escape(value))))
            pieces = fragment_windows(value)
            if pieces:  # a key spelled in parts: any 12 characters of it
                pattern = re.compile("|".join(re.escape(piece) for piece in pieces))
                found.append((f"{_PIECE}${name}", pattern))
    return found


OWN_FORMAT = FORMAT_NAME
VCRPY_FORMAT = "vcrpy"
#: A file meant to be a cassette whose format cannot be told (malformed or unknown version).
UNKNOWN_FORMAT = "unknown"

_LOOKS_LIKE_CASSETTE = re.compile(rf"^(?:format:\s*{FORMAT_NAME}\b|-?\s*interactions:)", re.M)


@dataclasses.dataclass(frozen=True)
class Examined:
    """A YAML file's text, loaded once: what it is (:func:`cassette_kind`'s answer) and, for a
    cassette, its interactions or why it cannot be used."""

    kind: str | None
    interactions: list[Interaction] | None = None
    error: CassetteError | None = None
    document: Any = None
    tool_calls: list[ToolCall] = dataclasses.field(default_factory=list)


def cassette_kind(text: str) -> str | None:
    """:data:`OWN_FORMAT`, :data:`VCRPY_FORMAT` or :data:`UNKNOWN_FORMAT` for a cassette, None
    for other text. A file that does not parse counts as a cassette when it reads like one, so
    that its problem is reported rather than the file ignored; one over the loader limits
    always does (a hostile file is reported, never skipped)."""
    return examine(text, "<text>").kind


def examine(text: str, path: Path | str) -> Examined:
    """What ``text`` (read from ``path``) is, its YAML loaded once (within the loader limits)."""
    try:
        document = load_yaml(text, path)
    except RefusedCassette as error:
        return Examined(UNKNOWN_FORMAT, error=error)
    except CassetteError as error:
        kind = UNKNOWN_FORMAT if _LOOKS_LIKE_CASSETTE.search(text) else None
        return Examined(kind, error=error)
    kind = _kind_of(document)
    if kind is None:
        if isinstance(document, dict) or not _LOOKS_LIKE_CASSETTE.search(text):
            return Examined(None, document=document)
        kind = UNKNOWN_FORMAT
    try:
        contents = parse_document_file(document, path)
    except CassetteError as error:
        return Examined(kind, error=error, document=document)
    return Examined(
        kind,
        interactions=contents.interactions,
        document=document,
        tool_calls=contents.tool_calls,
    )


def _kind_of(document: Any) -> str | None:
    if not isinstance(document, dict):
        return None
    if document.get("format") == FORMAT_NAME:
        return OWN_FORMAT
    if "interactions" not in document:
        return None
    if "format" not in document and document.get("version") == VCRPY_VERSION:
        return VCRPY_FORMAT
    return UNKNOWN_FORMAT


def is_error_status(status: int) -> bool:
    """A status the recorder never stores: it describes the environment, not the model."""
    return status in UNSTORABLE_STATUSES or status >= 500


def problems(path: Path | str, text: str, *, extra: ExtraSecrets = ()) -> list[str]:
    """Every problem of the cassette ``text`` (read from ``path``), one ``path: problem`` line
    each; an empty list for a good cassette. ``extra`` (see :func:`project_secrets`) are
    secrets looked for besides the built-in shapes."""
    try:
        document = load_yaml(text, path)
        interactions = parse_document(document, path)
    except CassetteError as error:
        return [str(error)]
    stored = _secret_findings(text, extra)
    found = [
        f"{path}:{_line_of(text, finding.start)}: {_secret_problem(finding)}" for finding in stored
    ]
    seen = {finding.value for finding in stored}
    found += [
        f"{path}: interaction #{number}: in the {where}: {_secret_problem(finding)}"
        for number, where, finding in _decoded_secrets(interactions, extra)
        if finding.value not in seen
    ]
    found += _credential_headers(path, document)
    found += _error_responses(path, interactions)
    return found


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _decoded_secrets(
    interactions: list[Interaction], extra: ExtraSecrets = ()
) -> Iterator[tuple[int, str, Finding]]:
    """Secrets in the decoded interactions: also in gzip or base64 bodies, which a look at the
    file cannot see."""
    for number, interaction in enumerate(interactions, start=1):
        for where, text in _interaction_texts(interaction):
            for finding in _secret_findings(text, extra):
                yield number, where, finding


def _interaction_texts(interaction: Interaction) -> Iterator[tuple[str, str]]:
    yield "request path", interaction.path
    yield "request body", interaction.request_body.decode("utf-8", "replace")
    unzipped = sniffed_gzip(interaction.request_body)  # an old cassette's base64 gzip body
    if unzipped is not None:
        yield "request body (gzip)", unzipped.decode("utf-8", "replace")
    headers = "\n".join(
        f"{name}: {value}"
        for name, values in interaction.response_headers.items()
        for value in values
    )
    yield "response headers", headers
    yield "response body", interaction.response_body.decode("utf-8", "replace")


def _secret_findings(text: str, extra: ExtraSecrets = ()) -> list[Finding]:
    """Matches of the secret shapes that scrubbing removes (the same ones ``assert_no_pii``
    calls API keys), named by shape, and of ``extra``; a span found twice is reported once."""
    named = [
        Finding(kind, match.start(), match.end(), match.group())
        for kind, pattern in (*SECRET_SHAPES.items(), *extra)
        for match in pattern.finditer(text)
        if match.end() > match.start()
    ]
    unique: dict[tuple[int, int], Finding] = {}
    for finding in named:  # the built-in shape's name wins over an extra pattern's
        unique.setdefault((finding.start, finding.end), finding)
    # a piece of a secret inside a span already found (the whole value) is the same problem
    whole = [f for f in unique.values() if not f.kind.startswith(_PIECE)]
    named = [
        f
        for f in unique.values()
        if not (
            f.kind.startswith(_PIECE) and any(w.start <= f.start and f.end <= w.end for w in whole)
        )
    ]
    return sorted(named, key=lambda finding: finding.start)


def _secret_problem(finding: Finding) -> str:
    return (
        f"possible secret ({finding.kind}) stored: scrub it (llm_redact) and re-record "
        f"({finding.masked()})"
    )


def _credential_headers(path: Path | str, document: dict[str, Any]) -> Iterator[str]:
    """Credential headers kept in the file (vcrpy stores request headers; either format can
    carry response headers such as ``set-cookie``)."""
    for number, entry in enumerate(document.get("interactions") or (), start=1):
        for part in ("request", "response"):
            section = entry.get(part) if isinstance(entry, dict) else None
            headers = section.get("headers") if isinstance(section, dict) else None
            for name in headers if isinstance(headers, dict) else ():
                if str(name).lower() in CREDENTIAL_HEADERS:
                    yield (
                        f"{path}: interaction #{number}: {part} header {str(name).lower()!r} "
                        "stored (credentials do not belong in a cassette; `pytest-llm convert` "
                        "drops them)"
                    )


def _error_responses(path: Path | str, interactions: list[Interaction]) -> Iterator[str]:
    for number, interaction in enumerate(interactions, start=1):
        if is_error_status(interaction.status):
            yield (
                f"{path}: interaction #{number}: stored error response {interaction.status} "
                f"for {interaction.method} {interaction.path} (re-record it when the API answers)"
            )


def stale_cassettes(files: Sequence[Path], max_age_s: float) -> list[str]:
    """``path: stale: ...`` for each cassette verified longer ago than ``max_age_s`` (or
    never), and ``path: ...`` for a verification file that cannot be read."""
    from pytest_llm.cassette import verification

    dates = verification.VerificationDates()
    at = verification.now()
    found: list[str] = []
    broken: set[Path] = set()
    for file in files:
        sidecar = verification.sidecar_of(file)
        try:
            verified = dates.verified_at(file)
        except CassetteError as error:
            if sidecar not in broken:
                broken.add(sidecar)
                found.append(str(error))
            continue
        stale = verification.staleness(file, verified, max_age_s, at)
        if stale is not None:
            found.append(f"{file}: stale: {stale.describe()} (re-record: pytest --llm-rerecord)")
    return found
