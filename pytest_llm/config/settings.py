"""Run-wide settings: command line and ini values merged and validated once per session."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import os
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
    report_path: Path | None
    prices: dict[str, Price]
    drift_method: str

    @property
    def recording(self) -> bool:
        return self.mode is not Mode.REPLAY


def from_config(config: pytest.Config) -> Settings:
    record = bool(config.getoption("llm_record"))
    rerecord = bool(config.getoption("llm_rerecord"))
    if record and rerecord:
        raise pytest.UsageError("--llm-record and --llm-rerecord exclude each other: choose one.")
    mode = Mode.RERECORD if rerecord else Mode.RECORD if record else Mode.REPLAY
    base_url = config.getoption("llm_base_url") or os.environ.get(openai.BASE_URL_VARIABLE) or None
    if base_url is not None:
        validate_base_url(base_url)
    report = config.getoption("llm_report")
    report_path = Path(report) if report else None
    if report_path is not None and report_path.suffix.lower() not in (".md", ".json"):
        raise pytest.UsageError(
            f"--llm-report {report}: the report format follows the file suffix; use .md or .json."
        )
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
        import re

        try:
            re.compile(pattern)
        except re.error as error:
            raise pytest.UsageError(
                f"ini llm_redact: {pattern!r} is not a valid regular expression: {error}"
            ) from None
    return Settings(
        mode=mode,
        model=config.getoption("llm_model") or config.getini("llm_model") or DEFAULT_MODEL,
        embedding_model=config.getini("llm_embedding_model") or DEFAULT_EMBEDDING_MODEL,
        local_embedding_model=config.getini("llm_local_embedding_model") or "",
        similarity_threshold=threshold,
        base_url=base_url,
        cassette_dir=config.getini("llm_cassette_dir") or DEFAULT_CASSETTE_DIR,
        redact_patterns=patterns,
        allowed_hosts=_allowed_hosts(config.getini("llm_allowed_hosts")),
        report_path=report_path,
        prices=_prices(config.getini("llm_prices")),
        drift_method=_drift_method(config.getini("llm_drift_method") or "fuzzy"),
    )


def _allowed_hosts(lines: list[str]) -> tuple[str, ...]:
    from pytest_llm.replay.network_guard import AllowedHosts

    try:
        AllowedHosts.parse(lines)
    except ValueError as error:
        raise pytest.UsageError(f"ini {error}") from None
    return tuple(line.strip() for line in lines if line.strip())


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


def validate_base_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise pytest.UsageError(
            f"--llm-base-url {url!r} is not an http(s) URL; expected e.g. http://127.0.0.1:8000/v1"
        )


def is_loopback_url(url: str | None) -> bool:
    if not url:
        return False
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
