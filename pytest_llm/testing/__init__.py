"""A local, scripted OpenAI-compatible server for tests, examples and benchmarks."""

from pytest_llm.testing.script import Reply, Script
from pytest_llm.testing.server import LocalOpenAIServer, ReceivedRequest

__all__ = ["LocalOpenAIServer", "ReceivedRequest", "Reply", "Script"]
