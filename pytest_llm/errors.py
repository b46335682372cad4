"""Exceptions raised by pytest_llm, each carrying a message a person can act on.


Every exception the plugin raises derives from :class:`PytestLLMError`, so
``except pytest_llm.errors.PytestLLMError`` catches them all. The base derives from
``BaseException`` only so that :class:`ReplayMiss` can stay outside ``except Exception``; every
other error is also an ``Exception`` (some a ``ValueError``, ``LookupError`` or
``RuntimeError`` as well, as their modules document).
"""

from __future__ import annotations


class PytestLLMError(BaseException):
    """The base of every exception pytest_llm raises."""


class CassetteError(PytestLLMError, Exception):
    """A cassette file cannot be used: malformed, truncated, unknown version, unwritable."""


class RecordingError(PytestLLMError, Exception):
    """A live recording could not be made or must not be stored (no key, API error, ...)."""


class CaseOptionsError(PytestLLMError, Exception):
    """An ``@llm_case(...)`` keyword or value is wrong."""


class ReplayMiss(PytestLLMError):
    """A request found no recording in replay mode.

    Derived from ``BaseException`` on purpose: the openai SDK retries (and wraps) any
    ``Exception`` raised by its transport, and application code often catches ``Exception``
    to fall back to a default answer. A replay miss must do neither: it stops the test at
    once with this message.
    """


class NetworkBlocked(ReplayMiss):
    """A connection was attempted in replay mode by code that the cassette did not intercept."""
