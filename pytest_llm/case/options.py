"""``@llm_case`` keywords: one validated, keyword-only options object per test."""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from pytest_llm.errors import CaseOptionsError

#: The most runs a case may ask for: each is a run of the test body, live when recording (a
#: fuzzed samples=2**31 ran a body without end and took 14 GB before this bound).
MAX_SAMPLES = 1000


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


@dataclasses.dataclass(frozen=True, kw_only=True)
class CaseOptions:
    """What ``@llm_case(...)`` may say about one case. Defaults are the plain case."""

    cassette: str | None = None
    samples: int = 1
    sequential: bool = False
    min_pass_rate: float = 1.0
    latency_budget: float | None = None
    ttft_budget: float | None = None
    token_budget: int | None = None
    cost_budget: float | None = None
    tags: tuple[str, ...] = ()
    #: The longest time since the cassette was verified live (``30d``); overrides llm_max_age.
    max_age: str | None = None

    def __post_init__(self) -> None:
        if self.cassette is not None and (
            not isinstance(self.cassette, str) or not self.cassette.strip()
        ):
            raise CaseOptionsError(f"cassette must be a non-empty string, got {self.cassette!r}")
        if self.cassette is not None and any(ord(character) < 32 for character in self.cassette):
            raise CaseOptionsError(
                f"cassette must not hold control characters (such as NUL), got {self.cassette!r}"
            )
        if (
            not isinstance(self.samples, int)
            or isinstance(self.samples, bool)
            or not 1 <= self.samples <= MAX_SAMPLES
        ):
            raise CaseOptionsError(
                f"samples must be an integer from 1 to {MAX_SAMPLES}, got {_shown(self.samples)}"
            )
        if not isinstance(self.sequential, bool):
            raise CaseOptionsError(f"sequential must be True or False, got {self.sequential!r}")
        if self.sequential and self.samples < 2:
            raise CaseOptionsError(
                f"sequential=True needs samples=N with N >= 2 (the most runs), got samples={self.samples!r}"
            )
        if not _is_number(self.min_pass_rate) or not 0.0 <= self.min_pass_rate <= 1.0:
            raise CaseOptionsError(
                f"min_pass_rate must be a number between 0 and 1, got {self.min_pass_rate!r}"
            )
        for name in ("latency_budget", "ttft_budget", "cost_budget"):
            value = getattr(self, name)
            if value is not None and (
                not _is_number(value) or not math.isfinite(value) or value <= 0
            ):
                raise CaseOptionsError(
                    f"{name} must be a positive, finite number of {_unit(name)}, got {value!r}"
                )
        if self.token_budget is not None and (
            not isinstance(self.token_budget, int)
            or isinstance(self.token_budget, bool)
            or self.token_budget <= 0
        ):
            raise CaseOptionsError(
                f"token_budget must be a positive integer, got {self.token_budget!r}"
            )
        if not isinstance(self.tags, (tuple, list)) or not all(
            isinstance(tag, str) for tag in self.tags
        ):
            raise CaseOptionsError(f"tags must be a list of strings, got {self.tags!r}")
        if self.max_age is not None:
            from pytest_llm.cassette.verification import parse_duration

            try:
                parse_duration(self.max_age)
            except ValueError as error:
                raise CaseOptionsError(f"max_age: {error}") from None

    @property
    def max_age_s(self) -> float | None:
        """``max_age`` in seconds (None: the run's llm_max_age applies)."""
        from pytest_llm.cassette.verification import parse_duration

        return None if self.max_age is None else parse_duration(self.max_age)


KEYWORDS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(CaseOptions))
MARKER_SIGNATURE = (
    "llm_case(*, cassette=None, samples=1, sequential=False, min_pass_rate=1.0, latency_budget=None, "
    "ttft_budget=None, token_budget=None, cost_budget=None, tags=(), max_age=None)"
)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unit(name: str) -> str:
    return "US dollars" if name == "cost_budget" else "seconds"


def build_options(keywords: Mapping[str, Any], *, where: str) -> CaseOptions:
    """Validate marker keywords into :class:`CaseOptions`; ``where`` names the test in errors."""
    unknown = [key for key in keywords if key not in KEYWORDS]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, KEYWORDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CaseOptionsError(
            f"{where}: @llm_case got an unknown keyword {key!r}{hint}. "
            f"Valid keywords: {', '.join(KEYWORDS)}."
        )
    values = dict(keywords)
    if (
        "tags" in values
        and isinstance(values["tags"], Iterable)
        and not isinstance(values["tags"], str)
    ):
        values["tags"] = tuple(values["tags"])
    try:
        return CaseOptions(**values)
    except CaseOptionsError as error:
        raise CaseOptionsError(f"{where}: @llm_case {error}") from None


def merged_marker_keywords(item: pytest.Item) -> tuple[bool, dict[str, Any]]:
    """Whether ``item`` carries ``llm_case`` and its keywords, the closest marker winning."""
    markers = list(item.iter_markers("llm_case"))
    merged: dict[str, Any] = {}
    for marker in reversed(markers):  # farthest (module) first, the test's own last
        if marker.args:
            raise CaseOptionsError(
                f"{item.nodeid}: @llm_case takes keyword options only, got positional {marker.args!r}"
            )
        merged.update(marker.kwargs)
    return bool(markers), merged
