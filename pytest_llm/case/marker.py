"""``llm_case``: the decorator form of ``@pytest.mark.llm_case``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

import pytest

F = TypeVar("F", bound=Callable[..., Any])


@overload
def llm_case(function: F, /) -> F: ...


@overload
def llm_case(**options: Any) -> pytest.MarkDecorator: ...


def llm_case(function: Any = None, /, **options: Any) -> Any:
    """Make a test an LLM case: its HTTP requests go through its cassette.

    Works bare (``@llm_case``) or with options (``@llm_case(samples=3, latency_budget=2.0)``);
    the options are those of ``@pytest.mark.llm_case`` and are checked when the test runs.
    """
    if function is not None:
        if options or not callable(function):
            raise TypeError("@llm_case takes keyword options only, e.g. @llm_case(samples=3)")
        return pytest.mark.llm_case(function)
    return pytest.mark.llm_case(**options)
