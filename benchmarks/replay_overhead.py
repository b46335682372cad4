"""Per-case cost of replaying an LLM call with pytest_llm, next to pytest-recording.

Builds, in a temporary folder, generated suites of N one-call tests and times a subprocess
``python -m pytest -q -p no:cacheprovider -p no:randomly`` run of each (wall clock of the
subprocess, best and median of R runs):

* ``trivial, no plugin``   N ``def test_i(): pass`` with ``-p no:llm -p no:recording``: the baseline.
* ``trivial, pytest_llm``  the same tests with pytest_llm loaded: its cost for non-LLM tests.
* ``pytest_llm replay``    N ``@llm_case`` tests, each one chat completion with its own question,
                           recorded first with ``--llm-record --llm-base-url=<local server>``,
                           timed in the default replay mode with ``-p no:recording``.
* ``pytest-recording``     the same N tests with ``@pytest.mark.vcr`` and one module-level
                           ``openai.OpenAI`` client (so both share one client per session),
                           recorded with ``--record-mode=once``, timed with
                           ``--record-mode=none -p no:llm``.
* ``SDK floor``            (``--sdk-floor``, on by default) one test making N calls on an
                           ``httpx2.MockTransport`` client: the openai SDK's own per-call cost,
                           with no recording library at all (timed inside the test).

Recording happens against :class:`pytest_llm.testing.LocalOpenAIServer` on 127.0.0.1 and is
not timed. Every timed run is checked: all N tests passed (from pytest's summary line) and,
for the replay suites, the server received no request.

Run::

    /work/venv/bin/python benchmarks/replay_overhead.py [--cases 500] [--repeat 3] [--profile]

``--profile`` also runs the pytest_llm replay suite once under cProfile and prints the
functions that dominate it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

from pytest_llm.testing import LocalOpenAIServer

PYTEST_BASE = ("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly")
NO_PLUGINS = ("-p", "no:llm", "-p", "no:recording")
#: Environment variables that would change what the generated suites do.
SCRUBBED_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
SUMMARY_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")
SDK_FLOOR_FILE = "sdk_floor_seconds.txt"


class BenchmarkError(RuntimeError):
    """A run did not do what the benchmark needs; the figures would be meaningless."""


@dataclasses.dataclass(frozen=True)
class Suite:
    """One generated suite: its folder and the pytest arguments of a timed run."""

    name: str
    folder: Path
    args: tuple[str, ...]
    replays: bool = False  # must not reach the server


@dataclasses.dataclass(frozen=True)
class Timing:
    name: str
    runs: tuple[float, ...]

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


# --------------------------------------------------------------------------- suite sources


def trivial_source(cases: int) -> str:
    return "".join(f"def test_{i}():\n    pass\n\n\n" for i in range(cases))


def pytest_llm_source(cases: int) -> str:
    header = "from pytest_llm import llm_case\n\n\n"
    body = "".join(
        textwrap.dedent(
            f"""\
            @llm_case
            def test_{i}(llm_client, llm_model):
                llm_client.chat.completions.create(
                    model=llm_model, messages=[{{"role": "user", "content": "question {i}"}}]
                )


            """
        )
        for i in range(cases)
    )
    return header + body


def pytest_recording_source(cases: int, base_url: str) -> str:
    header = textwrap.dedent(
        f"""\
        import openai
        import pytest

        client = openai.OpenAI(api_key="sk-test", base_url={base_url!r})


        """
    )
    body = "".join(
        textwrap.dedent(
            f"""\
            @pytest.mark.vcr
            def test_{i}():
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{{"role": "user", "content": "question {i}"}}]
                )


            """
        )
        for i in range(cases)
    )
    return header + body


def sdk_floor_source(cases: int) -> str:
    return textwrap.dedent(
        f"""\
        import json
        import time
        from pathlib import Path

        import httpx2
        import openai

        BODY = {{
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
            "choices": [{{"index": 0, "finish_reason": "stop",
                         "message": {{"role": "assistant", "content": "An answer."}}}}],
            "usage": {{"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}},
        }}


        def handler(request):
            return httpx2.Response(200, json=BODY)


        def test_sdk_floor():
            client = openai.OpenAI(
                api_key="sk-test",
                base_url="http://127.0.0.1:9/v1",
                http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
            )
            start = time.perf_counter()
            for i in range({cases}):
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{{"role": "user", "content": f"question {{i}}"}}]
                )
            elapsed = time.perf_counter() - start
            Path(__file__).with_name({SDK_FLOOR_FILE!r}).write_text(repr(elapsed))
        """
    )


def write_suite(folder: Path, source: str) -> Path:
    """A self-contained rootdir (its own pytest.ini) holding one test module."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_suite.py").write_text(source)
    return folder


# --------------------------------------------------------------------------- running


def clean_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}
    env["PYTHONHASHSEED"] = "0"
    return env


def run_pytest(
    folder: Path, args: Sequence[str], *, prefix: Sequence[str] = ()
) -> tuple[float, str]:
    """Run pytest in ``folder``; returns (wall seconds, output)."""
    command = [sys.executable, *prefix, *PYTEST_BASE, *args]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=clean_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    return elapsed, done.stdout + done.stderr


def summary_counts(output: str) -> dict[str, int]:
    """``{"passed": 500}`` from pytest's last summary line."""
    lines = [line for line in output.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return {
        kind.rstrip("s") if kind.startswith("error") else kind: int(count)
        for count, kind in SUMMARY_COUNT.findall(last)
    }


def check_all_passed(name: str, output: str, expected: int) -> None:
    counts = summary_counts(output)
    if counts != {"passed": expected}:
        tail = "\n".join(output.splitlines()[-25:])
        raise BenchmarkError(
            f"{name}: expected {expected} passed, got {counts or 'no summary'}:\n{tail}"
        )


def checked_run(suite: Suite, expected: int, server: LocalOpenAIServer) -> float:
    """One timed run, verified: every test passed, and a replay reached no server."""
    before = len(server.requests)
    elapsed, output = run_pytest(suite.folder, suite.args)
    check_all_passed(suite.name, output, expected)
    sent = len(server.requests) - before
    if suite.replays and sent:
        raise BenchmarkError(f"{suite.name}: the replay run sent {sent} request(s) to the server")
    return elapsed


def record(
    name: str, folder: Path, args: Sequence[str], cases: int, server: LocalOpenAIServer
) -> None:
    """Record a suite's cassettes against the local server (untimed), checking it did."""
    before = len(server.requests)
    _, output = run_pytest(folder, args)
    check_all_passed(f"{name} (recording)", output, cases)
    sent = len(server.requests) - before
    if sent != cases:
        raise BenchmarkError(
            f"{name} (recording): expected {cases} requests to the server, saw {sent}"
        )


def time_suite(suite: Suite, cases: int, repeat: int, server: LocalOpenAIServer) -> Timing:
    checked_run(suite, cases, server)  # warm-up: bytecode caches, disk cache
    return Timing(suite.name, tuple(checked_run(suite, cases, server) for _ in range(repeat)))


def time_sdk_floor(folder: Path, cases: int, repeat: int) -> Timing:
    runs = []
    for _ in range(repeat + 1):
        _, output = run_pytest(folder, NO_PLUGINS)
        check_all_passed("SDK floor", output, 1)
        runs.append(float((folder / SDK_FLOOR_FILE).read_text()))
    return Timing("SDK floor (1 test, N calls)", tuple(runs[1:]))


# --------------------------------------------------------------------------- suites


def build_suites(root: Path, cases: int, server: LocalOpenAIServer) -> list[Suite]:
    """Write the suites and record the cassettes of the two replay suites."""
    trivial = write_suite(root / "trivial", trivial_source(cases))
    llm = write_suite(root / "pytest_llm", pytest_llm_source(cases))
    vcr = write_suite(root / "pytest_recording", pytest_recording_source(cases, server.base_url))
    record(
        "pytest_llm",
        llm,
        ("-p", "no:recording", "--llm-record", f"--llm-base-url={server.base_url}"),
        cases,
        server,
    )
    record("pytest-recording", vcr, ("-p", "no:llm", "--record-mode=once"), cases, server)
    return [
        Suite("trivial, no plugin", trivial, NO_PLUGINS),
        Suite("trivial, pytest_llm", trivial, ("-p", "no:recording")),
        Suite("pytest_llm replay", llm, ("-p", "no:recording"), replays=True),
        Suite("pytest-recording", vcr, ("-p", "no:llm", "--record-mode=none"), replays=True),
    ]


# --------------------------------------------------------------------------- reporting


def machine_facts() -> str:
    return (
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"{os.cpu_count()} cpu(s), {platform.system()} {platform.machine()}"
    )


def render_table(timings: Sequence[Timing], cases: int, repeat: int, sdk: Timing | None) -> str:
    baseline = timings[0].best
    header = f"{'suite':<28} {'best s':>7} {'median s':>9} {'ms/case':>8} {'overhead ms/case':>17}"
    lines = [
        f"N={cases} cases, best/median of {repeat} runs; {machine_facts()}",
        header,
        "-" * len(header),
    ]
    overhead: dict[str, float] = {}
    for timing in timings:
        extra = (timing.best - baseline) / cases * 1000
        overhead[timing.name] = extra
        lines.append(
            f"{timing.name:<28} {timing.best:>7.2f} {timing.median:>9.2f} "
            f"{timing.best / cases * 1000:>8.2f} {extra:>17.2f}"
        )
    if sdk is not None:
        per_call = sdk.best / cases * 1000
        lines.append(
            f"{sdk.name:<28} {sdk.best:>7.2f} {sdk.median:>9.2f} {per_call:>8.2f} {per_call:>17.2f}"
        )
    llm, vcr = overhead.get("pytest_llm replay"), overhead.get("pytest-recording")
    if llm is not None and vcr:
        lines.append(f"pytest_llm / pytest-recording overhead per case: {llm / vcr:.2f}x")
    lines.append(
        "(overhead = best minus the 'trivial, no plugin' best, per case; SDK floor is timed in-test)"
    )
    return "\n".join(lines)


def profile_replay(suite: Suite, root: Path, top: int) -> str:
    """Run the pytest_llm replay suite once under cProfile; the top functions by own time and
    the top pytest_llm / vcr / openai / httpx2 functions by cumulative time."""
    output_file = root / "replay.prof"
    _, output = run_pytest(
        suite.folder, suite.args, prefix=("-m", "cProfile", "-o", str(output_file))
    )
    check_all_passed(
        f"{suite.name} (profiled)", output, int(summary_counts(output).get("passed", -1))
    )
    stats = pstats.Stats(str(output_file))
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = stats.stats  # type: ignore[attr-defined]
    entries = [
        (cumulative, own, calls, f"{Path(file).name}:{line}({func})", file)
        for (file, line, func), (_, calls, own, cumulative, _) in rows.items()
    ]
    by_own = sorted(entries, key=lambda entry: entry[1], reverse=True)[:top]
    interesting = ("pytest_llm", "vcr", "openai", "httpx2", "yaml")
    by_cumulative = sorted(
        (entry for entry in entries if any(f"/{name}/" in entry[4] for name in interesting)),
        key=lambda entry: entry[0],
        reverse=True,
    )[:top]
    lines = [f"cProfile of one '{suite.name}' run: {total:.2f} s profiled", "top by own time:"]
    lines += [f"  {own:7.3f} s own  {calls:>8} calls  {name}" for _, own, calls, name, _ in by_own]
    lines.append("top pytest_llm/vcr/openai/httpx2/yaml functions by cumulative time:")
    lines += [
        f"  {cum:7.3f} s cum  {calls:>8} calls  {name}" for cum, _, calls, name, _ in by_cumulative
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=500, help="tests per suite (default: 500)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per suite (default: 3)")
    parser.add_argument(
        "--no-sdk-floor",
        dest="sdk_floor",
        action="store_false",
        help="skip the SDK-on-MockTransport floor measurement",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one pytest_llm replay run with cProfile",
    )
    parser.add_argument("--profile-top", type=int, default=15, help="rows per profile listing")
    parser.add_argument("--keep", action="store_true", help="keep (and print) the temporary folder")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.repeat < 1:
        parser.error("--cases and --repeat must be at least 1")
    return args


def run_benchmark(args: argparse.Namespace, root: Path) -> str:
    with LocalOpenAIServer() as server:
        suites = build_suites(root, args.cases, server)
        timings = [time_suite(suite, args.cases, args.repeat, server) for suite in suites]
        sdk = None
        if args.sdk_floor:
            floor = write_suite(root / "sdk_floor", sdk_floor_source(args.cases))
            sdk = time_sdk_floor(floor, args.cases, args.repeat)
        report = render_table(timings, args.cases, args.repeat, sdk)
        if args.profile:
            replay = next(suite for suite in suites if suite.name == "pytest_llm replay")
            report += "\n\n" + profile_replay(replay, root, args.profile_top)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="pytest-llm-bench-"))
    try:
        print(run_benchmark(args, root))
    except BenchmarkError as error:
        print(f"benchmark aborted: {error}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"suites kept in {root}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
