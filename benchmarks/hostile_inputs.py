"""CPU time and memory of every hostile and large fair cassette or data set, against the targets
(2 s of CPU time, 200 MB above the baseline, per workload).

    python benchmarks/hostile_inputs.py [--repeat 1]

The workloads are those of ``tests/test_hostile_cassettes.py`` (billion laughs, merge-key bombs,
deep nesting, gzip bombs, half a million numbers, ...: in replay, in each ``pytest-llm``
command and as a data set). That module asserts only that none hangs (ten times the target)
and the memory budget, because a CPU figure on a loaded machine is luck; this script runs it
with ``PYTEST_LLM_HOSTILE_FIGURES`` set, collects each workload's figures (CPU time is user +
system of the measuring child, not wall clock) and prints them against the targets. With
``--repeat N`` each workload's best of N runs is shown. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import target_table

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "tests" / "test_hostile_cassettes.py"
CPU_TARGET_S = 2.0
MEMORY_TARGET_MB = 200.0


def measure(repeat: int) -> dict[str, list[tuple[float, float]]]:
    """Each workload's (cpu_s, peak_mb) over ``repeat`` runs of the test module."""
    figures: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    with tempfile.TemporaryDirectory() as folder:
        figures_file = Path(folder) / "figures.jsonl"
        for _ in range(repeat):
            environment = {**os.environ, "PYTEST_LLM_HOSTILE_FIGURES": str(figures_file)}
            command = [
                sys.executable,
                "-m",
                "pytest",
                str(MODULE),
                "-q",
                "-p",
                "no:randomly",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:xdist",
                "-p",
                "no:hypothesispytest",
            ]
            completed = subprocess.run(
                command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False
            )
            if completed.returncode != 0:
                raise SystemExit(
                    f"benchmark aborted: the test module failed:\n{completed.stdout[-3000:]}"
                )
        for line in figures_file.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            figures[entry["test"].split("::", 1)[-1]].append((entry["cpu_s"], entry["peak_mb"]))
    return figures


def rows(figures: dict[str, list[tuple[float, float]]], repeat: int) -> list[target_table.Row]:
    """One row per workload (the worst command of it, best of the repeats), then the worst."""
    per_workload: dict[str, tuple[float, float]] = {}
    for test, runs in figures.items():
        per_run = len(runs) // repeat or 1  # commands measured in one run of this test
        chunks = [runs[k : k + per_run] for k in range(0, len(runs), per_run)]
        worst_of_each = [(max(c for c, _ in chunk), max(m for _, m in chunk)) for chunk in chunks]
        per_workload[test] = (min(c for c, _ in worst_of_each), min(m for _, m in worst_of_each))
    table: list[target_table.Row] = []
    for test, (cpu_s, peak_mb) in sorted(per_workload.items()):
        met = cpu_s <= CPU_TARGET_S and peak_mb <= MEMORY_TARGET_MB
        table.append((test, f"{cpu_s:.2f} s {peak_mb:.0f} MB", "2 s 200 MB", met))
    worst_cpu = max(cpu for cpu, _ in per_workload.values())
    worst_mb = max(mb for _, mb in per_workload.values())
    table.append(
        ("worst CPU time of any workload, s", f"{worst_cpu:.2f}", "<= 2", worst_cpu <= CPU_TARGET_S)
    )
    table.append(
        (
            "worst peak memory of any workload, MB",
            f"{worst_mb:.0f}",
            "<= 200",
            worst_mb <= MEMORY_TARGET_MB,
        )
    )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=1, help="runs of the module (default: 1)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    table = rows(measure(args.repeat), args.repeat)
    print(target_table.render(table, first="workload"))
    return 0 if all(met is not False for *_, met in table) else 1


if __name__ == "__main__":
    sys.exit(main())
