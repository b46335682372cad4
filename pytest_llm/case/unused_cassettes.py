"""Cassettes that no collected case uses any more (a test was renamed or deleted), like
syrupy's unused snapshots: listed after a run of the whole suite, deleted with ``--llm-prune``.

What may be deleted is kept narrow on purpose, since a cassette folder is not ours alone:

- only regular ``*.yaml`` / ``*.yml`` files in the cassette folder of a module that was
  collected (``<llm_cassette_dir>/<module stem>/``), never elsewhere in the cassette root (an
  absolute ``llm_cassette_dir`` may be shared with other suites);
- never through a symlink: a symlinked cassette or folder is neither followed nor deleted, and
  is listed as such;
- only when the run collected every test of the suite: a module skipped at collection
  (``importorskip``), left out (``--ignore``, or a path argument or start folder narrower than
  the suite's ``testpaths`` / rootdir), deselected, dropped by a plugin without deselecting it,
  or failing to collect could have used any of the cassettes, so then nothing is deleted and
  the run says why;
- an emptied folder is removed only inside a module's cassette folder, never the cassette root.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from pytest_llm.case.state import Case

#: Key of the plain dict an xdist worker sends to the controller in ``workeroutput``.
WORKER_OUTPUT_KEY = "pytest_llm_cassette_usage"

_SUFFIXES = (".yaml", ".yml")


@dataclasses.dataclass
class CassetteUsage:
    """Which cassettes the collected cases use, which exist in their modules' cassette folders,
    and why the run did not see the whole suite (``gaps``; then nothing is unused)."""

    #: the cases' cassettes, as the cases name them and as real paths (a case may use a symlink)
    used: set[str] = dataclasses.field(default_factory=set)
    #: regular cassette files in the cassette folders of the collected modules (real paths)
    candidates: set[str] = dataclasses.field(default_factory=set)
    #: those folders: emptied folders are removed up to them, never above
    folders: set[str] = dataclasses.field(default_factory=set)
    #: symlinks found where candidates are looked for: neither followed nor deleted
    symlinks: set[str] = dataclasses.field(default_factory=set)
    gaps: list[str] = dataclasses.field(default_factory=list)

    def merge(self, data: dict[str, Any]) -> None:
        for name in ("used", "candidates", "folders", "symlinks"):
            getattr(self, name).update(str(value) for value in data.get(name, ()))
        self.add_gaps(str(gap) for gap in data.get("gaps", ()))

    def add_gaps(self, gaps: Iterable[str]) -> None:
        self.gaps += [gap for gap in gaps if gap not in self.gaps]  # every worker sees the same

    def to_dict(self) -> dict[str, Any]:
        return {
            "used": sorted(self.used),
            "candidates": sorted(self.candidates),
            "folders": sorted(self.folders),
            "symlinks": sorted(self.symlinks),
            "gaps": list(self.gaps),
        }

    def unused(self) -> list[Path]:
        return sorted(Path(path) for path in self.candidates - self.used)

    def unfollowed(self) -> list[Path]:
        """The symlinks that prune left alone (those that are a case's own cassette excepted)."""
        return sorted(Path(path) for path in self.symlinks - self.used)


def usage_of(
    items: Iterable[tuple[pytest.Item, Case | None]],
    cassette_dir: str,
    *,
    gaps: Iterable[str] = (),
) -> CassetteUsage:
    """What the collected ``items`` (with their LLM case, if any) use, against what exists in
    the cassette folders of their modules."""
    usage = CassetteUsage()
    usage.add_gaps(gaps)
    modules = set()
    for item, case in items:
        if item.path.suffix == ".py":
            modules.add(item.path)
        if case is not None:
            usage.used.add(str(case.path))
            usage.used.add(os.path.realpath(case.path))
    for module in modules:
        place = module_cassette_folder(module, cassette_dir)
        try:
            _scan(place, usage)
        except OSError as error:  # e.g. a name too long; then nothing may be called unused
            usage.add_gaps([f"{place[0] / place[1]} could not be read: {error.strerror or error}"])
    return usage


def module_cassette_folder(module_path: Path, cassette_dir: str) -> tuple[Path, str]:
    """The cassette root of a module and the name of the module's folder in it: ``cassettes``
    and ``test_app`` for ``tests/test_app.py`` (an absolute root is taken as it is)."""
    root = Path(cassette_dir)
    if not root.is_absolute():
        root = module_path.parent / root
    return Path(os.path.abspath(root)), module_path.stem


def _scan(place: tuple[Path, str], usage: CassetteUsage) -> None:
    root, name = place
    # the folders above the root are resolved (a project may live below a symlink); the root
    # and everything below it are looked at as they are
    root = Path(os.path.realpath(root.parent)) / root.name
    for folder in (root, root / name):
        if folder.is_symlink():
            usage.symlinks.add(str(folder))
            return
        if not folder.is_dir():
            return
    folder = root / name
    usage.folders.add(str(folder))
    for dirpath, dirnames, filenames in os.walk(folder):  # symlinked folders are not entered
        for entry in dirnames + filenames:
            path = os.path.join(dirpath, entry)
            if os.path.islink(path):
                if entry in dirnames or entry.endswith(_SUFFIXES):
                    usage.symlinks.add(path)
            elif entry in filenames and entry.endswith(_SUFFIXES) and _is_regular(path):
                usage.candidates.add(path)


def _is_regular(path: str | Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def filter_reason(config: pytest.Config) -> str | None:
    """Why, by its command line, this run does not see the whole suite (then nothing can be
    called unused, and ``--llm-prune`` is a usage error)."""
    if config.getoption("keyword", None):
        return "-k selects a subset of the tests"
    if config.getoption("markexpr", None):
        return "-m selects a subset of the tests"
    if config.getoption("deselect", None):
        return "--deselect leaves tests out"
    if config.getoption("ignore", None):
        return f"--ignore leaves out {', '.join(map(str, config.getoption('ignore')))}"
    if config.getoption("ignore_glob", None):
        return f"--ignore-glob leaves out {', '.join(map(str, config.getoption('ignore_glob')))}"
    if config.getoption("lf", None):
        return "--lf runs only the last failures"
    named = config.args_source == pytest.Config.ArgsSource.ARGS  # not testpaths' own files
    for arg in config.args:
        if "::" in arg or (named and arg.endswith(".py")):
            return f"the command line names {arg!r}, not whole folders"
    return _part_of_the_suite(config)


def suite_paths(config: pytest.Config) -> list[Path]:
    """The folders a plain ``pytest`` in the rootdir runs: the ``testpaths`` that exist
    (globs expanded, as pytest does), else the rootdir."""
    root = config.rootpath
    found = sorted(
        {
            Path(os.path.realpath(match))
            for pattern in config.getini("testpaths")
            for match in glob.glob(os.path.join(root, pattern), recursive=True)
        }
    )
    return found or [Path(os.path.realpath(root))]


def _part_of_the_suite(config: pytest.Config) -> str | None:
    """Why the paths this run collects from (arguments, or the folder it was started in)
    leave out part of the suite; a folder's cassette folder may be shared with another
    folder's modules (same module name, absolute or ``..`` ``llm_cassette_dir``, cassette
    paths), so only a run of every suite path is whole."""
    start = config.invocation_params.dir
    given = [Path(os.path.realpath(start / arg.split("::")[0])) for arg in config.args]
    suite = suite_paths(config)
    missing = [
        path for path in suite if not any(path == run or path.is_relative_to(run) for run in given)
    ]
    if not missing:
        return None
    whole = ", ".join(map(str, suite))
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return f"pytest started in {start} collects only part of the suite ({whole})"
    runs = ", ".join(os.path.relpath(path, start) for path in given)
    return f"the command line runs {runs}, only part of the suite ({whole})"


def dropped_items_gap(
    collected: list[pytest.Item], kept: list[pytest.Item], deselected: list[pytest.Item]
) -> str | None:
    """Why tests are missing when a plugin or conftest removed ``collected`` items (each one
    that ``pytest_itemcollected`` saw) in ``pytest_collection_modifyitems`` without reporting
    them to ``pytest_deselected`` (``items[:] = [...]``): neither ``kept`` nor ``deselected``."""
    accounted = {id(item) for item in kept} | {id(item) for item in deselected}
    dropped = [item for item in collected if id(item) not in accounted]
    if not dropped:
        return None
    return (
        f"a plugin or conftest removed {len(dropped)} collected test(s) without deselecting "
        f"them, e.g. {dropped[0].nodeid}"
    )


def collection_gap(report: pytest.CollectReport) -> str | None:
    """Why a collector's tests are missing from the run (skipped or failed), if they are."""
    where = report.nodeid or str(report.fspath)
    if report.failed:
        return f"{where} failed to collect"
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = " ".join(str(reason).split()).removeprefix("Skipped: ")
        return f"{where} was skipped at collection ({reason})"
    return None


def prune(paths: Iterable[Path], folders: Iterable[str]) -> list[Path]:
    """Delete the given cassettes, each only if it is still a regular file inside one of the
    modules' cassette ``folders`` with no symlink on the way, then the folders this left empty
    (up to that module's folder, never above); returns what was deleted."""
    limits = set(folders)
    real_folders: dict[Path, bool] = {}  # folder -> it is its own real path (no symlink in it)

    def is_real(folder: Path) -> bool:
        if folder not in real_folders:
            real_folders[folder] = os.path.realpath(folder) == str(folder)
        return real_folders[folder]

    deleted = []
    for path in paths:
        limit = next((parent for parent in path.parents if str(parent) in limits), None)
        if limit is None or not (_is_regular(path) and is_real(path.parent) and is_real(limit)):
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        deleted.append(path)
        parent = path.parent
        while (parent == limit or limit in parent.parents) and _is_empty_folder(parent):
            parent.rmdir()
            real_folders.pop(parent, None)
            parent = parent.parent
    return deleted


def _is_empty_folder(folder: Path) -> bool:
    """Whether ``folder`` is empty, or holds only the verification dates of cassettes (then
    that file, of cassettes that are gone, is deleted)."""
    from pytest_llm.cassette.verification import SIDECAR_NAME

    if folder.is_symlink() or not folder.is_dir():
        return False
    with os.scandir(folder) as entries:
        names = [entry.name for entry, _ in zip(entries, range(2), strict=False)]
    if names == [SIDECAR_NAME] and _is_regular(folder / SIDECAR_NAME):
        (folder / SIDECAR_NAME).unlink()
        return True
    return not names
