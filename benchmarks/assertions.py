"""Time per call of the offline assertion helpers (no network, no cassette).

    python benchmarks/assertions.py [--repeat N]

Measures: similarity(method="fuzzy") on two ~1 KB texts, assert_schema on a 50-field object
(given as JSON text inside prose, so extraction is included), assert_no_pii on ~10 KB of text
without personal data (the common, passing case). Prints the median and best of N runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections.abc import Callable

from pytest_llm import assert_no_pii, assert_schema, similarity

WORDS = [
    "order",
    "parcel",
    "refund",
    "receipt",
    "customer",
    "shipping",
    "delivery",
    "return",
    "policy",
    "days",
    "store",
    "item",
    "broken",
    "damaged",
    "package",
    "courier",
    "address",
    "invoice",
    "payment",
    "account",
    "support",
    "answer",
    "question",
]


def _text(size: int, seed: int) -> str:
    rng = random.Random(seed)
    words: list[str] = []
    while sum(len(word) + 1 for word in words) < size:
        words.append(rng.choice(WORDS))
    return " ".join(words)


def _schema_case() -> tuple[str, dict[str, object]]:
    fields = {
        f"field_{n}": ({"type": "integer"} if n % 2 else {"type": "string"}) for n in range(50)
    }
    schema = {"type": "object", "required": list(fields), "properties": fields}
    value = {name: (n if n % 2 else f"value {n}") for n, name in enumerate(fields)}
    return f"Here is the record you asked for: {json.dumps(value)} Let me know.", schema


def _time(function: Callable[[], object], repeat: int) -> tuple[float, float]:
    function()  # warm up (imports, compiled patterns, validator classes)
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000, min(timings) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    repeat = parser.parse_args().repeat
    first, second = _text(1024, 1), _text(1024, 2)
    output, schema = _schema_case()
    prose = _text(10 * 1024, 3) + " Call us any day, order 12345678 costs $1,234.56 on 2024-01-15."
    cases: list[tuple[str, Callable[[], object]]] = [
        ("similarity fuzzy, 2 x 1 KB", lambda: similarity(first, second, method="fuzzy")),
        ("assert_schema, 50 fields in prose", lambda: assert_schema(output, schema)),
        ("assert_no_pii, 10 KB clean text", lambda: assert_no_pii(prose)),
    ]
    print(f"python {platform.python_version()} on {platform.machine()}, {repeat} runs each")
    print(f"{'helper':38} {'median ms':>10} {'best ms':>9}")
    for name, function in cases:
        median, best = _time(function, repeat)
        print(f"{name:38} {median:10.3f} {best:9.3f}")


if __name__ == "__main__":
    main()
