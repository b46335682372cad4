"""Run the local OpenAI server: ``python -m pytest_llm.testing [--port N] [--script FILE]``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from pytest_llm.testing.script import Script
from pytest_llm.testing.server import LocalOpenAIServer


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_llm.testing",
        description="Serve a scripted OpenAI-compatible API on loopback until SIGINT/SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    parser.add_argument("--script", metavar="FILE.yaml", help="YAML script to answer with")
    return parser.parse_args(argv)


def _load_script(path: str | None) -> Script:
    return Script() if path is None else Script.from_yaml(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Start the server, print ``base_url=...`` and serve until a stop signal."""
    arguments = parse_arguments(argv)
    try:
        script = _load_script(arguments.script)
        server = LocalOpenAIServer(arguments.host, arguments.port)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 2
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with server.start():
        server.script(script)
        print(f"base_url={server.base_url}", flush=True)
        while not stop_requested.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
