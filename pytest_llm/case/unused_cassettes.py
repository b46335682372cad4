"""Cassettes that no collected case uses any more (a test was renamed or deleted), like
syrupy's unused snapshots: listed after a full run, deleted with ``--llm-prune``."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from pytest_llm.case.state import Case

#: Key of the plain dict an xdist worker sends to the controller in ``workeroutput``.
WORKER_OUTPUT_KEY = "pytest_llm_cassette_usage"


@dataclasses.dataclass
class CassetteUsage:
    """Which cassettes the collected cases use, which exist in their folders, and whether the
    run saw the whole suite (``filtered`` says why not)."""

    used: set[str] = dataclasses.field(default_factory=set)
    candidates: set[str] = dataclasses.field(default_factory=set)
    filtered: str | None = None

    def merge(self, data: dict[str, Any]) -> None:
        self.used.update(data.get("used", ()))
        self.candidates.update(data.get("candidates", ()))
        self.filtered = self.filtered or data.get("filtered")

    def to_dict(self) -> dict[str, Any]:
        return {
            "used": sorted(self.used),
            "candidates": sorted(self.candidates),
            "filtered": self.filtered,
        }

    def unused(self) -> list[Path]:
        return sorted(Path(path) for path in self.candidates - self.used)


def usage_of(
    items: Iterable[tuple[pytest.Item, Case | None]], cassette_dir: str, *, filtered: str | None
) -> CassetteUsage:
    """What the collected ``items`` (with their LLM case, if any) use, against what exists."""
    usage = CassetteUsage(filtered=filtered)
    module_dirs = set()
    for item, case in items:
        if case is not None:  # real paths on both sides: a cassette may be a symlink
            usage.used.add(os.path.realpath(case.path))
            module_dirs.add(item.path.parent)
    usage.candidates = candidates(module_dirs, cassette_dir)
    return usage


def candidates(module_dirs: Iterable[Path], cassette_dir: str) -> set[str]:
    """Every cassette file in the cassette folders beside the collected test modules."""
    found: set[str] = set()
    for module_dir in set(module_dirs):
        folder = (
            Path(cassette_dir) if Path(cassette_dir).is_absolute() else module_dir / cassette_dir
        )
        if folder.is_dir():
            found.update(
                os.path.realpath(path)
                for path in folder.rglob("*.y*ml")
                if path.suffix in (".yaml", ".yml")
            )
    return found


def filter_reason(config: pytest.Config) -> str | None:
    """Why this run does not see the whole suite (then nothing can be called unused)."""
    if config.getoption("keyword", None):
        return "-k selects a subset of the tests"
    if config.getoption("markexpr", None):
        return "-m selects a subset of the tests"
    if config.getoption("deselect", None):
        return "--deselect leaves tests out"
    if config.getoption("lf", None):
        return "--lf runs only the last failures"
    for arg in config.args:
        if "::" in arg or arg.split("::")[0].endswith(".py"):
            return f"the command line names {arg!r}, not whole folders"
    return None


def prune(paths: Iterable[Path]) -> list[Path]:
    """Delete the given cassettes (and cassette folders left empty); returns what was deleted."""
    deleted = []
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        deleted.append(path)
        parent = path.parent
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
    return deleted
