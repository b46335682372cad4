"""Simulate re-records of sampled cases against a scripted model and measure how often the
"regressed" verdict fires.

    python benchmarks/sample_significance.py [--cases 100] [--seed 1]

A temporary suite holds, per group, ``--cases`` LLM cases with ``samples=10`` and
``min_pass_rate=0.7``. The local OpenAI-compatible server answers each case's ten calls with a
sequence drawn from Bernoulli(p) ("good" with probability p): p_before while recording, p_after
while re-recording. Groups: dropped (0.9 -> 0.3) and unchanged at 0.5, 0.7 and 0.9. The
script runs ``pytest --llm-record`` then ``pytest --llm-rerecord --llm-report report.json`` and
prints, per group, the share of cases reported "regressed", next to the exact expectation.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from pytest_llm.report.comparison import regression_probability
from pytest_llm.testing import LocalOpenAIServer

SAMPLES = 10
GATE = 0.7
GROUPS = {"dropped": (0.9, 0.3), "same50": (0.5, 0.5), "same70": (0.7, 0.7), "same90": (0.9, 0.9)}

SUITE = f"""
import pytest
from pytest_llm import llm_case

CASES = [line.strip() for line in open("cases.txt")]

@llm_case(samples={SAMPLES}, min_pass_rate={GATE})
@pytest.mark.parametrize("name", CASES)
def test_case(name, llm_client, llm_model):
    text = llm_client.chat.completions.create(
        model=llm_model, messages=[{{"role": "user", "content": name + " ?"}}]).choices[0].message.content
    assert text == "good"
"""


def expected_rate(p_before: float, p_after: float) -> float:
    return regression_probability(p_before, p_after, samples=SAMPLES, min_pass_rate=GATE)


def script(names: list[str], side: int, rng: random.Random) -> list[dict[str, object]]:
    replies = []
    for name in names:
        p = GROUPS[name.split("-")[0]][side]
        answers = ["good" if rng.random() < p else "bad" for _ in range(SAMPLES)]
        replies.append({"match": name + " ?", "text": answers})
    return replies


def run(folder: Path, *args: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            *args,
        ],
        cwd=folder,
        check=False,
        capture_output=True,
        text=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100, help="cases per group")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    names = [f"{group}-{n}" for group in GROUPS for n in range(options.cases)]
    with tempfile.TemporaryDirectory() as temporary, LocalOpenAIServer() as server:
        folder = Path(temporary)
        (folder / "cases.txt").write_text("\n".join(names) + "\n")
        (folder / "test_sim.py").write_text(textwrap.dedent(SUITE))
        server.script(replies=script(names, 0, rng))
        run(folder, "--llm-record", f"--llm-base-url={server.base_url}")
        server.script(replies=script(names, 1, rng))
        run(
            folder,
            "--llm-rerecord",
            f"--llm-base-url={server.base_url}",
            "--llm-report=report.json",
        )
        report = json.loads((folder / "report.json").read_text())
    changes: dict[str, list[str]] = {group: [] for group in GROUPS}
    for case in report["cases"]:
        group = case["id"].split("[", 1)[1].split("-", 1)[0]
        changes[group].append(case["change"])
    print(
        f"{SAMPLES} samples per side, min_pass_rate {GATE}, one-sided mid-p Fisher at 0.05, "
        f"{options.cases} cases per group, seed {options.seed}"
    )
    print(f"{'group':9} {'p before -> after':18} {'regressed':>10} {'measured':>9} {'expected':>9}")
    for group, (before, after) in GROUPS.items():
        flagged = changes[group].count("regressed")
        print(
            f"{group:9} {before:.1f} -> {after:.1f}{'':8} {flagged:>6}/{len(changes[group]):<3} "
            f"{flagged / max(1, len(changes[group])):9.1%} {expected_rate(before, after):9.1%}"
        )


if __name__ == "__main__":
    main()
