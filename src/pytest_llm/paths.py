"""Where a case's cassette lives."""

from __future__ import annotations

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
        return (module_folder / cassette).resolve()
    folder = Path(cassette_dir)
    if not folder.is_absolute():
        folder = module_folder / folder
    name = cassette if cassette is not None else cassette_name(nodeid)
    return (folder / module_path.stem / f"{name}.yaml").resolve()
