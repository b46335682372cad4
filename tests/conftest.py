"""Shared fixtures: the local OpenAI-compatible server and an inner-pytest helper."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import textwrap
from pathlib import Path

import hypothesis  # noqa: F401 - its pytest plugin imports it at every session's end
import openai  # noqa: F401 - imported once here: pytester's in-process runs would re-import
import pytest
import requests  # noqa: F401 - it (and openai, vcrpy) for every inner session otherwise
import vcr.patch  # noqa: F401

from pytest_llm.testing import LocalOpenAIServer

# httpcore flavours too: a copy imported anew after an inner session would no longer be the one
# whose exceptions httpx maps, so every module the plugin touches is imported up front.
for _name in ("httpcore2", "httpcore", "httpx2", "httpx"):
    if importlib.util.find_spec(_name) is not None:
        importlib.import_module(_name)


@dataclasses.dataclass
class Inner:
    """Runs inner pytest sessions (pytester) against the local server."""

    pytester: pytest.Pytester
    server: LocalOpenAIServer

    def write(self, source: str, name: str = "test_app") -> Path:
        return self.pytester.makepyfile(**{name: textwrap.dedent(source)})

    def replay(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest("-p", "no:randomly", *args)

    def record(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest(
            "--llm-record", f"--llm-base-url={self.server.base_url}", *args
        )

    def rerecord(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest(
            "--llm-rerecord", f"--llm-base-url={self.server.base_url}", *args
        )

    def cassette(self, test: str, module: str = "test_app") -> Path:
        return self.pytester.path / "cassettes" / module / f"{test}.yaml"


@pytest.fixture
def inner(
    pytester: pytest.Pytester, llm_server: LocalOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> Inner:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return Inner(pytester, llm_server)


# The real-model suite needs llama.cpp and a model (the "integration" extra): it runs only when
# asked for by path, `pytest tests/integration`, never as part of the plain `pytest`.
collect_ignore = ["integration"]
