"""Run-wide settings: command line and ini values merged and validated once per session."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import math
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pytest_llm.providers import openai
from pytest_llm.providers.pricing import Price, parse_price_lines

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
DEFAULT_SIMILARITY_THRESHOLD = 0.8
DEFAULT_CASSETTE_DIR = "cassettes"


class Mode(enum.Enum):
    """How cases use their cassettes."""

    REPLAY = "replay"
    RECORD = "record"
    RERECORD = "rerecord"


@dataclasses.dataclass(frozen=True)
class Settings:
    mode: Mode
    model: str
    embedding_model: str
    local_embedding_model: str
    similarity_threshold: float
    base_url: str | None
    cassette_dir: str
    redact_patterns: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    report_paths: tuple[Path, ...]
    prices: dict[str, Price]
    drift_method: str
    unknown_figures: str = "fail"
    #: Where ``@llm_tool`` calls of a recorded case get their results: live, or replay (the
    #: old cassette's result for arguments it recorded).
    tools: str = "live"
    #: ``llm_false_discovery_rate``: None (each sampled case at the significance level) or q.
    false_discovery_rate: float | None = None
    #: ``llm_max_age`` in seconds (None: cassettes never expire), and ``llm_on_expiry``.
    max_age_s: float | None = None
    on_expiry: str = "warn"
    #: ``llm_max_cassette_size`` in bytes (None: the loader's default, 64 MiB).
    max_cassette_bytes: int | None = None

    @property
    def recording(self) -> bool:
        return self.mode is not Mode.REPLAY


def from_config(config: pytest.Config) -> Settings:
    record = bool(config.getoption("llm_record"))
    rerecord = bool(config.getoption("llm_rerecord"))
    if record and rerecord:
        raise pytest.UsageError("--llm-record and --llm-rerecord exclude each other: choose one.")
    mode = Mode.RERECORD if rerecord else Mode.RECORD if record else Mode.REPLAY
    option_url = config.getoption("llm_base_url")
    if option_url is not None:
        validate_base_url(option_url, source="--llm-base-url")
        base_url: str | None = option_url
    elif os.environ.get(openai.BASE_URL_VARIABLE):
        base_url = os.environ[openai.BASE_URL_VARIABLE]
        validate_base_url(base_url, source=f"environment variable {openai.BASE_URL_VARIABLE}")
    else:  # the project's own, so recording and replay use the same one
        base_url = str(config.getini("llm_base_url") or "").strip() or None
        if base_url is not None:
            validate_base_url(base_url, source="ini llm_base_url")
    report = config.getoption("llm_report")
    report_paths = tuple(dict.fromkeys(checked_report_path(path) for path in report or ()))
    threshold_text = config.getini("llm_similarity_threshold") or str(DEFAULT_SIMILARITY_THRESHOLD)
    try:
        threshold = float(threshold_text)
    except ValueError:
        raise pytest.UsageError(
            f"ini llm_similarity_threshold = {threshold_text!r} is not a number between 0 and 1."
        ) from None
    if not 0.0 <= threshold <= 1.0:
        raise pytest.UsageError(
            f"ini llm_similarity_threshold = {threshold} is not between 0 and 1."
        )
    patterns = tuple(line for line in config.getini("llm_redact") if line.strip())
    for pattern in patterns:
        problem = redact_pattern_problem(pattern)
        if problem is not None:
            raise pytest.UsageError(f"ini llm_redact: {problem}")
    cassette_dir = config.getini("llm_cassette_dir") or DEFAULT_CASSETTE_DIR
    if any(ord(character) < 32 for character in cassette_dir):
        raise pytest.UsageError(
            f"ini llm_cassette_dir = {cassette_dir!r} holds a control character; "
            "give a folder name such as 'cassettes'."
        )
    problem = path_length_problem(config.rootpath / cassette_dir)
    if problem is not None:
        raise pytest.UsageError(
            f"ini llm_cassette_dir = {cassette_dir[:60]!r}...: {problem}; "
            "give a folder name such as 'cassettes'."
        )
    return Settings(
        mode=mode,
        model=_model(config),
        embedding_model=config.getini("llm_embedding_model") or DEFAULT_EMBEDDING_MODEL,
        local_embedding_model=config.getini("llm_local_embedding_model") or "",
        similarity_threshold=threshold,
        base_url=base_url,
        cassette_dir=cassette_dir,
        redact_patterns=patterns,
        allowed_hosts=_allowed_hosts(config.getini("llm_allowed_hosts")),
        report_paths=report_paths,
        prices=_prices(config.getini("llm_prices")),
        drift_method=_drift_method(config.getini("llm_drift_method") or "fuzzy"),
        unknown_figures=_unknown_figures(config.getini("llm_unknown_figures") or "fail"),
        tools=str(config.getoption("llm_tools", "live") or "live"),
        false_discovery_rate=false_discovery_rate(config.getini("llm_false_discovery_rate")),
        max_age_s=_max_age(config.getini("llm_max_age") or ""),
        on_expiry=_on_expiry(config.getini("llm_on_expiry") or "warn"),
        max_cassette_bytes=max_cassette_bytes(config.getini("llm_max_cassette_size") or ""),
    )


def false_discovery_rate(value: object) -> float | None:
    """ini ``llm_false_discovery_rate``: empty (per-case significance level) or a rate in (0, 1)."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not 0.0 < rate < 1.0:  # also NaN
        raise pytest.UsageError(
            f"ini llm_false_discovery_rate = {text[:60]!r} is not a number between 0 and 1 "
            "(exclusive), e.g. 0.1: the share of the regressed and fixed cases of a re-record "
            "that may be chance. Leave it unset to judge each sampled case at the 0.05 level."
        )
    return rate


def _max_age(value: str) -> float | None:
    from pytest_llm.cassette.verification import parse_duration

    if not value.strip():
        return None
    try:
        return parse_duration(value)
    except ValueError as error:
        raise pytest.UsageError(f"ini llm_max_age: {error}.") from None


def max_cassette_bytes(value: object) -> int | None:
    """``llm_max_cassette_size`` in bytes; None when unset (a TOML list: its lines)."""
    from pytest_llm.cassette import fast_yaml

    text = "\n".join(str(item) for item in value) if isinstance(value, list) else str(value)
    try:
        return fast_yaml.max_bytes_setting(text)
    except ValueError as error:
        raise pytest.UsageError(f"ini llm_max_cassette_size = {error}.") from None


def _on_expiry(value: str) -> str:
    choice = value.strip()
    if choice not in ("warn", "fail"):
        raise pytest.UsageError(
            f"ini llm_on_expiry = {value!r}: choose 'warn' (the default: a cassette older than "
            "llm_max_age replays with a warning) or 'fail' (its case fails)."
        )
    return choice


def _unknown_figures(value: str) -> str:
    choice = value.strip()
    if choice not in ("fail", "ignore"):
        raise pytest.UsageError(
            f"ini llm_unknown_figures = {value!r}: choose 'fail' (the default: a budget over a "
            "figure a call did not report fails) or 'ignore' (such figures are left out)."
        )
    return choice


def _allowed_hosts(lines: list[str]) -> tuple[str, ...]:
    from pytest_llm.replay.network_guard import AllowedHosts

    try:
        AllowedHosts.parse(lines)
    except ValueError as error:
        raise pytest.UsageError(f"ini {error}") from None
    return tuple(line.strip() for line in lines if line.strip())


def _model(config: pytest.Config) -> str:
    option = config.getoption("llm_model")
    if option is not None:
        if not option.strip() or option != option.strip():
            raise pytest.UsageError(
                f"--llm-model {option!r}: give a model name without surrounding spaces, "
                f"e.g. --llm-model {DEFAULT_MODEL} (or leave the option out for the ini "
                "value llm_model)."
            )
        return str(option)
    return str(config.getini("llm_model") or DEFAULT_MODEL).strip() or DEFAULT_MODEL


def redact_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be an ``llm_redact`` pattern, or None: it must compile and must
    not match the empty string (it would "redact" between every two characters)."""
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        return f"{pattern!r} is not a valid regular expression: {error}"
    if _shortest_match(pattern, compiled) == 0:
        return (
            f"{pattern!r} matches the empty string, so it would match everywhere; "
            "make it match at least one character (e.g. use + instead of *)."
        )
    return None


def _shortest_match(pattern: str, compiled: re.Pattern[str]) -> int:
    """The fewest characters ``pattern`` can match (0: it can match the empty string)."""
    try:  # the regular-expression parser's own width (exact; module name by Python version)
        if sys.version_info >= (3, 11):
            from re import _parser as sre_parse
        else:  # pragma: no cover
            import sre_parse
        return int(sre_parse.parse(pattern).getwidth()[0])
    except Exception:
        probes = ("", "Aa0 _-./:=@\n")
        empty = any(m.end() == m.start() for probe in probes for m in compiled.finditer(probe))
        return 0 if empty else 1


def checked_report_path(report: str) -> Path:
    """The ``--llm-report`` path, refused now (not after the run) when it cannot be written:
    a wrong suffix, a folder, or a parent that is a file or not writable."""
    if not report.strip() or "\0" in report:
        raise pytest.UsageError(
            f"--llm-report {report!r}: give a file path ending in .md or .json."
        )
    path = Path(report)
    if path.suffix.lower() not in (".md", ".json"):
        raise pytest.UsageError(
            f"--llm-report {report}: the report format follows the file suffix; use .md or .json."
        )
    problem = path_length_problem(path.absolute())
    if problem is not None:
        raise pytest.UsageError(f"--llm-report {report[:60]}...: cannot be written: {problem}.")
    try:
        _check_writable(path, report)
    except OSError as error:  # e.g. a name too long for the file system
        raise pytest.UsageError(
            f"--llm-report {report}: cannot be written: {error.strerror or error}"
        ) from None
    return path


#: What Linux allows: a name of 255 bytes, a path of 4096 with its final NUL (PATH_MAX).
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4095
#: Folders deeper than this are refused: pathlib creates missing folders recursively.
MAX_PATH_DEPTH = 255


def path_length_problem(path: Path) -> str | None:
    """Why the file system (or pathlib) would refuse ``path``, before anything is written."""
    if any(len(os.fsencode(part)) > MAX_NAME_BYTES for part in path.parts):
        return f"a name in it is longer than {MAX_NAME_BYTES} bytes"
    if len(os.fsencode(str(path))) > MAX_PATH_BYTES:
        return f"the path is longer than {MAX_PATH_BYTES} bytes"
    if len(path.parts) > MAX_PATH_DEPTH:
        return f"the path is more than {MAX_PATH_DEPTH} folders deep"
    return None


def _check_writable(path: Path, report: str) -> None:
    if path.is_dir():
        raise pytest.UsageError(f"--llm-report {report}: is a folder; give a file path.")
    existing = path.absolute().parent
    while not existing.exists():  # the report writer creates missing folders
        existing = existing.parent
    if not existing.is_dir():
        raise pytest.UsageError(
            f"--llm-report {report}: cannot be written: {existing} is not a folder."
        )
    if not os.access(existing, os.W_OK | os.X_OK) or (
        path.exists() and not os.access(path, os.W_OK)
    ):
        raise pytest.UsageError(
            f"--llm-report {report}: cannot be written: no write permission in {existing}."
        )
    if any(len(os.fsencode(part)) > 255 for part in path.parts):
        raise pytest.UsageError(
            f"--llm-report {report[:60]}...: cannot be written: a name is longer than 255 bytes."
        )


def _drift_method(method: str) -> str:
    if method not in ("fuzzy", "local"):
        raise pytest.UsageError(
            f"ini llm_drift_method = {method!r}: choose 'fuzzy' (rapidfuzz, the default) or 'local' "
            "(the local embedding model of the 'local' extra); drift is computed without API calls."
        )
    return method


def _prices(lines: list[str]) -> dict[str, Price]:
    try:
        return parse_price_lines(lines)
    except ValueError as error:
        raise pytest.UsageError(f"ini {error}") from None


def validate_base_url(url: str, *, source: str = "--llm-base-url") -> None:
    """Refuse (``pytest.UsageError`` naming ``source``) what is not an http(s) URL with a host
    and a valid port."""
    problem = None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as error:
        problem = str(error)
    else:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "not an http(s) URL with a host"
        elif any(ord(character) < 33 for character in url):
            problem = "it holds spaces or control characters"
    if problem is not None:
        raise pytest.UsageError(
            f"{source} {url!r} is not a usable URL ({problem}); expected e.g. "
            "http://127.0.0.1:8000/v1"
        )


def is_loopback_url(url: str | None) -> bool:
    if not url:
        return False
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
