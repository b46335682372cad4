"""When each cassette was last verified against the live API: the ``.verified.json`` sidecar
of a cassette folder, durations such as ``30d``, and how old a cassette is.

A cassette records what the model said, and re-recording an unchanged answer changes no line
of it; so the date a case last ran live cannot live in the cassette. It lives beside it, in one
small JSON file per cassette folder::

    {
      "format": "pytest-llm-verified/1",
      "verified": {
        "test_refund.yaml": "2026-12-03T15:13:00Z"
      }
    }

Names are sorted and dates are UTC to the second, so a re-record moves one date and nothing
else. Writers (xdist workers) take an exclusive ``flock`` of the folder, read, update and
replace the file atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from pytest_llm.errors import CassetteError

SIDECAR_NAME = ".verified.json"
FORMAT = "pytest-llm-verified/1"
#: A sidecar larger than this is refused (a million cassettes' dates fit in 64 MB).
MAX_SIDECAR_BYTES = 64 * 2**20

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")  # ASCII digits only
#: A date further ahead of now than this (seconds) is refused: no clock is that wrong, and a
#: future date would keep a cassette from ever going stale.
MAX_FUTURE_S = 86400.0
DURATION_HELP = "a number and a unit: s, m, h, d or w (e.g. 30d, 12h, 2w)"


def now() -> datetime.datetime:
    """The current time, in UTC (tests replace this function to fix the clock)."""
    return datetime.datetime.now(datetime.timezone.utc)


def parse_duration(text: object) -> float:
    """Seconds in ``text`` such as ``30d``; ``ValueError`` saying what is expected."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration: give {DURATION_HELP}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0 or seconds > 100 * 365 * 86400:
        raise ValueError(f"{text!r}: give a duration above 0 and at most 100 years")
    return seconds


def describe_duration(seconds: float) -> str:
    """``45 days``, ``3 hours``, ``12 minutes``: how long, readably."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size or (unit == "minute" and seconds >= size):
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    count = int(seconds)
    return f"{count} second{'' if count == 1 else 's'}"


def format_date(when: datetime.datetime) -> str:
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sidecar_of(cassette: Path) -> Path:
    return cassette.parent / SIDECAR_NAME


def read_sidecar(path: Path) -> dict[str, datetime.datetime]:
    """The dates of a sidecar file (empty when there is none); a file that is not one is a
    :class:`CassetteError` naming it."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SIDECAR_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise CassetteError(f"{path}: cannot be read: {error.strerror or error}") from None
    return parse_sidecar(data, path)


def parse_sidecar(data: bytes, path: Path | str) -> dict[str, datetime.datetime]:
    fix = "fix it, or delete it (the next recording of each case writes its date again)"
    if len(data) > MAX_SIDECAR_BYTES:
        raise CassetteError(f"{path}: larger than {MAX_SIDECAR_BYTES} bytes; {fix}")
    try:
        document = json.loads(data, object_pairs_hook=_unique_keys)
    except _DuplicateKey as error:
        raise CassetteError(f"{path}: the key {error.key!r} appears twice; {fix}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else error
        raise CassetteError(f"{path}: not valid JSON ({reason}); {fix}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CassetteError(
            f"{path}: not a pytest-llm verification file (expected a JSON object with "
            f'"format": "{FORMAT}"); {fix}'
        )
    entries = document.get("verified")
    if not isinstance(entries, dict):
        raise CassetteError(f'{path}: "verified" must be an object of file names and dates; {fix}')
    dates: dict[str, datetime.datetime] = {}
    latest = now() + datetime.timedelta(seconds=MAX_FUTURE_S)
    for name, value in entries.items():
        if not _plain_name(name):
            raise CassetteError(f"{path}: {name!r} is not a cassette file name; {fix}")
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise CassetteError(
                f"{path}: the date of {name!r} is {_short(value)}, not a UTC date such as "
                f'"2026-01-31T12:00:00Z"; {fix}'
            )
        try:
            parsed = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise CassetteError(
                f"{path}: the date of {name!r} ({value}) does not exist; {fix}"
            ) from None
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
        if parsed > latest:
            raise CassetteError(
                f"{path}: the date of {name!r} ({value}) is in the future (now is "
                f"{format_date(now())}); {fix}"
            )
        dates[name] = parsed
    return dates


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document: dict[str, object] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKey(key)
        document[key] = value
    return document


def _plain_name(name: str) -> bool:
    return (
        bool(name)
        and "/" not in name
        and "\\" not in name
        and name not in (".", "..")
        and (not any(ord(character) < 32 for character in name))
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def render_sidecar(dates: Mapping[str, datetime.datetime]) -> str:
    document = {
        "format": FORMAT,
        "verified": {name: format_date(dates[name]) for name in sorted(dates)},
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock of ``folder`` among processes (xdist workers) while it is held."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: one writer per folder at a time
        yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def mark_verified(cassette: Path, when: datetime.datetime) -> None:
    """Record that ``cassette`` was verified against the live API at ``when``. Entries of
    cassettes no longer in the folder are dropped; every other entry stays as it was."""
    from pytest_llm.cassette.file_format import write_atomically

    sidecar = sidecar_of(cassette)
    with _folder_lock(cassette.parent):
        dates = read_sidecar(sidecar)
        dates = {name: date for name, date in dates.items() if (cassette.parent / name).exists()}
        dates[cassette.name] = when.replace(microsecond=0)
        text = render_sidecar(dates)
        try:
            unchanged = sidecar.read_text(encoding="utf-8") == text
        except (OSError, UnicodeDecodeError):
            unchanged = False
        if not unchanged:
            write_atomically(sidecar, text)


@dataclasses.dataclass
class VerificationDates:
    """The sidecars of a run, each read once (replay does not change them)."""

    folders: dict[Path, dict[str, datetime.datetime]] = dataclasses.field(default_factory=dict)

    def verified_at(self, cassette: Path) -> datetime.datetime | None:
        folder = cassette.parent
        if folder not in self.folders:
            self.folders[folder] = read_sidecar(folder / SIDECAR_NAME)
        return self.folders[folder].get(cassette.name)


@dataclasses.dataclass(frozen=True)
class Staleness:
    """A cassette older than its limit: its age (None: never verified) and the limit."""

    cassette: Path
    age_s: float | None
    max_age_s: float

    def describe(self) -> str:
        limit = describe_duration(self.max_age_s)
        if self.age_s is None:
            return (
                f"has no verification date in {SIDECAR_NAME} (it was never recorded by this "
                f"version of pytest-llm): its age is unknown, treated as older than {limit}"
            )
        return (
            f"was last verified against the live API {describe_duration(self.age_s)} ago, "
            f"more than the {limit} allowed"
        )


def staleness(
    cassette: Path, verified: datetime.datetime | None, max_age_s: float, at: datetime.datetime
) -> Staleness | None:
    """Why ``cassette`` is too old at ``at`` (None: it is not)."""
    if verified is None:
        return Staleness(cassette, None, max_age_s)
    age = (at - verified).total_seconds()
    return Staleness(cassette, age, max_age_s) if age > max_age_s else None
