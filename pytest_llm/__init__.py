"""pytest_llm: test LLM behaviour in pytest with recorded, replayable API calls."""

from pytest_llm.assertions.helpers import (
    assert_consistent,
    assert_judged,
    assert_latency,
    assert_moderation,
    assert_no_pii,
    assert_schema,
    assert_similar,
)
from pytest_llm.assertions.similarity import similarity
from pytest_llm.assertions.tools import assert_tool_called, assert_tool_sequence
from pytest_llm.case.datasets import cases
from pytest_llm.case.marker import llm_case
from pytest_llm.replay.recorded_tools import llm_tool

__all__ = [
    "assert_consistent",
    "assert_judged",
    "assert_latency",
    "assert_moderation",
    "assert_no_pii",
    "assert_schema",
    "assert_similar",
    "assert_tool_called",
    "assert_tool_sequence",
    "cases",
    "llm_case",
    "llm_tool",
    "similarity",
]
