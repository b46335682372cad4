"""The ``pytest-llm`` command: diff, show, check and convert cassettes outside of pytest (internal)."""

from pytest_llm.cli import main

__all__ = ["main"]
