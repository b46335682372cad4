"""Exceptions raised by pytest_llm, each carrying a message a person can act on."""

from __future__ import annotations


class CassetteError(Exception):
    """A cassette file cannot be used: malformed, truncated, unknown version, unwritable."""


class RecordingError(Exception):
    """A live recording could not be made or must not be stored (no key, API error, ...)."""


class CaseOptionsError(Exception):
    """An ``@llm_case(...)`` keyword or value is wrong."""


class ReplayMiss(BaseException):
    """A request found no recording in replay mode.

    Derived from ``BaseException`` on purpose: the openai SDK retries (and wraps) any
    ``Exception`` raised by its transport, and application code often catches ``Exception``
    to fall back to a default answer. A replay miss must do neither: it stops the test at
    once with this message.
    """


class NetworkBlocked(ReplayMiss):
    """A connection was attempted in replay mode by code that the cassette did not intercept."""
