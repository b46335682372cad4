"""Cassettes no collected case uses are listed after a full run and pruned on request."""

from __future__ import annotations

import os
from pathlib import Path
from textwrap import dedent

import pytest

from pytest_llm.case import unused_cassettes

SUITE = """
    from pytest_llm import llm_case

    @llm_case
    def test_kept(llm_client, llm_model):
        llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": "x"}])
"""


@pytest.fixture
def orphaned(inner):
    inner.write(SUITE + SUITE.replace("test_kept", "test_renamed_later"))
    inner.record().assert_outcomes(passed=2)
    inner.write(SUITE)  # test_renamed_later is gone; its cassette stays behind
    return inner.cassette("test_renamed_later")


@pytest.mark.parametrize("workers", [None, "0", "2"], ids=["no-n", "n0", "n2"])
def test_unused_cassettes_are_listed_after_a_full_run(inner, orphaned, workers):
    result = inner.replay(*(["-n", workers] if workers else []))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= LLM unused cassettes =*",
            "1 cassette(s) used by no collected case (delete them with pytest --llm-prune):",
            "  cassettes/test_app/test_renamed_later.yaml",
        ]
    )
    assert orphaned.exists()


def test_filtered_runs_list_nothing(inner, orphaned):
    result = inner.replay("-k", "kept")
    result.assert_outcomes(passed=1)
    assert "unused cassettes" not in result.stdout.str()


@pytest.mark.parametrize("workers", [None, "2"], ids=["no-n", "n2"])
def test_prune_deletes_them(inner, orphaned, workers):
    result = inner.replay("--llm-prune", *(["-n", workers] if workers else []))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "1 cassette(s) used by no collected case, deleted:",
            "  cassettes/test_app/test_renamed_later.yaml",
        ]
    )
    assert not orphaned.exists()
    assert inner.cassette("test_kept").exists()
    inner.replay().assert_outcomes(passed=1)


@pytest.mark.parametrize("selection", [["-k", "kept"], ["test_app.py::test_kept"], ["test_app.py"]])
def test_prune_refuses_a_filtered_run(inner, orphaned, selection):
    result = inner.replay("--llm-prune", *selection)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-prune needs a run of the whole suite, but *"])
    assert orphaned.exists()


def test_prune_keeps_the_target_of_a_symlinked_cassette(inner):
    """A case's cassette may be a symlink to a shared file: that file is in use, not unused."""
    inner.write(SUITE)
    inner.record().assert_outcomes(passed=1)
    used = inner.cassette("test_kept")
    shared = used.parent.parent / "shared" / "common.yaml"
    shared.parent.mkdir()
    used.rename(shared)
    used.symlink_to(shared)
    result = inner.replay("--llm-prune")
    result.assert_outcomes(passed=1)
    assert "unused cassettes" not in result.stdout.str()
    assert shared.exists() and used.exists()
    inner.replay().assert_outcomes(passed=1)


# ------------------------------------------------------------------ what prune may touch
#
# Each test below lays out cassette folders, runs `--llm-prune` and compares the whole tree
# afterwards (files, folders, symlinks with their targets), inside the project and outside it.


def tree(root: Path) -> set[str]:
    """Everything below ``root``: files, ``folder/``, ``link -> target``; caches and the
    verification dates beside the cassettes (.verified.json) left out."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if name not in ("__pycache__", ".pytest_cache")]
        filenames = [name for name in filenames if name != ".verified.json"]
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            shown = path.relative_to(root).as_posix()
            if path.is_symlink():
                found.add(f"{shown} -> {os.readlink(path)}")
            elif path.is_dir():
                found.add(f"{shown}/")
            else:
                found.add(shown)
    return found


def put(path: Path, text: str = "format: pytest-llm/1\ninteractions: []\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def kept(inner):
    """A suite of one recorded case, test_app.py::test_kept."""
    inner.write(SUITE)
    inner.record().assert_outcomes(passed=1)
    return inner


@pytest.fixture
def outside(tmp_path_factory):
    """A folder outside the project."""
    return tmp_path_factory.mktemp("outside")


PROJECT = {"test_app.py", "cassettes/", "cassettes/test_app/", "cassettes/test_app/test_kept.yaml"}


def test_prune_neither_follows_nor_deletes_a_symlinked_cassette(kept, outside):
    target = put(outside / "shared" / "target.yaml")
    (kept.pytester.path / "cassettes" / "test_app" / "linked.yaml").symlink_to(target)
    put(kept.cassette("orphan"))
    result = kept.replay("--llm-prune")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "1 cassette(s) used by no collected case, deleted:",
            "  cassettes/test_app/orphan.yaml",
            "1 symlink(s) in the cassette folders, neither followed nor deleted (--llm-prune never deletes through a symlink):",
            "  cassettes/test_app/linked.yaml",
        ]
    )
    assert tree(kept.pytester.path) == PROJECT | {f"cassettes/test_app/linked.yaml -> {target}"}
    assert tree(outside) == {"shared/", "shared/target.yaml"}


def test_prune_neither_follows_nor_deletes_a_symlinked_folder(kept, outside):
    put(outside / "inner" / "a.yaml")
    put(outside / "module" / "b.yaml")
    module_folder = kept.pytester.path / "cassettes" / "test_other"
    (kept.pytester.path / "cassettes" / "test_app" / "sub").symlink_to(outside / "inner")
    module_folder.symlink_to(outside / "module")  # the whole cassette folder of a module
    kept.write("def test_plain():\n    pass\n", name="test_other")
    result = kept.replay("--llm-prune")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "2 symlink(s) in the cassette folders, neither followed nor deleted *",
            "  cassettes/test_app/sub",
            "  cassettes/test_other",
        ]
    )
    assert "deleted:" not in result.stdout.str()
    assert tree(kept.pytester.path) == PROJECT | {
        "test_other.py",
        f"cassettes/test_app/sub -> {outside / 'inner'}",
        f"cassettes/test_other -> {outside / 'module'}",
    }
    assert tree(outside) == {"inner/", "inner/a.yaml", "module/", "module/b.yaml"}


def test_prune_removes_emptied_folders_inside_a_module_folder_only(kept):
    put(kept.pytester.path / "cassettes" / "test_app" / "deep" / "er" / "orphan.yaml")
    put(kept.pytester.path / "cassettes" / "test_gone" / "orphan.yaml")
    kept.write("def test_plain():\n    pass\n", name="test_plain")
    put(kept.pytester.path / "cassettes" / "test_plain" / "orphan.yaml")
    result = kept.replay("--llm-prune")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "2 cassette(s) used by no collected case, deleted:",
            "  cassettes/test_app/deep/er/orphan.yaml",
            "  cassettes/test_plain/orphan.yaml",
        ]
    )
    # no module test_gone.py was collected: its folder is not this run's to judge
    assert tree(kept.pytester.path) == PROJECT | {
        "test_plain.py",
        "cassettes/test_gone/",
        "cassettes/test_gone/orphan.yaml",
    }


def test_prune_never_removes_the_cassette_root(inner, outside):
    inner.pytester.makeini(f"[pytest]\nllm_cassette_dir = {outside / 'root'}\n")
    inner.write("def test_plain():\n    pass\n")
    put(outside / "root" / "test_app" / "orphan.yaml")
    result = inner.replay("--llm-prune")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"  {outside / 'root' / 'test_app' / 'orphan.yaml'}"])
    assert tree(outside) == {"root/"}


def test_prune_with_an_absolute_cassette_dir_keeps_other_folders(inner, outside):
    shared = outside / "shared"
    inner.pytester.makeini(f"[pytest]\nllm_cassette_dir = {shared}\n")
    inner.write(SUITE)
    inner.record().assert_outcomes(passed=1)
    put(shared / "test_app" / "orphan.yaml")
    put(shared / "test_billing" / "test_invoice.yaml")  # another suite's module
    put(shared / "loose.yaml")
    result = inner.replay("--llm-prune")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["1 cassette(s) used by no collected case, deleted:", f"  {shared}/test_app/orphan.yaml"]
    )
    assert tree(outside) == {
        "shared/",
        "shared/loose.yaml",
        "shared/test_app/",
        "shared/test_app/test_kept.yaml",
        "shared/test_billing/",
        "shared/test_billing/test_invoice.yaml",
    }
    assert tree(inner.pytester.path) == {"test_app.py", "tox.ini"}


SKIPPED_MODULES = {
    "importorskip": 'import pytest\npytest.importorskip("no_such_module_for_pytest_llm")\n',
    "module-skip": 'import pytest\npytest.skip("not on this platform", allow_module_level=True)\n',
}


@pytest.mark.parametrize("workers", [None, "2"], ids=["no-n", "n2"])
@pytest.mark.parametrize("source", SKIPPED_MODULES.values(), ids=SKIPPED_MODULES.keys())
def test_prune_refuses_when_a_module_was_skipped(kept, source, workers):
    kept.write(source + dedent(SUITE.replace("test_kept", "test_elsewhere")), name="test_skipped")
    put(kept.cassette("test_elsewhere", module="test_skipped"))
    put(kept.cassette("orphan"))
    before = tree(kept.pytester.path)
    result = kept.replay("--llm-prune", *(["-n", workers] if workers else []))
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "--llm-prune deleted nothing: test_skipped.py was skipped at collection (*). It "
            "deletes cassettes only after a run that collected every test of the suite."
        ]
    )
    assert tree(kept.pytester.path) == before


@pytest.mark.parametrize("keep_going", [False, True], ids=["stop", "continue-on-errors"])
def test_prune_refuses_after_a_collection_error(kept, keep_going):
    kept.write("import no_such_module_for_pytest_llm\n", name="test_broken")
    put(kept.cassette("test_something", module="test_broken"))
    put(kept.cassette("orphan"))
    before = tree(kept.pytester.path)
    args = ["--continue-on-collection-errors"] if keep_going else []
    result = kept.replay("--llm-prune", *args)
    result.stdout.fnmatch_lines(["--llm-prune deleted nothing: test_broken.py failed to collect*"])
    assert tree(kept.pytester.path) == before


def test_prune_refuses_when_a_case_has_invalid_options(kept):
    kept.write(dedent(SUITE) + "\n@llm_case(sampels=3)\ndef test_typo(llm_client):\n    pass\n")
    put(kept.cassette("test_typo"))
    before = tree(kept.pytester.path)
    result = kept.replay("--llm-prune")
    result.assert_outcomes(passed=1, errors=1)  # it fails in setup
    result.stdout.fnmatch_lines(
        ["--llm-prune deleted nothing: the llm_case options of test_app.py::test_typo are invalid*"]
    )
    assert tree(kept.pytester.path) == before


@pytest.mark.parametrize(
    "selection",
    [
        ["--ignore", "test_other.py"],
        ["--ignore-glob", "*other*"],
        ["--deselect", "test_other.py::test_elsewhere"],
        ["-k", "kept"],
        ["-m", "not slow"],
    ],
    ids=lambda args: args[0],
)
def test_prune_refuses_a_partial_run_and_runs_nothing(kept, selection):
    kept.write(SUITE.replace("test_kept", "test_elsewhere"), name="test_other")
    put(kept.cassette("test_elsewhere", module="test_other"))
    put(kept.cassette("orphan"))
    before = tree(kept.pytester.path)
    result = kept.replay("--llm-prune", *selection)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*--llm-prune needs a run of the whole suite, but {selection[0]} *nothing was run or deleted*"
        ]
    )
    assert tree(kept.pytester.path) == before


def test_prune_rechecks_each_file_before_deleting_it(tmp_path, outside):
    """What changed between collection and the end of the run is checked again: a folder
    swapped for a symlink, a file outside the modules' folders, a file swapped for a symlink."""
    folder = tmp_path / "cassettes" / "test_app"
    put(outside / "sub" / "a.yaml")
    (folder / "sub").parent.mkdir(parents=True)
    (folder / "sub").symlink_to(outside / "sub")
    put(tmp_path / "cassettes" / "test_other" / "b.yaml")
    target = put(outside / "c.yaml")
    (folder / "c.yaml").symlink_to(target)
    put(folder / "d.yaml")
    deleted = unused_cassettes.prune(
        [
            folder / "sub" / "a.yaml",
            tmp_path / "cassettes" / "test_other" / "b.yaml",
            folder / "c.yaml",
            folder / "d.yaml",
        ],
        [str(folder)],
    )
    assert deleted == [folder / "d.yaml"]
    assert tree(outside) == {"sub/", "sub/a.yaml", "c.yaml"}
    assert tree(tmp_path) == {
        "cassettes/",
        "cassettes/test_app/",
        f"cassettes/test_app/sub -> {outside / 'sub'}",
        f"cassettes/test_app/c.yaml -> {target}",
        "cassettes/test_other/",
        "cassettes/test_other/b.yaml",
    }


# ------------------------------------------------------------------ runs that only look whole


def two_folders_with_one_module_name(inner, cassette_dir: str, ini: str = "") -> None:
    """tests/a/test_app.py and tests/b/test_app.py, one recorded case each, sharing the
    cassette folder ``<cassette_dir>/test_app/`` when ``cassette_dir`` is absolute."""
    inner.pytester.makeini(f"[pytest]\nllm_cassette_dir = {cassette_dir}\n{ini}")
    for folder in ("a", "b"):
        package = inner.pytester.path / "tests" / folder
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "test_app.py").write_text(dedent(SUITE.replace("test_kept", f"test_{folder}")))
    (inner.pytester.path / "tests" / "__init__.py").write_text("")
    inner.record().assert_outcomes(passed=2)


def test_prune_refuses_a_folder_run_that_shares_a_cassette_folder(inner, outside):
    shared = outside / "shared"
    two_folders_with_one_module_name(inner, str(shared))
    put(shared / "test_app" / "orphan.yaml")
    before_outside, before_project = tree(outside), tree(inner.pytester.path)
    assert before_outside == {
        "shared/",
        "shared/test_app/",
        "shared/test_app/orphan.yaml",
        "shared/test_app/test_a.yaml",
        "shared/test_app/test_b.yaml",
    }
    result = inner.replay("--llm-prune", "tests/a")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--llm-prune needs a run of the whole suite, but the command line runs tests/a, "
            f"only part of the suite ({inner.pytester.path}); *nothing was run or deleted*"
        ]
    )
    assert tree(outside) == before_outside
    assert tree(inner.pytester.path) == before_project
    # folders that together hold every module still leave the rest of the rootdir out
    result = inner.replay("--llm-prune", "tests/a", "tests/b")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*the command line runs tests/a, tests/b, only part of the*"])
    assert tree(outside) == before_outside
    # the whole suite sees both tests: only the orphan goes
    result = inner.replay("--llm-prune")
    result.assert_outcomes(passed=2)
    assert tree(outside) == before_outside - {"shared/test_app/orphan.yaml"}
    assert tree(inner.pytester.path) == before_project


@pytest.mark.parametrize("workers", [None, "2"], ids=["no-n", "n2"])
def test_a_folder_run_lists_no_unused_cassettes(inner, outside, workers):
    shared = outside / "shared"
    two_folders_with_one_module_name(inner, str(shared))
    result = inner.replay("tests/a", *(["-n", workers] if workers else []))
    result.assert_outcomes(passed=1)
    assert "LLM unused cassettes" not in result.stdout.str()
    assert "test_b.yaml" not in result.stdout.str()


def test_prune_refuses_a_run_from_a_subfolder(inner, monkeypatch):
    two_folders_with_one_module_name(inner, "cassettes")
    put(inner.pytester.path / "tests" / "a" / "cassettes" / "test_app" / "orphan.yaml")
    before = tree(inner.pytester.path)
    monkeypatch.chdir(inner.pytester.path / "tests" / "a")
    result = inner.replay("--llm-prune")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--llm-prune needs a run of the whole suite, but pytest started in "
            f"{inner.pytester.path / 'tests' / 'a'} collects only part of the suite "
            f"({inner.pytester.path}); nothing was run or deleted*"
        ]
    )
    assert tree(inner.pytester.path) == before


def test_prune_accepts_the_configured_testpaths(inner):
    two_folders_with_one_module_name(inner, "cassettes", ini="testpaths = tests\n")
    orphan = put(inner.pytester.path / "tests" / "b" / "cassettes" / "test_app" / "orphan.yaml")
    before = tree(inner.pytester.path)
    for args in ([], ["tests"], ["."]):
        result = inner.replay("--llm-prune", *args)
        result.assert_outcomes(passed=2)
        assert tree(inner.pytester.path) == before - {
            orphan.relative_to(inner.pytester.path).as_posix()
        }
        put(orphan)


DROPPING_CONFTEST = """
    def pytest_collection_modifyitems(config, items):
        items[:] = [item for item in items if "slow" not in item.name]
"""


@pytest.mark.parametrize("workers", [None, "2"], ids=["no-n", "n2"])
def test_prune_refuses_when_a_conftest_drops_tests_without_deselecting(kept, workers):
    kept.write(dedent(SUITE) + dedent(SUITE.replace("test_kept", "test_slow_thing")))
    kept.record().assert_outcomes(passed=2)
    put(kept.cassette("orphan"))
    kept.pytester.makeconftest(DROPPING_CONFTEST)
    before = tree(kept.pytester.path)
    assert "cassettes/test_app/test_slow_thing.yaml" in before
    result = kept.replay("--llm-prune", *(["-n", workers] if workers else []))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "--llm-prune deleted nothing: a plugin or conftest removed 1 collected test(s) "
            "without deselecting them, e.g. test_app.py::test_slow_thing. It deletes cassettes "
            "only after a run that collected every test of the suite."
        ]
    )
    assert tree(kept.pytester.path) == before
    result = kept.replay(*(["-n", workers] if workers else []))  # nor are they listed
    assert "LLM unused cassettes" not in result.stdout.str()


def test_prune_accepts_testpaths_that_name_files(kept):
    kept.write(SUITE.replace("test_kept", "test_elsewhere"), name="test_other")
    kept.record().assert_outcomes(passed=2)
    kept.pytester.makeini("[pytest]\ntestpaths = test_app.py test_other.py\n")
    orphan = put(kept.cassette("orphan"))
    before = tree(kept.pytester.path)
    result = kept.replay("--llm-prune")
    result.assert_outcomes(passed=2)
    assert tree(kept.pytester.path) == before - {orphan.relative_to(kept.pytester.path).as_posix()}
    result = kept.replay("--llm-prune", "test_app.py")  # one of them is part of the suite
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*but the command line names 'test_app.py', not whole folders*"])
