"""Figures that do not fit the per-case overhead benchmark.

    python benchmarks/scale.py [--chunks 10000] [--cases 10000] [--rerecord-cases 200]

1. Loading a cassette that holds one streamed answer of ``--chunks`` chunks (ms, best of 5).
2. Peak memory (max RSS of the pytest process) of replaying ``--cases`` one-call cases, next to
   the same number of trivial tests.
3. Re-record throughput: ``--rerecord-cases`` cases against the local server answering after
   200 ms, serial vs ``-n 4`` (the cases are I/O-bound).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from replay_overhead import BenchmarkError, Runner, check_all_passed

from pytest_llm.cassette import file_format
from pytest_llm.cassette.interaction import Interaction, Timing
from pytest_llm.testing import LocalOpenAIServer

CASE = """
import pytest
from pytest_llm import llm_case

@llm_case
@pytest.mark.parametrize("n", range({cases}))
def test_case(n, llm_client, llm_model):
    llm_client.chat.completions.create(model=llm_model, messages=[{{"role": "user", "content": f"question {{n}}"}}])
"""
TRIVIAL = """
import pytest

@pytest.mark.parametrize("n", range({cases}))
def test_case(n):
    pass
"""


def stream_cassette(chunks: int) -> str:
    events = (
        "".join(
            "data: "
            + json.dumps(
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "choices": [{"delta": {"content": f"w{n} "}}],
                }
            )
            + "\n\n"
            for n in range(chunks)
        )
        + "data: [DONE]\n\n"
    )
    interaction = Interaction(
        method="POST", path="/v1/chat/completions", request_body=b'{"stream":true}', status=200,
        response_headers={"content-type": ["text/event-stream"]}, response_body=events.encode(),
        timing=Timing(latency_s=1.0, ttft_s=0.1),
    )  # fmt: skip
    return file_format.render_cassette([interaction])


def time_stream_load(chunks: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stream.yaml"
        path.write_text(stream_cassette(chunks))
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            file_format.read_cassette(path)
            best = min(best, time.perf_counter() - start)
        return best * 1000


#: Runs its arguments as a child and prints that child's peak RSS (KiB) on its last stderr
#: line: ``RUSAGE_CHILDREN`` of a fresh process covers exactly one pytest run (in this
#: process it would be the peak of every run so far).
_PEAK_RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


_RUNNER = Runner(pycache_prefix=None)  # the caller's bytecode settings


def pytest_run(folder: Path, cases: int, *args: str) -> tuple[float, int]:
    """Wall seconds and the peak RSS (KiB) of one pytest run, checked: ``cases`` passed."""
    elapsed, output = _RUNNER.pytest(
        folder, ("-p", "no:recording", *args), prefix=("-c", _PEAK_RSS_WRAPPER, sys.executable)
    )
    *pytest_output, peak_rss = output.rstrip().splitlines()
    check_all_passed(f"pytest {' '.join(args)}", "\n".join(pytest_output), cases)
    return elapsed, int(peak_rss)


def memory(cases: int, server: LocalOpenAIServer) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        (folder / "test_trivial.py").write_text(textwrap.dedent(TRIVIAL.format(cases=cases)))
        _, trivial = pytest_run(folder, cases, "-p", "no:llm")
        (folder / "test_trivial.py").unlink()
        (folder / "test_cases.py").write_text(textwrap.dedent(CASE.format(cases=cases)))
        pytest_run(folder, cases, "--llm-record", f"--llm-base-url={server.base_url}")
        _, replay = pytest_run(folder, cases)
        return trivial, replay


def rerecord_throughput(cases: int, server: LocalOpenAIServer) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        (folder / "test_cases.py").write_text(textwrap.dedent(CASE.format(cases=cases)))
        server.script(latency_s=0.0)
        pytest_run(folder, cases, "--llm-record", f"--llm-base-url={server.base_url}")
        server.script(latency_s=0.2)
        rerecord = ("--llm-rerecord", f"--llm-base-url={server.base_url}")
        serial, _ = pytest_run(folder, cases, *rerecord)
        parallel, _ = pytest_run(folder, cases, *rerecord, "-n", "4")
        return serial, parallel


@dataclasses.dataclass(frozen=True)
class ScaleFigures:
    stream_load_ms: float
    chunks: int
    trivial_rss_mib: float
    replay_rss_mib: float
    cases: int
    rerecord_serial_s: float
    rerecord_parallel_s: float
    rerecord_cases: int


def measure(chunks: int, cases: int, rerecord_cases: int) -> ScaleFigures:
    stream_ms = time_stream_load(chunks)
    with LocalOpenAIServer() as server:
        trivial, replay = memory(cases, server)
        serial, parallel = rerecord_throughput(rerecord_cases, server)
    return ScaleFigures(
        stream_ms, chunks, trivial / 1024, replay / 1024, cases, serial, parallel, rerecord_cases
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--rerecord-cases", type=int, default=200)
    options = parser.parse_args()
    try:
        figures = measure(options.chunks, options.cases, options.rerecord_cases)
    except BenchmarkError as error:
        sys.exit(f"benchmark aborted: {error}")
    print(
        f"load a cassette of one {figures.chunks}-chunk stream: {figures.stream_load_ms:.1f} ms "
        "(best of 5)"
    )
    print(
        f"peak RSS, {figures.cases} trivial tests: {figures.trivial_rss_mib:.0f} MiB; "
        f"{figures.cases} replayed LLM cases: {figures.replay_rss_mib:.0f} MiB"
    )
    serial, parallel = figures.rerecord_serial_s, figures.rerecord_parallel_s
    print(
        f"re-record {figures.rerecord_cases} cases at 200 ms: serial {serial:.1f} s, "
        f"-n 4 {parallel:.1f} s ({serial / parallel:.2f}x)"
    )


if __name__ == "__main__":
    main()
