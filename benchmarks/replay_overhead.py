"""Per-case cost of replaying an LLM call with pytest_llm, next to pytest-recording.

Builds, in a temporary folder, generated suites of N one-call tests and times a subprocess
``python -m pytest -q -p no:cacheprovider -p no:randomly`` run of each (wall clock of the
subprocess; best and median of R runs, after one untimed warm-up run):

* ``trivial, no plugin``   N ``def test_i(): pass`` with ``-p no:llm -p no:recording``: the baseline.
* ``trivial, pytest_llm``  the same tests with pytest_llm loaded: its cost for non-LLM tests.
* ``pytest_llm replay``    N ``@llm_case`` tests, each one chat completion with its own question,
                           recorded first with ``--llm-record --llm-base-url=<local server>``,
                           timed in the default replay mode with ``-p no:recording``.
* ``pytest-recording``     the same N tests with ``@pytest.mark.vcr`` and one module-level
                           ``openai.OpenAI`` client (both suites share one client per session),
                           recorded with ``--record-mode=once``, timed with
                           ``--record-mode=none -p no:llm``.
* ``floor: mock transport`` N tests, each the same one ``openai`` call answered by an in-memory
                           ``MockTransport`` (a module-level client, no cassette, no recorder):
                           the floor any replaying plugin is measured against.
* ``cassetter``            the same N tests as pytest-recording's under cassetter (a Rust-core
                           pytest-recording replacement), recorded with ``--record-mode=once``,
                           timed with ``--record-mode=none``. cassetter and pytest-recording
                           both register ``--record-mode``, so they cannot share an environment:
                           the benchmark installs cassetter with ``pip install --target`` into
                           its temporary folder (or uses ``--cassetter-site DIR``) and puts it
                           on ``PYTHONPATH`` for its suite only; without it the row is skipped.
* ``SDK floor``            one test making N calls on an ``httpx2.MockTransport`` client, timed
                           inside the test: the openai SDK's own per-call cost, no recorder.

"overhead ms/case" is a suite's best time minus the baseline's, per case; it still carries
fixed costs (importing openai, vcrpy) spread over N. The same suites are also built with a
single case: "1-case s" is that run's best time and "marginal" is the slope
``(T(N) - T(1)) / (N - 1)`` minus the baseline's slope, i.e. what one more case costs.

Recording happens against :class:`pytest_llm.testing.LocalOpenAIServer` on 127.0.0.1 and is
not timed. Every run is checked: all tests passed (pytest's summary line) and, for the replay
suites, the server received no request.

Bytecode: the subprocesses write and reuse ``.pyc`` files under a private
``PYTHONPYCACHEPREFIX`` in the temporary folder (``PYTHONDONTWRITEBYTECODE`` is dropped), so the
figures do not include recompiling openai and re-running pytest's assertion rewriting of every
plugin module on each run, and nothing is written next to any source. ``--cold-bytecode`` keeps
the caller's bytecode settings instead.

Run::

    /work/venv/bin/python benchmarks/replay_overhead.py [--cases 500] [--repeat 3] [--profile]

``--profile`` also runs the N-case pytest_llm replay suite once under cProfile and prints what
dominates it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import pstats
import re
import shutil
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

NO_PLUGINS = ("-p", "no:llm", "-p", "no:recording", "-p", "no:cassetter")
CASSETTER_VERSION = "0.16.1"
#: Environment variables that would change what the generated suites do.
SCRUBBED_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
BYTECODE_ENV = ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
SUMMARY_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")
SDK_FLOOR_FILE = "sdk_floor_seconds.txt"
BASELINE = "trivial, no plugin"
LLM_REPLAY = "pytest_llm replay"
VCR_REPLAY = "pytest-recording"
LLM_FRESH = "pytest_llm, OpenAI() per call"
VCR_FRESH = "pytest-recording, OpenAI()/call"
FLOOR = "floor: mock transport"
CASSETTER = "cassetter"
#: Targets of issue #14 on the overhead per case over trivial tests, one run side by side.
FLOOR_TARGET = 1.1
CASSETTER_TARGET = 1.0
#: Plugins of a development environment that have nothing to do with what is measured; the
#: hypothesis plugin, say, imports hypothesis at the end of every session and of every xdist
#: worker (about 1 s each). ``-p no:<name>`` is harmless when they are not installed.
UNRELATED_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:anyio")


class BenchmarkError(RuntimeError):
    """A run did not do what the benchmark needs; the figures would be meaningless."""


@dataclasses.dataclass(frozen=True)
class Runner:
    """Runs pytest subprocesses in a controlled environment."""

    pycache_prefix: Path | None

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}
        env["PYTHONHASHSEED"] = "0"
        if self.pycache_prefix is not None:
            for key in BYTECODE_ENV:
                env.pop(key, None)
            env["PYTHONPYCACHEPREFIX"] = str(self.pycache_prefix)
        return env

    def pytest(
        self,
        folder: Path,
        args: Sequence[str],
        *,
        prefix: Sequence[str] = (),
        python_path: Path | None = None,
    ) -> tuple[float, str]:
        """Run pytest in ``folder``; returns (wall seconds, output)."""
        command = [sys.executable, *prefix, *PYTEST_BASE, *UNRELATED_PLUGINS, *args]
        env = self.env()
        if python_path is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(python_path), env.get("PYTHONPATH")])
            )
        start = time.perf_counter()
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        return elapsed, done.stdout + done.stderr


@dataclasses.dataclass(frozen=True)
class Suite:
    """One generated suite: its folder, size and the pytest arguments of a timed run."""

    name: str
    folder: Path
    cases: int
    args: tuple[str, ...]
    replays: bool = False  # must not reach the server
    python_path: Path | None = None  # prepended to PYTHONPATH (cassetter's private install)


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


def repeated_source(header: str, test: str, cases: int) -> str:
    """``header``, then ``test`` once per case with ``{i}`` replaced by the case's number."""
    return header + "".join(
        textwrap.dedent(test).replace("{i}", str(i)) + "\n\n" for i in range(cases)
    )


def pytest_llm_source(cases: int) -> str:
    return repeated_source(
        "from pytest_llm import llm_case\n\n\n",
        """\
        @llm_case
        def test_{i}(llm_client, llm_model):
            llm_client.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": "question {i}"}]
            )
        """,
        cases,
    )


def pytest_recording_source(cases: int, base_url: str) -> str:
    return repeated_source(
        "import openai\nimport pytest\n\n"
        f"client = openai.OpenAI(api_key='sk-test', base_url={base_url!r})\n\n\n",
        """\
        @pytest.mark.vcr
        def test_{i}():
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "question {i}"}]
            )
        """,
        cases,
    )


def pytest_llm_fresh_client_source(cases: int) -> str:
    """Application code that builds its own ``openai.OpenAI()`` for every call."""
    return repeated_source(
        "import openai\n\nfrom pytest_llm import llm_case\n\n\n",
        """\
        @llm_case
        def test_{i}(llm_model):
            openai.OpenAI().chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": "question {i}"}]
            )
        """,
        cases,
    )


def pytest_recording_fresh_client_source(cases: int, base_url: str) -> str:
    return repeated_source(
        "import openai\nimport pytest\n\n\n",
        f"""\
        @pytest.mark.vcr
        def test_{{i}}():
            openai.OpenAI(api_key="sk-test", base_url={base_url!r}).chat.completions.create(
                model="gpt-4o-mini", messages=[{{"role": "user", "content": "question {{i}}"}}]
            )
        """,
        cases,
    )


#: What the floor's mock transport answers: the local server's chat completion, field for
#: field (the SDK's parsing cost grows with the fields; the replay suites answer these).
ANSWER_BODY = {
    "id": "chatcmpl-8df6b54104ed4e8481b57b4af2d3a60e", "object": "chat.completion",
    "created": 1796347296, "model": "gpt-4o-mini", "service_tier": "default",
    "system_fingerprint": "fp_254f218ebc",
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                 "message": {"role": "assistant", "content": "Echo: question 1", "refusal": None,
                             "annotations": []}}],
    "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5,
              "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0,
                                            "rejected_prediction_tokens": 0}},
}  # fmt: skip


def floor_source(cases: int) -> str:
    """N tests, each the one call of the replay suites, answered in memory: no cassette."""
    return repeated_source(
        textwrap.dedent(
            """\
            import httpx2
            import openai

            BODY = __BODY__

            client = openai.OpenAI(
                api_key="sk-test",
                base_url="http://127.0.0.1:9/v1",
                http_client=httpx2.Client(
                    transport=httpx2.MockTransport(lambda request: httpx2.Response(200, json=BODY))
                ),
            )


            """
        ),
        """\
        def test_{i}():
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "question {i}"}]
            )
        """,
        cases,
    ).replace("__BODY__", repr(ANSWER_BODY), 1)


def install_cassetter(root: Path, site: Path | None) -> Path | None:
    """A folder holding cassetter (``--cassetter-site``, or a private ``pip install
    --target``), or None when it cannot be installed (the row is then skipped)."""
    if site is not None:
        return site
    target = root / "cassetter_site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            str(target),
            f"cassetter=={CASSETTER_VERSION}",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(
            f"cassetter not installed, its row is skipped: {done.stderr.strip()[-300:]}",
            file=sys.stderr,
        )
        return None
    return target


def sdk_floor_source(cases: int) -> str:
    return textwrap.dedent(
        f"""\
        import time
        from pathlib import Path

        import httpx2
        import openai

        BODY = {ANSWER_BODY!r}


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


# --------------------------------------------------------------------------- checked runs


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


def checked_run(
    runner: Runner, suite: Suite, server: LocalOpenAIServer, *, prefix: Sequence[str] = ()
) -> float:
    """One run, verified: every test passed, and a replay reached no server."""
    before = len(server.requests)
    elapsed, output = runner.pytest(
        suite.folder, suite.args, prefix=prefix, python_path=suite.python_path
    )
    check_all_passed(suite.name, output, suite.cases)
    sent = len(server.requests) - before
    if suite.replays and sent:
        raise BenchmarkError(f"{suite.name}: the replay run sent {sent} request(s) to the server")
    return elapsed


def record(
    runner: Runner,
    name: str,
    folder: Path,
    args: Sequence[str],
    cases: int,
    server: LocalOpenAIServer,
    python_path: Path | None = None,
) -> None:
    """Record a suite's cassettes against the local server (untimed), checking it did."""
    before = len(server.requests)
    _, output = runner.pytest(folder, args, python_path=python_path)
    check_all_passed(f"{name} (recording)", output, cases)
    sent = len(server.requests) - before
    if sent != cases:
        raise BenchmarkError(
            f"{name} (recording): expected {cases} requests to the server, saw {sent}"
        )


def time_suites(
    runner: Runner, suites: Sequence[Suite], repeat: int, server: LocalOpenAIServer
) -> list[Timing]:
    """Each suite ``repeat`` times, in rounds (one run of every suite per round): a machine
    that slows down or speeds up during the benchmark then weighs on every suite alike."""
    for suite in suites:
        checked_run(runner, suite, server)  # warm-up: bytecode caches, disk cache
    runs: list[list[float]] = [[] for _ in suites]
    for _ in range(repeat):
        for index, suite in enumerate(suites):
            runs[index].append(checked_run(runner, suite, server))
    return [Timing(suite.name, tuple(times)) for suite, times in zip(suites, runs, strict=True)]


def time_sdk_floor(runner: Runner, folder: Path, repeat: int) -> Timing:
    runs = []
    for _ in range(repeat + 1):  # the first is the warm-up
        _, output = runner.pytest(folder, NO_PLUGINS)
        check_all_passed("SDK floor", output, 1)
        runs.append(float((folder / SDK_FLOOR_FILE).read_text()))
    return Timing("SDK floor (1 test, N calls)", tuple(runs[1:]))


# --------------------------------------------------------------------------- suites


def build_suites(
    runner: Runner,
    root: Path,
    cases: int,
    server: LocalOpenAIServer,
    *,
    fresh_client: bool,
    cassetter_site: Path | None = None,
) -> list[Suite]:
    """Write the suites of ``cases`` tests and record the cassettes of the replay suites."""
    trivial = write_suite(root / "trivial", trivial_source(cases))
    suites = [
        Suite(BASELINE, trivial, cases, NO_PLUGINS),
        Suite("trivial, pytest_llm", trivial, cases, ("-p", "no:recording", "-p", "no:cassetter")),
        Suite(FLOOR, write_suite(root / "floor", floor_source(cases)), cases, NO_PLUGINS),
    ]
    if cassetter_site is not None:
        folder = write_suite(root / CASSETTER, pytest_recording_source(cases, server.base_url))
        only_cassetter = ("-p", "no:llm", "-p", "no:recording")
        record(
            runner,
            CASSETTER,
            folder,
            (*only_cassetter, "--record-mode=once"),
            cases,
            server,
            python_path=cassetter_site,
        )
        suites.append(
            Suite(
                CASSETTER,
                folder,
                cases,
                (*only_cassetter, "--record-mode=none"),
                replays=True,
                python_path=cassetter_site,
            )
        )
    pairs = [(LLM_REPLAY, pytest_llm_source(cases), VCR_REPLAY, pytest_recording_source)]
    if fresh_client:
        pairs.append(
            (
                LLM_FRESH,
                pytest_llm_fresh_client_source(cases),
                VCR_FRESH,
                pytest_recording_fresh_client_source,
            )
        )
    llm_record = (
        "-p",
        "no:recording",
        "-p",
        "no:cassetter",
        "--llm-record",
        f"--llm-base-url={server.base_url}",
    )
    for llm_name, llm_source, vcr_name, vcr_source in pairs:
        llm = write_suite(root / _folder_name(llm_name), llm_source)
        vcr = write_suite(root / _folder_name(vcr_name), vcr_source(cases, server.base_url))
        record(runner, llm_name, llm, llm_record, cases, server)
        vcr_record = ("-p", "no:llm", "-p", "no:cassetter", "--record-mode=once")
        record(runner, vcr_name, vcr, vcr_record, cases, server)
        suites.append(
            Suite(llm_name, llm, cases, ("-p", "no:recording", "-p", "no:cassetter"), replays=True)
        )
        suites.append(
            Suite(
                vcr_name,
                vcr,
                cases,
                ("-p", "no:llm", "-p", "no:cassetter", "--record-mode=none"),
                replays=True,
            )
        )
    return suites


def _folder_name(suite_name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", suite_name.lower()).strip("_")


# --------------------------------------------------------------------------- reporting


def machine_facts() -> str:
    return (
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"{os.cpu_count()} cpu(s), {platform.system()} {platform.machine()}"
    )


@dataclasses.dataclass(frozen=True)
class Figures:
    """Per-case figures of one benchmark run, in ms, by suite name."""

    cases: int
    overhead: dict[str, float]
    marginal: dict[str, float]  # empty without the 1-case suites
    sdk_floor: float | None


def compute_figures(
    full: Sequence[Timing], single: Sequence[Timing] | None, cases: int, sdk: Timing | None
) -> Figures:
    base = full[0].best
    overhead = {timing.name: (timing.best - base) / cases * 1000 for timing in full}
    marginal: dict[str, float] = {}
    if single:
        slope = {
            big.name: (big.best - small.best) / (cases - 1) * 1000
            for big, small in zip(full, single, strict=True)
        }
        marginal = {name: value - slope[BASELINE] for name, value in slope.items()}
    return Figures(cases, overhead, marginal, sdk.best / cases * 1000 if sdk else None)


NAME_WIDTH = 31


def render_table(
    full: Sequence[Timing],
    single: Sequence[Timing] | None,
    figures: Figures,
    repeat: int,
    sdk: Timing | None,
) -> str:
    cases = figures.cases
    header = (
        f"{'suite':<{NAME_WIDTH}} {'best s':>6} {'median s':>8} {'ms/case':>7} "
        f"{'overhead ms/case':>16} {'1-case s':>8} {'marginal ms/case':>16}"
    )
    lines = [
        f"N={cases} cases, best/median of {repeat} runs; {machine_facts()}",
        header,
        "-" * len(header),
    ]
    for index, timing in enumerate(full):
        row = (
            f"{timing.name:<{NAME_WIDTH}} {timing.best:>6.2f} {timing.median:>8.2f} "
            f"{timing.best / cases * 1000:>7.2f} {figures.overhead[timing.name]:>16.2f}"
        )
        if single:
            row += f" {single[index].best:>8.2f} {figures.marginal[timing.name]:>16.2f}"
        lines.append(row)
    if sdk is not None and figures.sdk_floor is not None:
        per_call = figures.sdk_floor
        lines.append(
            f"{sdk.name:<{NAME_WIDTH}} {sdk.best:>6.2f} {sdk.median:>8.2f} {per_call:>7.2f} "
            f"{per_call:>16.2f} {'':>8} {per_call:>16.2f}"
        )
    lines.append("-" * len(header))
    lines.append(ratio_line("overhead ms/case", figures.overhead, LLM_REPLAY, VCR_REPLAY))
    lines += target_lines(figures.overhead, "overhead ms/case")
    if figures.marginal:
        lines.append(ratio_line("marginal ms/case", figures.marginal, LLM_REPLAY, VCR_REPLAY))
        lines += target_lines(
            figures.marginal, "marginal ms/case (reported, not judged)", judge=False
        )
    if LLM_FRESH in figures.overhead:
        lines.append(
            ratio_line("OpenAI() per call, overhead", figures.overhead, LLM_FRESH, VCR_FRESH)
        )
    return "\n".join(lines)


def target_lines(figures: dict[str, float], label: str, *, judge: bool = True) -> list[str]:
    """pytest_llm's replay against the floor and against cassetter, with the targets (judged on
    the overhead, fixed costs included, as the targets were set; the marginal cost is shown
    next to it: it leaves out the fixed costs, and the noise of the 1-case runs is in it)."""
    lines = []
    for anchor, target in ((FLOOR, FLOOR_TARGET), (CASSETTER, CASSETTER_TARGET)):
        if anchor not in figures:
            lines.append(f"pytest_llm / {anchor}: not measured")
            continue
        value = ratio(figures, LLM_REPLAY, anchor)
        verdict = "n/a" if value is None else ("met" if value <= target else "NO")
        shown = f"{value:.2f}x" if value is not None else "n/a"
        judged = f" (target <= {target:.2f}x: {verdict})" if judge else ""
        lines.append(f"pytest_llm / {anchor}, {label}: {shown}{judged}")
    return lines


def ratio(figures: dict[str, float], llm_name: str, vcr_name: str) -> float | None:
    llm, vcr = figures[llm_name], figures[vcr_name]
    return llm / vcr if llm > 0 and vcr > 0 else None


def ratio_line(label: str, figures: dict[str, float], llm_name: str, vcr_name: str) -> str:
    value = ratio(figures, llm_name, vcr_name)
    shown = f"{value:.2f}x" if value is not None else "n/a (an overhead is not above noise)"
    return f"pytest_llm / pytest-recording, {label}: {shown}"


def profile_replay(
    runner: Runner, suite: Suite, server: LocalOpenAIServer, root: Path, top: int
) -> str:
    """Run a replay suite once under cProfile: the top functions by own time, and the top
    pytest_llm / vcr / openai / httpx2 / yaml functions by cumulative time."""
    output_file = root / "replay.prof"
    checked_run(runner, suite, server, prefix=("-m", "cProfile", "-o", str(output_file)))
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
    lines = [f"cProfile of one '{suite.name}' run ({suite.cases} cases): {total:.2f} s profiled"]
    lines.append("top by own time:")
    lines += [f"  {own:7.3f} s own {calls:>8} calls  {name}" for _, own, calls, name, _ in by_own]
    lines.append("top pytest_llm/vcr/openai/httpx2/yaml functions by cumulative time:")
    lines += [
        f"  {cum:7.3f} s cum {calls:>8} calls  {name}" for cum, _, calls, name, _ in by_cumulative
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
        "--no-marginal",
        dest="marginal",
        action="store_false",
        help="skip the 1-case suites (no '1-case s' / 'marginal ms/case' columns)",
    )
    parser.add_argument(
        "--no-fresh-client",
        dest="fresh_client",
        action="store_false",
        help="skip the suites whose tests build an openai.OpenAI() per call",
    )
    parser.add_argument(
        "--no-cassetter",
        dest="cassetter",
        action="store_false",
        help="skip the cassetter suite (otherwise installed privately with pip --target)",
    )
    parser.add_argument(
        "--cassetter-site",
        type=Path,
        default=None,
        help="a folder where cassetter is already installed (pip install --target DIR)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile one pytest_llm replay run (cProfile)"
    )
    parser.add_argument("--profile-top", type=int, default=15, help="rows per profile listing")
    parser.add_argument(
        "--cold-bytecode",
        action="store_true",
        help="keep the caller's bytecode settings (e.g. PYTHONDONTWRITEBYTECODE=1)",
    )
    parser.add_argument("--keep", action="store_true", help="keep (and name) the temporary folder")
    args = parser.parse_args(argv)
    if args.cases < 2 and args.marginal:
        parser.error("--cases must be at least 2 (or pass --no-marginal)")
    if args.cases < 1 or args.repeat < 1:
        parser.error("--cases and --repeat must be at least 1")
    return args


def run_benchmark(args: argparse.Namespace, root: Path) -> tuple[str, Figures]:
    runner = Runner(None if args.cold_bytecode else root / "pycache")
    site = install_cassetter(root, args.cassetter_site) if args.cassetter else None
    with LocalOpenAIServer() as server:
        fresh = args.fresh_client
        suites = build_suites(
            runner, root / "full", args.cases, server, fresh_client=fresh, cassetter_site=site
        )
        full = time_suites(runner, suites, args.repeat, server)
        single = None
        if args.marginal:
            small = build_suites(
                runner, root / "single", 1, server, fresh_client=fresh, cassetter_site=site
            )
            single = time_suites(runner, small, args.repeat, server)
        sdk = None
        if args.sdk_floor:
            floor = write_suite(root / "sdk_floor", sdk_floor_source(args.cases))
            sdk = time_sdk_floor(runner, floor, args.repeat)
        figures = compute_figures(full, single, args.cases, sdk)
        report = render_table(full, single, figures, args.repeat, sdk)
        if args.profile:
            replay = next(suite for suite in suites if suite.name == LLM_REPLAY)
            report += "\n\n" + profile_replay(runner, replay, server, root, args.profile_top)
    return report, figures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="pytest-llm-bench-"))
    try:
        print(run_benchmark(args, root)[0], flush=True)
    except BenchmarkError as error:
        print(f"benchmark aborted: {error}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"suites kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
