"""The line reader of the YAML the plugin writes (``plain_lines``) against PyYAML itself: on
every document it reads, its value is PyYAML's; on any other it gives up (``NOT_PLAIN``) and
the full loader decides. Checked on the plugin's own cassettes, on random documents written as
the plugin writes them, and on hostile mutations of both, where PyYAML's verdict (a value or
an error) must be matched or the text given up."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llm.cassette import fast_yaml, file_format, plain_lines

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_CASSETTES = sorted((ROOT / "examples").rglob("cassettes/**/*.yaml"))
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def pyyaml(text: str) -> tuple[bool, Any]:
    """PyYAML's verdict: (loaded, value)."""
    try:
        return True, yaml.load(text, Loader=LOADER)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return False, None


def same(left: Any, right: Any) -> bool:
    """Equal, with types (``1 == 1.0 == True`` is not enough) and NaN equal to itself."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


def assert_agrees(text: str) -> bool:
    """The line reader gives PyYAML's value or gives up; returns whether it read the text."""
    value = plain_lines.load(text)
    if value is plain_lines.NOT_PLAIN:
        return False
    loaded, expected = pyyaml(text)
    assert loaded, f"read a text PyYAML refuses:\n{text}"
    assert same(value, expected), f"{value!r} != {expected!r} for:\n{text}"
    return True


def written(document: Any) -> str:
    """``document`` written as the plugin writes a cassette."""
    return file_format.HEADER_COMMENT + yaml.dump(
        document,
        Dumper=file_format._CassetteDumper,
        sort_keys=False,
        allow_unicode=True,
        width=2**31 - 1,
        default_flow_style=False,
    )


# --------------------------------------------------------------------------- the plugin's files


@pytest.mark.parametrize("path", PLUGIN_CASSETTES, ids=lambda path: path.name)
def test_every_cassette_the_plugin_wrote_is_read_by_the_line_reader(path: Path) -> None:
    """The fast path is taken on the plugin's own cassettes (streams, tools, embeddings):
    replay would only be slower otherwise, and this says so."""
    assert assert_agrees(path.read_text(encoding="utf-8")), f"{path} fell back"


def test_there_are_plugin_cassettes_to_check() -> None:
    assert len(PLUGIN_CASSETTES) >= 9


def test_the_loader_uses_the_line_reader_and_falls_back_for_the_rest() -> None:
    plain = "format: pytest-llm\nversion: 1\ninteractions: []\n"
    assert fast_yaml.load(plain) == {"format": "pytest-llm", "version": 1, "interactions": []}
    anchored = "a: &x [1, 2]\nb: *x\n"  # outside the subset: the event builder reads it
    assert plain_lines.load(anchored) is plain_lines.NOT_PLAIN
    assert fast_yaml.load(anchored) == {"a": [1, 2], "b": [1, 2]}


# --------------------------------------------------------------------------- chosen cases

READ = [
    "a: 1\nb: -2\nc: 0.5\nd: -1.0e-05\ne: true\nf: 'yes'\ng: yes\nh: ~\ni: null\nj:\n",
    "on: 1\n200: ok\nnull: x\n'quoted': 1\n'42': ''\n'': x\n'it''s: x': ''\n",
    "s: '2020-10-01'\nt: it''s\nu: ''\nv: {}\nw: []\nx: [1, 2.5, -3]\n",
    "k:\n- a\n- b: 1\n  c:\n  - 2\n- d:\n- e\nl: 2\n",
    "text: |\n  one\n\n  two\nnext: 1\n",
    "text: |-\n  one\n  two\nnext: 1\n",
    "sse: |+\n  data: [DONE]\n\n",
    "sse: |+\n  data: x\n\n\nnext: 1\n",
    "- |\n  in a list\n- plain: http://example.com/a:b\n",
    "deep:\n  deeper:\n    deepest: value with 'quotes' and \"doubles\" and \\ backslash\n",
    "# a comment\n# another\nkey: value\n",
    "unicode: caf\u00e9 \U0001f600\nkey-with-dashes: -word\n",
]
REFUSED = [  # outside the subset: left to the full loader, whatever it makes of them
    "a: 1 # comment\n",
    'a: "double"\n',
    "a: >\n  folded\n",
    "a: |2\n   indented\n",
    "a: &anchor 1\nb: *anchor\n",
    "a: !!str 1\n",
    "a:\tb\n",
    "a: 1",  # no final line break
    "---\na: 1\n",
    "a: 2001-12-14\n",
    "a: 017\n",
    "a: .inf\n",
    "a: [x, y]\n",
    "a: {b: 1}\n",
    "a:\n  continued\n  plain\n",
    "a: 1\r\nb: 2\r\n",
    "a: x\x85y\n",
    "? complex\n: key\n",
    "a: |\n\n  first line after a blank\n",
    "a: |\n  x\n   \n  y\n",  # a line of spaces in a block
    "- - nested\n",
    "<<: {a: 1}\n",
    "a: " + "1" * 4301 + "\n",  # past int()'s digit limit: PyYAML raises (attack review)
    "- " + "1" * 4301 + "\n",
    "a: [" + "1" * 4301 + "]\n",
    "a: b\x01\n",  # ASCII controls: refused by libyaml (the ASCII fast path checks them)
    "a: b\x7f\n",
    "a: b\x0bc\n",
    "a: b\x1f\n",
]


@pytest.mark.parametrize("text", READ)
def test_documents_of_the_subset_are_read_as_pyyaml_reads_them(text: str) -> None:
    assert assert_agrees(text), f"fell back on:\n{text}"


@pytest.mark.parametrize("text", REFUSED)
def test_documents_outside_the_subset_are_left_to_the_full_loader(text: str) -> None:
    assert plain_lines.load(text) is plain_lines.NOT_PLAIN


@pytest.mark.parametrize("length", [1000, 1001, 1024, 1025, 1100])
def test_long_keys_are_read_as_pyyaml_reads_them_or_given_up(length: int) -> None:
    for key in ("k" * length, "'" + "k" * (length - 2) + "'"):
        assert_agrees(f"{key}: 1\n- x\n"[:-4] + "\n")
        assert_agrees(f"- {key}: 1\n")


def test_nesting_past_the_limit_is_left_to_the_full_loader() -> None:
    text = "".join("  " * depth + f"k{depth}:\n" for depth in range(80)) + "  " * 80 + "x: 1\n"
    assert plain_lines.load(text) is plain_lines.NOT_PLAIN
    assert plain_lines.load(text, max_depth=100) is not plain_lines.NOT_PLAIN


# --------------------------------------------------------------------------- random documents

_KEY_TEXT = st.text(
    st.sampled_from(list("abcXYZ019 -_:#'\"?&*!|>%@`[]{},.~\\\u00e9\u4e2d")), min_size=1, max_size=8
)
_KEYS = st.one_of(
    _KEY_TEXT,
    st.sampled_from(["on", "off", "yes", "null", "~", "200", "-1", "1.5", "<<", "=", "true"]),
)
_TEXT = st.one_of(
    st.text(
        st.sampled_from(list("ab Z09:-#'\"\n|>[]{}&*!%@`,.~\\\u00e9\u2028\U0001f600\x85\t")),
        max_size=30,
    ),
    st.sampled_from(
        ["yes", "No", "null", "~", "2020-10-01", "0o17", "0x1F", "1_000", ".inf", "1e5", "12:30"]
    ),
    st.sampled_from(["data: {}\n\n", "line\n\n\n", "\n", " lead", "trail ", "a\n b\n"]),
)
_SCALARS = st.one_of(
    _TEXT,
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
_DOCUMENTS = st.recursive(
    _SCALARS | st.lists(st.one_of(st.integers(), st.floats(allow_nan=False)), max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(_KEYS, _DOCUMENTS, min_size=1, max_size=5))
def test_random_documents_written_as_the_plugin_writes_them(document: dict[Any, Any]) -> None:
    assert_agrees(written(document))


def test_the_line_reader_reads_most_random_documents() -> None:
    """Not a vacuous check: of documents the plugin could write, most take the fast path."""
    rng = random.Random(7)
    keys = ["role", "user", "content", "a b c", "x: y", "", "yes", "42", "-3.5"]
    words = [*keys, "multi\nline\n", "data: {}\n\n"]
    read = 0
    for _ in range(300):
        document = {
            rng.choice(words[:4]): [
                {rng.choice(keys): rng.choice(words) for _ in range(3)} for _ in range(2)
            ],
            "n": [rng.random() for _ in range(3)],
        }
        read += assert_agrees(written(document))
    assert read >= 250


# --------------------------------------------------------------------------- hostile mutations

_HOSTILE = [*": -#'\"|>+\n \t[]{}&*!%@`?~.\\\r\x85\ufeff\x00", "  ", "- ", ": ", "---"]


def _mutated(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 3)):
        kind = rng.random()
        if kind < 0.5:
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice(_HOSTILE) + text[at:]
        elif kind < 0.8 and text:
            at = rng.randrange(len(text))
            text = text[:at] + text[at + rng.randint(1, 3) :]
        else:
            lines = text.split("\n")
            at = rng.randrange(len(lines))
            if rng.random() < 0.5:
                lines.insert(at, lines[rng.randrange(len(lines))])
            else:
                lines[at] = " " * rng.randint(0, 6) + lines[at].lstrip(" ")
            text = "\n".join(lines)
    return text


SEEDS = [path.read_text(encoding="utf-8") for path in PLUGIN_CASSETTES[:6]] + [
    text for text in READ
]


def test_hostile_mutations_are_read_as_pyyaml_reads_them_or_given_up() -> None:
    rng = random.Random(2026)
    read = 0
    for round_ in range(4000):
        text = _mutated(SEEDS[round_ % len(SEEDS)], rng)
        read += assert_agrees(text)
    assert read >= 500  # many mutations stay inside the subset: the check is not vacuous
