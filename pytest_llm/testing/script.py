"""Scripts telling the local OpenAI server what to answer, and how."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llm.cassette import fast_yaml

#: Endpoints a reply can be limited to; other APIs' modules (pytest_llm.testing.apis) add theirs.
ENDPOINTS = ["chat.completions", "responses", "embeddings", "moderations"]


def register_endpoints(names: Sequence[str]) -> None:
    """Let replies name another API's endpoints (called by its module on import)."""
    ENDPOINTS.extend(name for name in names if name not in ENDPOINTS)


FAULTS = ("drop", "malformed", "truncate")
MAX_EMBEDDING_DIMENSIONS = 8192


@dataclass
class Reply:
    """One scripted answer rule; the first rule that matches a call answers it."""

    match: str | None = None
    text: str | list[str] = ""
    endpoint: str | None = None
    model: str | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    status: int = 200
    times: int | None = None
    tool_calls: list[dict[str, Any]] | None = None
    flagged: bool | None = None
    fault: str | None = None

    def __post_init__(self) -> None:
        _check_optional_str("match", self.match)
        _check_text(self.text)
        _check_choice("endpoint", self.endpoint, ENDPOINTS)
        _check_optional_str("model", self.model)
        _check_seconds("latency_s", self.latency_s, optional=True)
        _check_seconds("ttft_s", self.ttft_s, optional=True)
        _check_status(self.status)
        _check_times(self.times)
        _check_tool_calls(self.tool_calls)
        _check_optional_bool("flagged", self.flagged)
        _check_choice("fault", self.fault, FAULTS)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reply:
        """Build a reply from plain data; unknown keys raise ValueError."""
        _check_mapping("reply", data)
        _reject_unknown_keys(data, cls)
        return cls(**data)

    def matches(self, endpoint: str, texts: Sequence[str]) -> bool:
        """Whether this rule applies to a call of `endpoint` carrying `texts`."""
        if self.endpoint is not None and self.endpoint != endpoint:
            return False
        return self.match is None or any(self.matches_text(text) for text in texts)

    def matches_text(self, text: str) -> bool:
        """Whether `match` is a case-insensitive substring of `text` (None matches all)."""
        return self.match is None or self.match.lower() in text.lower()

    def text_for_call(self, call_index: int) -> str:
        """The text for the `call_index`-th call answered by this rule (lists rotate)."""
        if isinstance(self.text, str):
            return self.text
        return self.text[call_index % len(self.text)]

    def is_used_up(self, calls_answered: int) -> bool:
        """Whether the `times` budget of this rule is spent."""
        return self.times is not None and calls_answered >= self.times


@dataclass
class Script:
    """Everything the local server answers: rules plus default timings."""

    replies: list[Reply] = field(default_factory=list)
    model: str | None = None
    latency_s: float = 0.0
    ttft_s: float = 0.0
    chunk_delay_s: float = 0.0
    embedding_dimensions: int = 64
    #: Stream pieces of at most this many characters (text and tool-call arguments), as real
    #: APIs stream a few characters per chunk; None streams word by word.
    chunk_chars: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.replies, list):
            raise ValueError(f"replies: expected a list, got {type(self.replies).__name__}")
        self.replies = [_coerce_reply(index, raw) for index, raw in enumerate(self.replies)]
        _check_optional_str("model", self.model)
        _check_seconds("latency_s", self.latency_s, optional=False)
        _check_seconds("ttft_s", self.ttft_s, optional=False)
        _check_seconds("chunk_delay_s", self.chunk_delay_s, optional=False)
        _check_dimensions(self.embedding_dimensions)
        _check_chunk_chars(self.chunk_chars)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Script:
        """Build a script from plain data (replies as mappings); bad input raises ValueError."""
        _check_mapping("script", data)
        _reject_unknown_keys(data, cls)
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Script:
        """Load a script from a YAML file holding the `from_dict` form."""
        loaded = fast_yaml.load(Path(path).read_text(encoding="utf-8"))
        return cls.from_dict({} if loaded is None else loaded)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form accepted by `from_dict` and by POST /_control/script."""
        return dataclasses.asdict(self)


def _coerce_reply(index: int, raw: Reply | Mapping[str, Any]) -> Reply:
    if isinstance(raw, Reply):
        return raw
    try:
        return Reply.from_dict(raw)
    except (ValueError, TypeError) as error:
        raise ValueError(f"replies[{index}]: {error}") from None


def _check_mapping(what: str, data: object) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"{what}: expected a mapping, got {type(data).__name__}")


def _reject_unknown_keys(data: Mapping[str, Any], cls: type) -> None:
    known = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in known:
            raise ValueError(f"unknown key {key!r}; expected one of: {', '.join(known)}")


def _check_optional_str(name: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name}: expected a string or null, got {value!r}")


def _check_optional_bool(name: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name}: expected true, false or null, got {value!r}")


def _check_text(value: object) -> None:
    if isinstance(value, str):
        return
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return
    raise ValueError(f"text: expected a string or a non-empty list of strings, got {value!r}")


def _check_choice(name: str, value: object, choices: Sequence[str]) -> None:
    if value is not None and value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(choices)} or null, got {value!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_seconds(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not _is_number(value) or value < 0:  # type: ignore[operator]
        raise ValueError(f"{name}: expected a number of seconds >= 0, got {value!r}")


def _check_status(value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 200 <= value <= 599:
        raise ValueError(f"status: expected an HTTP status code from 200 to 599, got {value!r}")


def _check_times(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"times: expected an integer >= 0 or null, got {value!r}")


def _check_chunk_chars(value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"chunk_chars: expected a positive integer or None, got {value!r}")


def _check_dimensions(value: object) -> None:
    valid = isinstance(value, int) and not isinstance(value, bool)
    if not valid or not 1 <= value <= MAX_EMBEDDING_DIMENSIONS:  # type: ignore[operator]
        raise ValueError(
            f"embedding_dimensions: expected an integer from 1 to {MAX_EMBEDDING_DIMENSIONS}, "
            f"got {value!r}"
        )


def _check_tool_calls(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise ValueError(f"tool_calls: expected a list of mappings or null, got {value!r}")
    for position, call in enumerate(value):
        function = call.get("function", call) if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ValueError(
                f"tool_calls[{position}]: expected a mapping with a 'name' "
                f"(or a 'function' mapping with a 'name'), got {call!r}"
            )
