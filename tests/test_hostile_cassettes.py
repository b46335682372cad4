"""Hostile cassettes and data sets (alias bombs, deep nesting, giant files) load, fail with a
clear error naming the file, or are refused, within 200 MB of memory and without hanging: in a
replay run, in every ``pytest-llm`` command (``show`` is git's textconv driver, ``check`` the
pre-commit hook) and as a data set.

Time is not asserted to the target here (a loaded machine makes any CPU figure luck): a
workload fails only past ``HANG_GUARD_CPU_S``, ten times the 2 s target, which no fair load
comes near and a bomb past the loader's limits passes by far (or hits the memory backstop). The
figures against the 2 s target are printed by ``benchmarks/hostile_inputs.py``, which runs
this module with ``PYTEST_LLM_HOSTILE_FIGURES`` naming a file each workload's figures are
appended to.

Each workload runs in a child process that imports everything first, then measures itself:
CPU time (user + system, not wall clock: the machine may be loaded) and peak RSS above what
it used before the workload, with RLIMIT_AS as a backstop so that a regression fails fast
instead of eating the machine's memory. A pytest session is run twice and the second one
measured: the first pays for importing and rewriting the test module, the plugins' lazy
imports and the openai client's first construction, which are no cost of the cassette.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import sys
import zlib
from pathlib import Path

import pytest
import yaml

from pytest_llm.cassette import fast_yaml

#: The target of CPU time per workload, measured by ``benchmarks/hostile_inputs.py``.
CPU_TARGET_S = 2.0
#: What the unit suite asserts: only a hang (or an exponential blow-up) passes this.
HANG_GUARD_CPU_S = 10 * CPU_TARGET_S
MEMORY_BUDGET_MB = 200
#: When set, each measured workload appends ``{"test", "cpu_s", "peak_mb"}`` to this file.
FIGURES_FILE_VARIABLE = "PYTEST_LLM_HOSTILE_FIGURES"
MB = 2**20

#: Runs ``pytest`` (in-process) or ``pytest-llm`` after importing what both need, and prints
#: what the run itself cost as the last line of stderr.
MEASURED = f"""
import contextlib, io, json, os, resource, shutil, sys
import openai, pytest, vcr, yaml
import pytest_llm.plugin, pytest_llm.cli.main

def resident_now():
    with open("/proc/self/statm") as statm:
        virtual, resident = (int(field) for field in statm.read().split()[:2])
    page = os.sysconf("SC_PAGE_SIZE")
    return virtual * page, resident * page

def cpu_now():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

virtual, resident = resident_now()
backstop = virtual + 2 * {MEMORY_BUDGET_MB} * 2**20
resource.setrlimit(resource.RLIMIT_AS, (backstop, backstop))
commands = json.loads(sys.argv[1])
results = []
for tool, *arguments in commands:
    start = cpu_now()
    if tool == "copy":  # set up the next session: not measured
        shutil.copyfile(*arguments)
        status, out, err = 0, "", ""
    elif tool == "pytest":  # one session, its output as it is; the test module imported anew
        for module in [name for name, value in sys.modules.items()
                       if (getattr(value, "__file__", None) or "").startswith(os.getcwd())]:
            del sys.modules[module]
        start = cpu_now()
        status = int(pytest.main(arguments))
        out = err = ""
    else:
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = pytest_llm.cli.main.main(arguments)
        out, err = stdout.getvalue(), stderr.getvalue()
    results.append({{"status": status, "cpu_s": cpu_now() - start, "stdout": out, "stderr": err}})
with open("/proc/self/status") as status:  # ru_maxrss would carry the forking parent's peak
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
peak -= resident
sys.stdout.flush()
sys.stderr.write("\\nCOST " + json.dumps({{"peak_mb": peak / 2**20, "runs": results}}) + "\\n")
"""


_current_test = ["?"]  # the node id of the running test (an inner session clears pytest's variable)


@pytest.fixture(autouse=True)
def _name_the_figures(request: pytest.FixtureRequest) -> None:
    _current_test[0] = request.node.nodeid


@dataclasses.dataclass
class Measured:
    """One command of a measured child: its exit status, output, CPU time, and the child's
    peak memory above its baseline (shared by the commands of one child)."""

    status: int
    stdout: str
    stderr: str
    cpu_s: float
    peak_mb: float

    def within_budget(self) -> None:
        self._write_figures()
        assert self.cpu_s <= HANG_GUARD_CPU_S, f"{self.cpu_s:.2f} s of CPU time: a hang"
        assert self.peak_mb <= MEMORY_BUDGET_MB, f"{self.peak_mb:.0f} MB above the baseline"
        output = self.stdout + self.stderr
        assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]

    def _write_figures(self) -> None:
        figures_file = os.environ.get(FIGURES_FILE_VARIABLE)
        if figures_file:
            figures = {"test": _current_test[0], "cpu_s": self.cpu_s, "peak_mb": self.peak_mb}
            with open(figures_file, "a", encoding="utf-8") as figures_out:
                figures_out.write(json.dumps(figures) + "\n")

    def lines(self, *expected: str) -> None:
        pytest.LineMatcher((self.stdout + self.stderr).splitlines()).fnmatch_lines(list(expected))


def measured_all(pytester: pytest.Pytester, *commands: list[str]) -> list[Measured]:
    result = pytester.run(sys.executable, "-c", MEASURED, json.dumps(commands), timeout=300)
    stderr = result.stderr.str()
    cost_lines = [line for line in stderr.splitlines() if line.startswith("COST ")]
    assert cost_lines, f"the measured run did not report its cost:\n{stderr[-3000:]}"
    cost = json.loads(cost_lines[-1][5:])
    session_output = result.stdout.str()
    return [
        Measured(
            run["status"],
            run["stdout"] or session_output,
            run["stderr"],
            run["cpu_s"],
            cost["peak_mb"],
        )
        for run in cost["runs"]
    ]


def measured(pytester: pytest.Pytester, *command: str) -> Measured:
    [run] = measured_all(pytester, list(command))
    return run


PYTEST = ["pytest", "-p", "no:randomly", "-p", "no:cacheprovider"]


def measured_session(pytester: pytest.Pytester, target: Path, fair: str, text: str) -> Measured:
    """A pytest session with ``text`` at ``target``, its CPU time counted above that of the
    same session with the small ``fair`` file there instead (both after a warm-up session:
    importing, assertion rewriting and the plugins' own start-up are no cost of the file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fair_copy, text_copy = pytester.path / "fair.txt", pytester.path / "hostile.txt"
    fair_copy.write_text(fair)
    text_copy.write_text(text)
    copies = [str(fair_copy), str(target)], [str(text_copy), str(target)]
    runs = measured_all(
        pytester, ["copy", *copies[0]], PYTEST, PYTEST, ["copy", *copies[1]], PYTEST
    )
    baseline, run = runs[2], runs[4]
    run.stdout = run.stdout.split("test session starts")[-1]  # this session's output
    run.cpu_s -= baseline.cpu_s
    return run


# --------------------------------------------------------------------------- hostile documents

HEAD = "format: pytest-llm\nversion: 1\ninteractions:\n"
EMPTY_CASSETTE = "format: pytest-llm\nversion: 1\ninteractions: []\n"


def as_cassette(body: str) -> str:
    """``body`` (mapping lines indented six spaces) as the JSON answer of a cassette."""
    return (
        HEAD + "- request: {method: POST, path: /v1/chat/completions}\n"
        "  call: {latency_s: 0.1}\n"  # written last by the plugin; kept first so body ends the file
        "  response:\n    status: 200\n    json:\n" + body
    )


def as_dataset(body: str) -> str:
    """``body`` as a field of the one record of a data set."""
    return "- id: only\n  data:\n    json:\n" + body


def billion_laughs() -> str:
    """The classic: nine levels of nine aliases, 9**9 strings once expanded (622 bytes)."""
    lines = ['      l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    lines += [f"      l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)]
    return "".join(lines)


def merge_key_bomb() -> str:
    """Nested aliases through merge keys: each mapping merges the previous one twice."""
    lines = ["      m0: &m0 {k0: v}\n"]
    lines += [f"      m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: v}}\n" for i in range(1, 40)]
    return "".join(lines)


def megabyte_of_aliases() -> str:
    """1 MB of aliases to one anchored list of twenty 50-character strings."""
    head = f"      a: &a [{', '.join(['x' * 50] * 20)}]\n      b: ["
    return head + ",".join(["*a"] * ((MB - len(head)) // 3)) + "]\n"


def megabyte_of_scalar_aliases() -> str:
    """1 MB of aliases to one short string: tiny each, too many together."""
    head = "      a: &a x\n      b: ["
    return head + ",".join(["*a"] * ((MB - len(head)) // 3)) + "]\n"


def recursive_alias() -> str:
    return "      a: &a [1, *a]\n"


def deep_nesting() -> str:
    return "      a: " + "[" * 201 + "]" * 201 + "\n"


def deeper_than_the_parser() -> str:
    return "      a: " + "[" * 300_000 + "]" * 300_000 + "\n"


def deep_through_aliases() -> str:
    """150 levels anchored, then aliased inside another 150: each part under the depth limit."""
    anchored = "      a: &a " + "[" * 150 + "]" * 150 + "\n"
    return anchored + "      b: " + "[" * 150 + "*a" + "]" * 150 + "\n"


_PARSER_LIMIT = (
    "malformed cassette YAML: exceeded maximum nesting depth"  # libyaml's own, at 1000
    if fast_yaml.YAML_LOADER is getattr(yaml, "CSafeLoader", None)
    else "cassette refused: nested more than 200 levels deep"
)

HOSTILE = {
    "billion laughs": (billion_laughs, "cassette refused: its aliases expand to more than"),
    "merge-key bomb": (merge_key_bomb, "cassette refused: its aliases expand to more than"),
    "1 MB of aliases": (megabyte_of_aliases, "cassette refused: its aliases expand to more than"),
    "1 MB of scalar aliases": (megabyte_of_scalar_aliases, "cassette refused: more than 10000 aliases"),
    "recursive alias": (recursive_alias, "cassette refused: the alias *a is recursive"),
    "deep nesting": (deep_nesting, "cassette refused: nested more than 200 levels deep"),
    "deeper than the parser": (deeper_than_the_parser, _PARSER_LIMIT),
    "deep through aliases": (deep_through_aliases, "cassette refused: nested more than 200 levels deep"),
}  # fmt: skip


def _expected_line(name: str, path: str) -> str:
    """The message names the file and the line (libyaml's own limit, too)."""
    return f"*{path}:*: {HOSTILE[name][1]}*"


# --------------------------------------------------------------------------- large but fair

CHAT_TEST = """
    from pytest_llm import llm_case

    @llm_case
    def test_chat(llm_client, llm_model):
        answer = llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content.startswith("hello")
"""


def _recorded(inner) -> Path:
    inner.server.script(replies=[{"text": "hello"}])
    inner.write(CHAT_TEST)
    inner.record().assert_outcomes(passed=1)
    return inner.cassette("test_chat")


def _padded(cassette_text: str, padding: str) -> str:
    """The recorded cassette with ``padding`` (flow YAML) as an extra field of the answer."""
    document = yaml.safe_load(cassette_text)
    document["interactions"][0]["response"]["json"]["padding"] = "@PADDING@"
    return yaml.safe_dump(document, sort_keys=False).replace("'@PADDING@'", padding)


LARGE = {
    "half a million numbers": lambda: "[" + ",".join(["1"] * (MB // 2 - 10)) + "]",
    "a 1 MB string": lambda: '"' + "x" * MB + '"',
    "100000 keys": lambda: "{" + ", ".join(f"k{i}: {i}" for i in range(100_000)) + "}",
}


# --------------------------------------------------------------------------- (a) replay


@pytest.mark.parametrize("name", HOSTILE)
def test_replay_of_a_hostile_cassette_fails_clearly_within_budget(inner, name):
    cassette = _recorded(inner)
    text = as_cassette(HOSTILE[name][0]())
    run = measured_session(inner.pytester, cassette, cassette.read_text(), text)
    assert run.status == 1
    assert "1 failed" in run.stdout
    run.lines(_expected_line(name, "test_chat.yaml"))
    run.within_budget()
    assert cassette.read_text() == text  # left as it was


@pytest.mark.parametrize("name", LARGE)
def test_replay_of_a_large_fair_cassette_passes_within_budget(inner, name):
    cassette = _recorded(inner)
    recorded = cassette.read_text()
    run = measured_session(inner.pytester, cassette, recorded, _padded(recorded, LARGE[name]()))
    assert run.status == 0, run.stdout[-3000:]
    assert "1 passed" in run.stdout
    run.within_budget()


# --------------------------------------------------------------------------- (b) the CLI


def _write(pytester: pytest.Pytester, name: str, text: str) -> str:
    folder = pytester.path / "cassettes"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return f"cassettes/{name}"


@pytest.mark.parametrize("name", HOSTILE)
def test_every_command_refuses_a_hostile_cassette_within_budget(pytester, name):
    text = as_cassette(HOSTILE[name][0]())
    hostile = _write(pytester, "hostile.yaml", text)
    fair = _write(pytester, "fair.yaml", EMPTY_CASSETTE)
    show, textconv, check, diff, convert = measured_all(
        pytester,
        ["pytest-llm", "show", hostile],
        ["pytest-llm", "show", "--textconv", hostile],
        ["pytest-llm", "check", hostile],
        ["pytest-llm", "diff", fair, hostile],
        ["pytest-llm", "convert", hostile],
    )
    expected = _expected_line(name, "hostile.yaml")
    assert show.status == 2
    assert show.stdout == text  # the raw text, as for any malformed cassette
    show.lines(expected)
    assert textconv.status == 0  # git aborts the whole diff when a textconv driver fails
    textconv.lines(expected)
    assert check.status == 1
    check.lines(expected, "*1 cassette checked: 1 problem*")
    assert diff.status == 2
    diff.lines(expected)
    assert convert.status == 2
    convert.lines(expected)
    for run in (show, textconv, check, diff, convert):
        run.within_budget()
    assert (pytester.path / hostile).read_text() == text  # convert left it alone


@pytest.mark.parametrize("name", LARGE)
def test_every_command_reads_a_large_fair_cassette_within_budget(pytester, name):
    document = {
        "format": "pytest-llm",
        "version": 1,
        "interactions": [
            {
                "request": {"method": "POST", "path": "/v1/chat/completions"},
                "response": {"status": 200, "json": {"padding": "@PADDING@"}},
                "call": {"latency_s": 0.1},
            }
        ],
    }
    text = yaml.safe_dump(document, sort_keys=False).replace("'@PADDING@'", LARGE[name]())
    large = _write(pytester, "large.yaml", text)
    empty = _write(pytester, "empty.yaml", EMPTY_CASSETTE)
    show, check, diff, convert = measured_all(
        pytester,
        ["pytest-llm", "show", large],
        ["pytest-llm", "check", large],
        ["pytest-llm", "diff", empty, large],
        ["pytest-llm", "convert", large],
    )
    assert (show.status, check.status, diff.status, convert.status) == (0, 0, 1, 0)
    assert "padding" in show.stdout
    check.lines("*1 cassette checked: 0 problems*")
    convert.lines("*large.yaml: already in the pytest-llm format; left untouched*")
    for run in (show, check, diff, convert):
        run.within_budget()


def _sparse_file_over_the_limit(path: Path) -> None:
    """A file one byte over the size limit; sparse: its size is there, its bytes need not be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(EMPTY_CASSETTE.encode())
        handle.truncate(fast_yaml.LIMITS.max_bytes + 1)


def test_a_file_over_the_size_limit_is_refused_without_being_read(pytester):
    _sparse_file_over_the_limit(pytester.path / "cassettes" / "huge.yaml")
    show, check, convert = measured_all(
        pytester,
        ["pytest-llm", "show", "--textconv", "cassettes/huge.yaml"],
        ["pytest-llm", "check", "cassettes"],
        ["pytest-llm", "convert", "cassettes/huge.yaml"],
    )
    expected = f"*huge.yaml: cassette refused: larger than {fast_yaml.LIMITS.max_bytes} bytes*"
    assert (show.status, check.status, convert.status) == (0, 1, 2)
    pytest.LineMatcher(show.stdout.splitlines()).fnmatch_lines([expected])  # seen in git diff
    for run in (show, check, convert):
        run.lines(expected)
        run.within_budget()
    assert show.peak_mb < 20  # never read into memory


def test_replay_refuses_a_file_over_the_size_limit(inner):
    inner.write(CHAT_TEST)
    _sparse_file_over_the_limit(inner.cassette("test_chat"))
    result = inner.replay()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_chat.yaml: cassette refused: larger than * bytes*"])


def test_a_project_sets_its_own_size_limit_for_replay_and_the_commands(inner):
    """``llm_max_cassette_size``: lower, a recorded cassette is refused by replay and by the
    commands (from the project's ini, as pytest finds it); raised back, both read it."""
    cassette = _recorded(inner)
    size = cassette.stat().st_size
    inner.pytester.makeini(f"[pytest]\nllm_max_cassette_size = {size - 1}\n")
    refused = (
        f"*test_chat.yaml: cassette refused: larger than {size - 1} bytes*llm_max_cassette_size*"
    )
    result = inner.replay()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([refused])
    check = inner.pytester.run("pytest-llm", "check", "cassettes")
    assert check.ret == 1
    check.stdout.fnmatch_lines([refused])
    inner.pytester.makeini(f"[pytest]\nllm_max_cassette_size = {size}B\n")
    inner.replay().assert_outcomes(passed=1)
    assert inner.pytester.run("pytest-llm", "check", "cassettes").ret == 0


@pytest.mark.parametrize("value", ["2GiB", "0", "lots", "-5MiB"])
def test_a_size_limit_outside_1_byte_to_1_gib_is_a_usage_error(pytester, value):
    """A limit above 1 GiB would let a hostile cassette hold that much memory: refused, by a
    pytest run and by the commands, naming the setting (and the file, for the commands)."""
    pytester.makeini(f"[pytest]\nllm_max_cassette_size = {value}\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*ini llm_max_cassette_size = *{value}*"])
    (pytester.path / "cassettes").mkdir()
    check = pytester.run("pytest-llm", "check", "cassettes")
    assert check.ret == 2
    check.stderr.fnmatch_lines([f"*tox.ini: llm_max_cassette_size = *{value}*"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("64MiB", 64 * 2**20), ("200MB", 200_000_000), ("256MiB", 2**28), ("5000", 5000),
     (" 1.5 kib ", 1536), ("0.25GiB", 2**28), ("", None)],
)  # fmt: skip
def test_size_settings_in_bytes(text, expected):
    assert fast_yaml.max_bytes_setting(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [("257MiB", "from 1 byte to 256MiB"), ("1GiB", "from 1 byte to 256MiB"),
     ("0", "from 1 byte to 256MiB"), ("1.5B", "not a whole number of bytes"),
     ("1M\u0131B", "not a size"), ("1" + "0" * 400 + "B", "not a size"),
     ("\uff16\uff14MiB", "not a size"), ("64MiB\n2GiB", "not a size"), ("inf", "not a size")],
)  # fmt: skip
def test_size_settings_refused(text, problem):
    """Dotless i, full-width and 400-digit numbers once crashed the parser (attack review)."""
    with pytest.raises(ValueError, match=problem):
        fast_yaml.max_bytes_setting(text)


def test_sessions_remove_their_own_size_limit_in_any_order():
    first, second = fast_yaml.use_max_bytes(1788), fast_yaml.use_max_bytes(5000)
    first()
    assert fast_yaml.current_limits().max_bytes == 5000
    second()
    assert fast_yaml.current_limits() is fast_yaml.LIMITS


def test_the_commands_read_the_size_limit_as_pytest_does(inner, monkeypatch):
    """A TOML number (pyproject.toml), pytest 9's pytest.toml, and the configuration of the
    cassette's own project when the command runs elsewhere (git's textconv runs at the top)."""
    cassette = _recorded(inner)
    size, root = cassette.stat().st_size, inner.pytester.path
    refused = "*cassette refused: larger than*llm_max_cassette_size*"
    for name, text in (
        ("pyproject.toml", f"[tool.pytest.ini_options]\nllm_max_cassette_size = {size - 1}\n"),
        ("pytest.toml", f'[pytest]\nllm_max_cassette_size = "{size - 1}B"\n'),
    ):
        (root / name).write_text(text)
        inner.replay().assert_outcomes(failed=1)
        check = inner.pytester.run("pytest-llm", "check", "cassettes")
        assert check.ret == 1, (name, check.stdout.str(), check.stderr.str())
        check.stdout.fnmatch_lines([refused])
        (root / name).unlink()
    (root / "pytest.ini").write_text(f"[pytest]\nllm_max_cassette_size = {size - 1}\n")
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "pytest.ini").write_text("[pytest]\n")
    monkeypatch.chdir(elsewhere)
    show = inner.pytester.run("pytest-llm", "show", "--textconv", str(cassette))
    show.stdout.fnmatch_lines([refused])


def test_textconv_renders_with_the_default_limit_when_the_setting_is_bad(inner):
    """A pull request's bad llm_max_cassette_size must not break git diff: a warning."""
    cassette = _recorded(inner)
    (inner.pytester.path / "pytest.ini").write_text("[pytest]\nllm_max_cassette_size = lots\n")
    show = inner.pytester.run("pytest-llm", "show", "--textconv", str(cassette))
    assert show.ret == 0
    show.stderr.fnmatch_lines(["*llm_max_cassette_size = 'lots'*the default limit applies*"])
    assert "hello" in show.stdout.str()
    assert inner.pytester.run("pytest-llm", "show", str(cassette)).ret == 2


def test_a_configuration_error_of_a_command_is_scrubbed(pytester, monkeypatch):
    """A stray configuration line holding a key is quoted by the parser's error: scrubbed."""
    key = "sk-proj-" + "StrayKeyInTheIniFile0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    pytester.makeini(f"[pytest]\nllm_max_cassette_size = 1MiB\n{key}\n")
    (pytester.path / "cassettes").mkdir()
    check = pytester.run("pytest-llm", "check", "cassettes")
    assert check.ret == 2
    assert key not in check.stderr.str() + check.stdout.str()
    check.stderr.fnmatch_lines(["*tox.ini*REDACTED*"])


def test_a_size_limit_applies_until_it_is_undone():
    restore = fast_yaml.use_max_bytes(10)
    try:
        assert fast_yaml.current_limits().max_bytes == 10
        with pytest.raises(fast_yaml.RefusedDocument, match="larger than 10 bytes"):
            fast_yaml.load("a: 12345678901\n")
    finally:
        restore()
    assert fast_yaml.current_limits() is fast_yaml.LIMITS
    assert fast_yaml.load("a: 12345678901\n") == {"a": 12345678901}


# --------------------------------------------------------------------------- (c) data sets

DATASET_TEST = """
    from pytest_llm import cases

    @cases("evals/set.{suffix}")
    def test_record(case):
        assert case["id"] == "only"
"""


FAIR_DATASET = "- id: only\n"


def _dataset(pytester: pytest.Pytester, text: str, suffix: str = "yaml") -> Path:
    (pytester.path / "evals").mkdir()
    path = pytester.path / "evals" / f"set.{suffix}"
    path.write_text(text)
    pytester.makepyfile(test_set=DATASET_TEST.format(suffix=suffix))
    return path


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_data_set_is_refused_within_budget(pytester, name):
    text = as_dataset(HOSTILE[name][0]())
    run = measured_session(pytester, _dataset(pytester, FAIR_DATASET), FAIR_DATASET, text)
    assert run.status == 2  # a collection error
    problem = HOSTILE[name][1].replace("cassette refused", "data set refused")
    problem = problem.replace("malformed cassette YAML", "not valid YAML")
    run.lines(f"*set.yaml:*: {problem}*", "*1 error*")
    run.within_budget()


def test_a_large_fair_data_set_loads_within_budget(pytester):
    text = f"- id: only\n  numbers: {LARGE['half a million numbers']()}\n"
    run = measured_session(pytester, _dataset(pytester, FAIR_DATASET), FAIR_DATASET, text)
    assert run.status == 0, run.stdout[-3000:]
    assert "1 passed" in run.stdout
    run.within_budget()


def test_a_json_data_set_nested_too_deeply_is_a_clear_error(pytester):
    _dataset(pytester, "[" * 100_000 + "]" * 100_000, suffix="json")
    result = pytester.runpytest("-p", "no:randomly")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*set.json: nested too deeply to load*"])


# --------------------------------------------------------------------------- the loader itself


def _merge_chain(length: int) -> str:
    links = "".join(f"m{i}: &m{i} {{<<: *m{i - 1}, k{i}: v}}\n" for i in range(1, length))
    return "m0: &m0 {k0: v}\n" + links


def test_a_chain_of_merge_keys_loads_as_pyyaml_does_up_to_the_depth_limit():
    text = _merge_chain(150)
    assert fast_yaml.load(text) == yaml.load(text, Loader=fast_yaml.YAML_LOADER)
    with pytest.raises(fast_yaml.RefusedDocument, match="nested more than 200 levels deep"):
        fast_yaml.load(_merge_chain(500))  # PyYAML's constructor would recurse through it


def test_limits_are_counted_with_aliases_expanded():
    anchored = "a: &a [" + ", ".join(["x" * 98] * 100) + "]\n"  # size 1 + 100 * 99 = 9901
    under = anchored + "b: [" + ", ".join(["*a"] * 100) + "]\n"
    assert len(fast_yaml.load(under)["b"]) == 100
    limits = fast_yaml.LoadLimits(max_alias_expansion=9901 * 100 - 1)
    with pytest.raises(fast_yaml.RefusedDocument, match="expand to more than 990099"):
        fast_yaml.load(under, limits)
    with pytest.raises(fast_yaml.RefusedDocument, match="more than 99 aliases"):
        fast_yaml.load(under, fast_yaml.LoadLimits(max_aliases=99))


# --------------------------------------------------------------------------- compression bombs


def _gzip_of_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MB)
    return b"".join([*(compressor.compress(block) for _ in range(size // MB)), compressor.flush()])


def gzip_bomb() -> str:
    """A vcrpy cassette of a few KB whose answer is twice gzipped: 128 MiB of zeros, twice
    the loader's byte limit (the attacker's had 1 GiB)."""
    body = gzip.compress(_gzip_of_zeros(2 * fast_yaml.LIMITS.max_bytes))
    document = {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "body": '{"model":"gpt-4o-mini","messages":[]}',
                    "headers": {"content-type": ["application/json"]},
                    "method": "POST",
                    "uri": "https://api.openai.com/v1/chat/completions",
                },
                "response": {
                    "body": {"string": body},
                    "headers": {
                        "content-encoding": ["gzip, gzip"],
                        "content-type": ["application/json"],
                    },
                    "status": {"code": 200, "message": "OK"},
                },
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


BOMB_LINE = (
    f"*{{path}}: interaction #1: its gzip body decompresses to more than "
    f"{fast_yaml.LIMITS.max_bytes} bytes, the limit for a cassette body*"
)


def test_a_gzip_bomb_is_small():
    assert len(gzip_bomb()) < 20_000


def test_replay_of_a_gzip_bomb_fails_clearly_within_budget(inner):
    cassette = _recorded(inner)
    text = gzip_bomb()
    run = measured_session(inner.pytester, cassette, cassette.read_text(), text)
    assert run.status == 1
    assert "1 failed" in run.stdout
    run.lines(BOMB_LINE.format(path="*test_chat.yaml"))
    run.within_budget()
    assert cassette.read_text() == text


def test_every_command_refuses_a_gzip_bomb_within_budget(pytester):
    text = gzip_bomb()
    bomb = _write(pytester, "bomb.yaml", text)
    fair = _write(pytester, "fair.yaml", EMPTY_CASSETTE)
    show, textconv, check, diff, convert = measured_all(
        pytester,
        ["pytest-llm", "show", bomb],
        ["pytest-llm", "show", "--textconv", bomb],
        ["pytest-llm", "check", bomb],
        ["pytest-llm", "diff", fair, bomb],
        ["pytest-llm", "convert", bomb],
    )
    expected = BOMB_LINE.format(path="*bomb.yaml")
    assert (show.status, textconv.status, check.status, diff.status, convert.status) == (
        2,
        0,
        1,
        2,
        2,
    )
    for run in (show, textconv, check, diff, convert):
        run.lines(expected)
        run.within_budget()
    assert (pytester.path / bomb).read_text() == text


def test_a_small_gzip_body_in_several_members_is_decoded():
    from pytest_llm.cassette.file_format import decode_content

    body = gzip.compress(gzip.compress(b"hello ") + gzip.compress(b"world"))
    headers = {"content-encoding": ["gzip", "gzip"], "content-length": ["9"]}
    assert decode_content(body, headers) == b"hello world"
    assert headers == {}
    assert decode_content(zlib.compress(b"plain"), {"content-encoding": ["deflate"]}) == b"plain"
    assert decode_content(b"stored decoded", {"content-encoding": ["gzip"]}) == b"stored decoded"


# --------------------------------------------------------------------------- deep JSON in an event

STREAM_TEST = """
    from pytest_llm import llm_case

    @llm_case
    def test_chat(llm_client, llm_model):
        stream = llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stream) == "hello"
"""


def _with_a_deep_event(cassette_text: str) -> str:
    """The recorded stream with an event of 100,000 nested arrays before its first event."""
    document = yaml.safe_load(cassette_text)
    response = document["interactions"][0]["response"]
    response["sse"] = "data: " + "[" * 100_000 + "\n\n" + response["sse"]
    return yaml.safe_dump(document, sort_keys=False, width=10**7)


def test_replay_of_a_deeply_nested_event_fails_in_the_sdk_not_in_the_plugin(inner):
    inner.server.script(replies=[{"text": "hello"}])
    inner.write(STREAM_TEST)
    inner.record().assert_outcomes(passed=1)
    cassette = inner.cassette("test_chat")
    cassette.write_text(_with_a_deep_event(cassette.read_text()))
    result = inner.replay()
    result.assert_outcomes(failed=1)  # the openai SDK cannot parse the event either
    output = result.stdout.str()
    assert "INTERNALERROR" not in output
    assert "pytest_llm" not in output.split("RecursionError")[0].split("test_chat")[-1]


def test_every_command_reads_a_deeply_nested_event_as_text(pytester):
    text = _with_a_deep_event(
        "format: pytest-llm\nversion: 1\ninteractions:\n"
        "- request: {method: POST, path: /v1/chat/completions, json: {model: m, stream: true}}\n"
        "  call: {latency_s: 0.1}\n"
        "  response:\n    status: 200\n    headers: {content-type: text/event-stream}\n"
        '    sse: "data: {\\"choices\\":[{\\"index\\":0,\\"delta\\":{\\"content\\":\\"hi\\"}}]}'
        '\\n\\ndata: [DONE]\\n\\n"\n'
    )
    deep = _write(pytester, "deep.yaml", text)
    fair = _write(pytester, "fair.yaml", EMPTY_CASSETTE)
    show, textconv, check, diff, convert = measured_all(
        pytester,
        ["pytest-llm", "show", deep],
        ["pytest-llm", "show", "--textconv", deep],
        ["pytest-llm", "check", deep],
        ["pytest-llm", "diff", fair, deep],
        ["pytest-llm", "convert", deep],
    )
    assert (show.status, textconv.status, check.status, diff.status, convert.status) == (
        0,
        0,
        0,
        1,
        0,
    ), [run.stderr[-2000:] for run in (show, textconv, check, diff, convert)]
    show.lines("*answer (streamed):*", "*hi*")
    for run in (show, textconv, check, diff, convert):
        run.within_budget()


def test_convert_of_a_vcrpy_cassette_with_a_deeply_nested_event(pytester):
    stream = "data: " + "[" * 100_000 + "\n\ndata: [DONE]\n\n"
    document = {
        "version": 1,
        "interactions": [
            {
                "request": {"body": "{}", "method": "POST", "uri": "https://x/v1/chat/completions"},
                "response": {
                    "body": {"string": stream},
                    "headers": {"content-type": ["text/event-stream"]},
                    "status": {"code": 200, "message": "OK"},
                },
            }
        ],
    }
    vcr = _write(pytester, "vcr.yaml", yaml.safe_dump(document, width=10**7))
    [convert] = measured_all(pytester, ["pytest-llm", "convert", vcr])
    assert convert.status == 0, convert.stderr[-2000:]
    convert.lines("*converted*vcr.yaml (1 interaction)*")
    convert.within_budget()
    assert "[" * 100_000 in (pytester.path / vcr).read_text()
