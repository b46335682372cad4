"""Exceptions raised by pytest_llm, each carrying a message a person can act on.

Public API: every exception a test or a tool may want to catch is defined here (the modules
that raise them import them from here). The ``pytest-llm`` command's own usage errors stay in
:mod:`pytest_llm.cli.main`.

Every exception the plugin raises derives from :class:`PytestLLMError`, so
``except pytest_llm.errors.PytestLLMError`` catches them all. The base derives from
``BaseException`` only so that :class:`ReplayMiss` can stay outside ``except Exception``; every
other error is also an ``Exception`` (some a ``ValueError``, ``LookupError`` or
``RuntimeError`` as well, as their modules document).
"""

from __future__ import annotations

import pytest


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


class UnknownFigure(PytestLLMError, LookupError):
    """A figure a budget, an assertion or a price needs was not reported by the call (its token
    counts, latency or time to first token): it never counts as zero."""


class UnknownModelPrice(UnknownFigure):
    pass


class ProjectConfigError(PytestLLMError, ValueError):
    """A configuration file that cannot be read; the message names it."""


class UndecodableContent(PytestLLMError, ValueError):
    """A content-encoded body (cassette or live answer) the plugin cannot decode: too large once
    decompressed, or in an encoding whose decoder is not installed (zstd, br)."""


class ContentTooLarge(UndecodableContent):
    """A compressed body (cassette or live answer) that decompresses to more than the loader's
    byte limit."""


class MalformedEventStream(PytestLLMError, ValueError):
    """Bytes that are not a valid AWS event stream (a bad checksum, an impossible length, a
    malformed header); the message says where. In a cassette it is reported as a
    :class:`CassetteError` naming the file."""


class PassRateTooLow(PytestLLMError, AssertionError):
    """Too few of a case's samples passed: reported with its message only."""


class BudgetConfigurationError(PytestLLMError, Exception):
    """A budget cannot be checked (a cost budget for a model without a price)."""


class BudgetExceeded(PytestLLMError, AssertionError):
    """A case went over one of its budgets: reported with its message only (no traceback
    through the plugin: the budget is checked after the test body returned)."""


class DatasetError(PytestLLMError, Exception):
    """A data set that cannot be used: unreadable, unparseable, a bad record, duplicate ids."""


class InvalidSchemaError(PytestLLMError, Exception):
    """The schema itself is wrong: a problem of the test, not of the model's output."""


class LocalModelUnavailable(PytestLLMError, RuntimeError):
    pass


class NoJSONFound(PytestLLMError, ValueError):
    """The output holds no JSON value; the message says what was searched and shows an excerpt."""


class JudgeAnswerError(PytestLLMError, Exception):
    """The judge's answer holds no usable verdict."""


class ToolCallError(PytestLLMError, TypeError):
    """A call of an ``@llm_tool`` function whose arguments or result cannot be stored in a
    cassette (not JSON data); the message names the tool."""


class RecordedToolException(PytestLLMError, Exception):
    """Raised in replay for a recorded ``@llm_tool`` call that raised an exception whose class
    cannot be rebuilt (its module is not imported, or it does not take a message)."""


class CassetteExpired(CassetteError):
    """In replay, with ``llm_on_expiry = fail``: the case's cassette was last verified against
    the live API longer ago than ``llm_max_age`` (or its ``max_age``) allows."""


class CassetteExpiredWarning(pytest.PytestWarning):
    """In replay, with ``llm_on_expiry = warn`` (the default): the case's cassette is older
    than ``llm_max_age`` (or its ``max_age``) allows."""


class ReportMergeError(PytestLLMError, ValueError):
    """``pytest-llm report merge`` got reports that cannot be merged; the message names the
    file."""
