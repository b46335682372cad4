"""Where a replayed case's time goes: the replay suite and the floor suite of
``replay_overhead.py --keep``, run in this process, with the plugin's per-case steps timed.

    python benchmarks/replay_overhead.py --cases 1000 --no-marginal --no-fresh-client --keep
    python benchmarks/per_case_account.py /tmp/pytest-llm-bench-XXXX/full [--rounds 3]

Each suite runs ``--rounds`` times in this process (imports are warm after the first: fixed
costs such as importing openai and vcrpy are not in these figures; ``replay_overhead.py``
has them). The round with the least time in ``pytest_runtest_protocol`` is printed: ms per
case for pytest's phases and for each step the plugin takes, wrapped with a
``perf_counter`` pair (a few microseconds each, not subtracted). Steps nest: ``case run``
holds ``load cassette``, ``SDK call`` holds ``vcrpy: ...`` and the recorder's steps.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import importlib
import io
import os
import sys
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import pytest

Totals = collections.Counter[str]

#: (module, attribute, label): the plugin's per-case steps and the vcrpy stub calls.
STEPS = (
    ("pytest_llm.replay.case_runner", "run", "case run (all of the plugin's call phase)"),
    ("pytest_llm.replay.case_runner", "_load", "  load cassette"),
    ("pytest_llm.replay.case_runner", "_recorder", "  build recorder"),
    ("pytest_llm.replay.network_guard", "NetworkGuard.__enter__", "  network guard on"),
    ("pytest_llm.case.samples", "run_samples", "  test body"),
    ("openai.resources.chat.completions.completions", "Completions.create", "    SDK call"),
    ("vcr.stubs.httpx_stubs", "_make_vcr_request", "      vcrpy: request conversion"),
    ("pytest_llm.replay.recorder", "CassetteRecorder.can_play_response_for", "      recorder: match"),
    ("pytest_llm.replay.recorder", "CassetteRecorder._scrubbed_request", "        scrub request"),
    ("vcr.stubs.httpx_stubs", "_play_responses", "      vcrpy: response"),
    ("pytest_llm.replay.recorder", "CassetteRecorder.play_response", "        recorder: play"),
    ("pytest_llm.case.state", "CallLog.add", "          call log entry"),
    ("pytest_llm.report.case_payload", "case_payload", "report payload (makereport)"),
    ("pytest_llm.case.collection", "case_for", "case built at collection"),
)  # fmt: skip


def timed(totals: Totals, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - start

    return wrapper


def wrap_steps(totals: Totals) -> None:
    for module_name, attribute, label in STEPS:
        owner: Any = importlib.import_module(module_name)
        *parents, name = attribute.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        setattr(owner, name, timed(totals, label, getattr(owner, name)))


class PhaseTimer:
    """pytest's per-test phases, timed from the outermost hook wrapper."""

    def __init__(self, totals: Totals) -> None:
        self.totals = totals

    def _timed(self, label: str) -> Generator[None, Any, Any]:
        start = time.perf_counter()
        try:
            return (yield)
        finally:
            self.totals[label] += time.perf_counter() - start

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: Any) -> Generator[None, Any, Any]:
        return (yield from self._timed("pytest: whole test (runtest_protocol)"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: Any) -> Generator[None, Any, Any]:
        return (yield from self._timed("pytest: setup (fixtures)"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: Any) -> Generator[None, Any, Any]:
        return (yield from self._timed("pytest: call"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item: Any) -> Generator[None, Any, Any]:
        return (yield from self._timed("pytest: teardown"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: Any, call: Any) -> Generator[None, Any, Any]:
        return (yield from self._timed("pytest: makereport (3 per test)"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: Any) -> Generator[None, Any, Any]:
        return (yield from self._timed("pytest: logreport (3 per test)"))


def run_suite(folder: Path, plugin_args: Sequence[str], totals: Totals) -> int:
    os.chdir(folder)
    sys.modules.pop("test_suite", None)  # every suite's module has this name
    arguments = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:recording"]
    arguments += ["-p", "no:hypothesispytest", "-p", "no:anyio", *plugin_args, "."]
    with contextlib.redirect_stdout(io.StringIO()) as output:
        status = pytest.main(arguments, plugins=[PhaseTimer(totals)])
    if status != 0:
        raise SystemExit(f"{folder}: pytest exited {status}:\n{output.getvalue()[-2000:]}")
    return sum(
        1
        for line in (folder / "test_suite.py").read_text().splitlines()
        if line.startswith("def test_")
    )


def best_round(
    folder: Path, plugin_args: Sequence[str], rounds: int, totals: Totals
) -> tuple[Totals, int]:
    best: Totals | None = None
    cases = 0
    for _ in range(rounds):
        totals.clear()
        cases = run_suite(folder, plugin_args, totals)
        key = "pytest: whole test (runtest_protocol)"
        if best is None or totals[key] < best[key]:
            best = Totals(totals)
    assert best is not None
    return best, cases


def render(name: str, figures: Totals, cases: int) -> list[str]:
    order = [label for label in figures if label.startswith("pytest:")]
    order += [label for _, _, label in STEPS if label in figures]
    lines = [f"{name}: ms per case ({cases} cases)"]
    lines += [f"  {figures[label] / cases * 1000:7.3f}  {label}" for label in order]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "suites", type=Path, help="the 'full' folder replay_overhead.py --keep left"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    replay, floor = args.suites.resolve() / "pytest_llm_replay", args.suites.resolve() / "floor"
    for folder in (replay, floor):
        if not (folder / "test_suite.py").is_file():
            parser.error(f"{folder} holds no suite: run replay_overhead.py --keep first")
    totals: Totals = collections.Counter()
    import openai  # noqa: F401  (the steps below patch its modules)
    import vcr.stubs.httpx_stubs  # noqa: F401

    wrap_steps(totals)
    floor_figures, cases = best_round(floor, ["-p", "no:llm"], args.rounds, totals)
    replay_figures, _ = best_round(replay, [], args.rounds, totals)
    print("\n".join(render("floor: mock transport, no cassette", floor_figures, cases)))
    print("\n".join(render("pytest_llm replay", replay_figures, cases)))
    key = "pytest: whole test (runtest_protocol)"
    extra = (replay_figures[key] - floor_figures[key]) / cases * 1000
    print(f"pytest_llm replay costs {extra:.3f} ms per case more than the floor in pytest's "
          f"protocol ({replay_figures[key] / floor_figures[key]:.2f}x), fixed costs aside")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
