"""pytest_llm: test LLM behaviour in pytest with recorded, replayable API calls."""

from pytest_llm.assertions import (
    assert_consistent,
    assert_judged,
    assert_latency,
    assert_moderation,
    assert_no_pii,
    assert_schema,
    assert_similar,
)
from pytest_llm.datasets import cases
from pytest_llm.markers import llm_case
from pytest_llm.text_similarity import similarity

__all__ = [
    "assert_consistent",
    "assert_judged",
    "assert_latency",
    "assert_moderation",
    "assert_no_pii",
    "assert_schema",
    "assert_similar",
    "cases",
    "llm_case",
    "similarity",
]
