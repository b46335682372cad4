"""Large data sets and large cassettes, against the #14 scale targets.

    python benchmarks/large_inputs.py [--records 100000] [--interactions 1000,10000,150000]

1. A YAML data set of ``--records`` records (``@pytest_llm.cases``, each record one LLM case
   whose body makes no call) against the same records as a plain ``@pytest.mark.parametrize``
   (read from JSON at collection, ids from the records): wall time of one pytest run each, in
   the same process environment. Target: the data set within 1.2x parametrize.
2. A cassette of N interactions (one case that made N chat calls, each a different question):
   the time and peak memory of loading it and building the replay index (what replay does
   before the first call), in a fresh child process per N, and the cost per interaction across
   the sizes. Target: 150 000 interactions within 10 s and 1 GB, per-interaction cost flat
   (the largest size within 1.5x the smallest's per-interaction cost).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

import target_table
import yaml
from replay_overhead import BenchmarkError, Runner, check_all_passed

from pytest_llm.cassette import file_format
from pytest_llm.cassette.interaction import Interaction, Timing

DATASET_SUITE = """
import pytest_llm

@pytest_llm.cases("records.yaml")
@pytest_llm.llm_case
def test_record(case):
    assert case["expect"] in case["question"]
"""
PARAMETRIZE_SUITE = """
import json
import pathlib
import pytest

RECORDS = json.loads((pathlib.Path(__file__).parent / "records.json").read_text())

@pytest.mark.parametrize("case", RECORDS, ids=[record["id"] for record in RECORDS])
def test_record(case):
    assert case["expect"] in case["question"]
"""

_RUNNER = Runner(pycache_prefix=None)


def records(count: int) -> list[dict[str, str]]:
    return [
        {
            "id": f"r{n}",
            "question": f"Is parcel {n} late? It left on day {n % 28}.",
            "expect": "late",
        }
        for n in range(count)
    ]


def dataset_against_parametrize(count: int, repeat: int) -> tuple[float, float]:
    """Wall seconds of the data-set suite and of the parametrize suite (best of ``repeat``)."""
    data = records(count)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        (folder / "records.yaml").write_text(yaml.safe_dump(data, sort_keys=False, width=2**20))
        (folder / "records.json").write_text(json.dumps(data))
        timings = {}
        for name, suite, plugin in (
            ("dataset", DATASET_SUITE, ()),
            ("parametrize", PARAMETRIZE_SUITE, ("-p", "no:llm")),
        ):
            module = folder / "test_records.py"
            module.write_text(textwrap.dedent(suite))
            best = float("inf")
            for _ in range(repeat):
                elapsed, output = _RUNNER.pytest(folder, ("-p", "no:recording", *plugin))
                check_all_passed(name, output, count)
                best = min(best, elapsed)
            timings[name] = best
            module.unlink()
        return timings["dataset"], timings["parametrize"]


def big_cassette(count: int) -> str:
    interactions = [
        Interaction(
            method="POST",
            path="/v1/chat/completions",
            request_body=json.dumps(
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {n}"}]}
            ).encode(),
            status=200,
            response_headers={"content-type": ["application/json"]},
            response_body=json.dumps(
                {
                    "id": f"chatcmpl-{n}",
                    "object": "chat.completion",
                    "model": "gpt-4o-mini",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": f"Answer {n}."},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
                }
            ).encode(),
            timing=Timing(latency_s=0.2),
        )
        for n in range(count)
    ]
    return file_format.render_cassette(interactions)


#: Loads the cassette and builds the replay index as a replayed case does; prints seconds of
#: wall time and the peak RSS above the baseline (MiB).
_LOAD = """
import json, sys, time
from pathlib import Path
from pytest_llm.cassette import fast_yaml, file_format
from pytest_llm.cassette.scrubbing import Scrubber
from pytest_llm.replay.recorder import CassetteRecorder, MissContext

# as a project with `llm_max_cassette_size = 256MiB` (the default 64 MiB holds about 95 000)
fast_yaml.use_max_bytes(fast_yaml.max_bytes_setting("256MiB"))

def rss_kib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))

base = rss_kib("VmRSS:")
path = Path(sys.argv[1])
start = time.perf_counter()
contents = file_format.read_cassette_file(path)
recorder = CassetteRecorder(path, contents.interactions, recording=False, scrubber=Scrubber(),
                            on_call=lambda interaction: None,
                            miss_context=MissContext("n", str(path), "pytest --llm-record", True))
elapsed = time.perf_counter() - start
assert len(recorder.recorded) == int(sys.argv[2])
print(json.dumps({"s": elapsed, "peak_mib": (rss_kib("VmHWM:") - base) / 1024}))
"""


def load_figures(count: int) -> tuple[float, float] | str:
    """(seconds, peak MiB), or why the cassette was refused."""
    with tempfile.TemporaryDirectory() as temporary:
        path = Path(temporary) / "big.yaml"
        path.write_text(big_cassette(count))
        done = subprocess.run(
            [sys.executable, "-c", _LOAD, str(path), str(count)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if "cassette refused" in done.stderr:
            return done.stderr.strip().splitlines()[-1].split("cassette refused: ", 1)[1]
        if done.returncode != 0:
            raise BenchmarkError(f"loading {count} interactions failed:\n{done.stderr[-2000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        return float(figures["s"]), float(figures["peak_mib"])


def rows(record_count: int, sizes: Sequence[int], repeat: int = 2) -> list[target_table.Row]:
    dataset_s, parametrize_s = dataset_against_parametrize(record_count, repeat)
    ratio = dataset_s / parametrize_s
    table: list[target_table.Row] = [
        (
            f"data set of {record_count} records: {dataset_s:.1f} s, parametrize {parametrize_s:.1f} s",
            f"{ratio:.2f}x",
            "<= 1.20x",
            ratio <= 1.2,
        )
    ]
    per_interaction: dict[int, float] = {}
    for size in sizes:
        figures = load_figures(size)
        if isinstance(figures, str):
            table.append(
                (f"a cassette of {size} interactions: refused ({figures})", "-", "", False)
            )
            continue
        seconds, peak = figures
        per_interaction[size] = seconds / size * 1e6
        table.append(
            (
                f"load + index a cassette of {size} interactions: s / peak MiB",
                f"{seconds:.2f} / {peak:.0f}",
                "<= 10 / 1024" if size >= 150_000 else "reported",
                (seconds <= 10 and peak <= 1024) if size >= 150_000 else None,
            )
        )
    smallest, largest = min(per_interaction), max(per_interaction)
    flat = per_interaction[largest] / per_interaction[smallest]
    table.append(
        (
            f"us per interaction, {smallest} -> {largest}: "
            f"{per_interaction[smallest]:.0f} -> {per_interaction[largest]:.0f}",
            f"{flat:.2f}x",
            "<= 1.50x",
            flat <= 1.5,
        )
    )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--interactions", default="1000,10000,90000,150000")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each suite (best of)")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.interactions.split(",")]
    try:
        print(target_table.render(rows(args.records, sizes, args.repeat)))
    except BenchmarkError as error:
        print(f"benchmark aborted: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
