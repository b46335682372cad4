"""A local, scripted LLM API server for tests, examples and benchmarks: OpenAI's API, and the
other APIs of :mod:`pytest_llm.testing.apis`."""

from pytest_llm.testing import apis  # noqa: F401 - registers the other APIs' routes
from pytest_llm.testing.script import Reply, Script
from pytest_llm.testing.server import LocalOpenAIServer, ReceivedRequest

__all__ = ["LocalOpenAIServer", "ReceivedRequest", "Reply", "Script"]
