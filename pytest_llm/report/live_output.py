"""Secrets kept out of what an LLM case prints live (``-s``, ``--capture=tee-sys``).

Captured output reaches the terminal through the test report, which
:mod:`~pytest_llm.report.output_redaction` scrubs. Output printed live does not: under ``-s`` and
``--capture=tee-sys`` the plugin puts a :class:`~pytest_llm.report.output_redaction.ScrubbingWriter`
in front of ``sys.stdout`` and ``sys.stderr`` during each phase of an LLM case (setup, call,
teardown). Its hooks run last, inside pytest's capture, so under ``tee-sys`` both copies are
scrubbed. What it cannot see: writes to the file descriptors (``os.write``, subprocesses, C
code) and to ``sys.stdout.buffer``, and log handlers made before the case began.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from pytest_llm.report.output_redaction import Scrub, ScrubbingWriter, Secrets, redact_warning


@contextmanager
def scrubbed_standard_streams(secrets: Secrets) -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` scrubbed while the block runs."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = ScrubbingWriter(stdout, secrets)
    sys.stderr = ScrubbingWriter(stderr, secrets)
    try:
        yield
    finally:
        for wrapper in (sys.stdout, sys.stderr):
            if isinstance(wrapper, ScrubbingWriter):
                wrapper.close()
        sys.stdout, sys.stderr = stdout, stderr


class LiveOutputScrubbing:
    """Registered when output is printed live: scrubs the standard streams of LLM cases."""

    def __init__(self, secrets: Secrets, is_case: Callable[[pytest.Item], bool]) -> None:
        self._secrets = secrets
        self._is_case = is_case

    def _phase(self, item: pytest.Item) -> Generator[None, None, None]:
        if not self._is_case(item):
            return (yield)
        with scrubbed_standard_streams(self._secrets):
            return (yield)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        return (yield from self._phase(item))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        return (yield from self._phase(item))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        return (yield from self._phase(item))


class WarningRedaction:
    """Registered for every run: a warning's text (it may quote an answer) is scrubbed before
    the warnings summary, or anything else, shows it."""

    def __init__(self, scrub: Scrub) -> None:
        self._scrub = scrub

    @pytest.hookimpl(tryfirst=True)
    def pytest_warning_recorded(self, warning_message: Any) -> None:
        redact_warning(warning_message, self._scrub)
