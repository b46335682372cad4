"""Where a case's cassette lives."""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._\-\[\]+=,@]+")
_MAX_NAME = 120


def cassette_name(nodeid: str) -> str:
    """A file name for a test: ``TestRefunds.test_policy[en]`` from its node id."""
    local = nodeid.split("::", 1)[1] if "::" in nodeid else nodeid
    name = _UNSAFE.sub("_", local.replace("::", ".")).strip("._") or "case"
    if len(name) > _MAX_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[: _MAX_NAME - 11]}-{digest}"
    return name


def cassette_path(module_path: Path, nodeid: str, cassette_dir: str, cassette: str | None) -> Path:
    """The cassette of a test.

    Default: ``<module folder>/<cassette_dir>/<module stem>/<test name>.yaml``. With
    ``cassette="name"`` the name replaces the test name; a value ending in ``.yaml``/``.yml``
    is a path, relative to the module's folder unless absolute.
    """
    module_folder = module_path.parent
    if cassette is not None and cassette.endswith((".yaml", ".yml")):
        given = module_folder / cassette
        return _resolved(given.parent) / given.name
    folder = Path(cassette_dir)
    if not folder.is_absolute():
        folder = module_folder / folder
    name = cassette if cassette is not None else cassette_name(nodeid)
    named = folder / module_path.stem / f"{name}.yaml"  # name may hold a folder: "sub/name"
    return _resolved(named.parent) / named.name


@functools.lru_cache(maxsize=4096)
def _resolved(folder: Path) -> Path:
    """A cassette folder, absolute and free of symlinks, resolved once (every case of a module
    shares it). A cassette file that is itself a symlink keeps its name here; the list of
    unused cassettes compares real paths."""
    return folder.resolve()
