"""The real-model suite: llama.cpp's OpenAI-compatible server with SmolLM2-135M, started here.

Missing pieces (llama-cpp-python, the model package) make every test here FAIL with the install
command, never skip: a CI that asked for this suite must not pass without running it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_server import LlamaServer, LlamaServerUnavailable


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    log = tmp_path_factory.mktemp("llama") / "server.log"
    try:
        server = LlamaServer(log)
        server.start()
    except LlamaServerUnavailable as error:
        pytest.fail(f"the real-model suite cannot run: {error}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def log_path(llama: LlamaServer) -> Path:
    return llama.log
