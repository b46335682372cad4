"""pytest_llm: test LLM behaviour in pytest with recorded, replayable API calls."""

from pytest_llm.markers import llm_case

__all__ = ["llm_case"]
