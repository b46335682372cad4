"""Where a case's cassette lives."""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path, PurePosixPath

from pytest_llm.errors import CaseOptionsError

_UNSAFE = re.compile(r"[^A-Za-z0-9._\-\[\]+=,@]+")
_MAX_NAME = 120
#: The longest file or folder name the plugin writes, in UTF-8 bytes: file systems allow 255,
#: and the atomic writer's temporary file adds ``.`` + ``.<8 random characters>.tmp`` to the name.
MAX_COMPONENT_BYTES = 200
#: The longest cassette path, in UTF-8 bytes (Linux allows 4096 for a whole path).
MAX_PATH_BYTES = 3900


def cassette_name(nodeid: str) -> str:
    """A file name for a test: ``TestRefunds.test_policy[en]`` from its node id."""
    local = nodeid.split("::", 1)[1] if "::" in nodeid else nodeid
    name = _UNSAFE.sub("_", local.replace("::", ".")).strip("._") or "case"
    if len(name) > _MAX_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[: _MAX_NAME - 11]}-{digest}"
    return name


def shortened(component: str, limit: int = MAX_COMPONENT_BYTES) -> str:
    """``component`` itself when it fits in ``limit`` UTF-8 bytes, else a stable short form:
    its beginning, ``-`` and 10 hex digits of its SHA-1 (the suffix, e.g. ``.yaml``, kept)."""
    if len(component.encode("utf-8", "surrogatepass")) <= limit:
        return component
    stem, suffix = (
        (component[: -len(Path(component).suffix)], Path(component).suffix)
        if component.endswith((".yaml", ".yml"))
        else (component, "")
    )
    digest = hashlib.sha1(component.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    room = limit - len(suffix) - len(digest) - 1
    prefix = stem.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")
    return f"{prefix}-{digest}{suffix}"


def cassette_path(
    module_path: Path,
    nodeid: str,
    cassette_dir: str,
    cassette: str | None,
    *,
    project_root: Path | None = None,
    absolute_allowed: bool = True,
) -> Path:
    """The cassette of a test.

    Default: ``<module folder>/<cassette_dir>/<module stem>/<test name>.yaml``. With
    ``cassette="name"`` the name replaces the test name (it may hold sub-folders, never ``..``
    nor a leading ``/``); a value ending in ``.yaml``/``.yml`` is a path, relative to the
    module's folder (and then inside ``project_root``) unless absolute, which only
    ``absolute_allowed`` permits (the test's own marker, not a data-set record). Names longer
    than :data:`MAX_COMPONENT_BYTES` are :func:`shortened`. A bad value raises
    :class:`CaseOptionsError` saying why.
    """
    module_folder = module_path.parent
    if cassette is not None and cassette.endswith((".yaml", ".yml")):
        return _checked_length(_yaml_path(module_folder, cassette, project_root, absolute_allowed))
    folder = Path(cassette_dir)
    if not folder.is_absolute():
        folder = module_folder / folder
    name = cassette_name(nodeid) if cassette is None else _relative_name(cassette)
    named = folder / module_path.stem / f"{name}.yaml"  # name may hold a folder: "sub/name"
    if cassette is not None and not (
        Path(os.path.normpath(named)).is_relative_to(os.path.normpath(folder))
        and _real(named.parent).is_relative_to(_real(folder))  # no symlink leads out
    ):
        raise CaseOptionsError(
            f"cassette={cassette!r}: a cassette name may not leave the cassette folder "
            f"({folder}); for a file elsewhere give a path ending in .yaml"
        )
    return _checked_length(_resolved(named.parent) / named.name)


#: What a fixture's cassette name starts with: no test's cassette name can (a test's name is a
#: Python identifier, and ``-`` is none).
FIXTURE_PREFIX = "fixture-"


def fixture_cassette_path(root: Path, baseid: str, name: str, cassette_dir: str) -> Path:
    """The cassette of a fixture wider than a test, beside the cassettes of what defines it.

    ``baseid`` is where pytest registered the fixture: a module (``tests/test_app.py``, or a
    class in it, ``tests/test_app.py::TestX``), a conftest's folder (``tests``) or the rootdir
    (``""``: the root conftest and installed plugins). The file is
    ``<folder>/<cassette_dir>/<module stem>/fixture-<name>.yaml``, the module stem of a conftest
    being ``conftest``; a class fixture is named ``fixture-<Class>.<name>``.
    """
    module, _, owner = baseid.partition("::")
    located = root / module if module else root
    module_path = located if located.suffix == ".py" else located / "conftest.py"
    local = f"{owner.replace('::', '.')}.{name}" if owner else name
    safe = _UNSAFE.sub("_", local).strip("._") or "fixture"
    folder = Path(cassette_dir)
    if not folder.is_absolute():
        folder = module_path.parent / folder
    file_name = shortened(f"{FIXTURE_PREFIX}{safe}.yaml")
    named = folder / module_path.stem / file_name
    return _checked_length(_resolved(named.parent) / named.name)


def _relative_name(cassette: str) -> str:
    """A ``cassette="name"`` value as a path below the cassette folder, or CaseOptionsError;
    ``..`` may reach other modules' folders, never leave the cassette folder (checked by the
    caller)."""
    pure = PurePosixPath(cassette)
    parts = [part for part in pure.parts if part != "."]
    if (
        pure.is_absolute()
        or Path(cassette).is_absolute()
        or cassette.endswith(("/", os.sep))
        or not parts
        or parts[-1] == ".."
    ):
        raise CaseOptionsError(
            f"cassette={cassette!r}: a cassette name is a file name inside the cassette folder "
            "(it may hold sub-folders, 'sub/name'); for a file elsewhere give a path ending in "
            ".yaml"
        )
    *folders, last = [shortened(part) for part in parts]
    return "/".join([*folders, shortened(last, MAX_COMPONENT_BYTES - len(".yaml"))])


def _yaml_path(
    module_folder: Path, cassette: str, project_root: Path | None, absolute_allowed: bool
) -> Path:
    given = Path(cassette)
    if given.is_absolute():
        if not absolute_allowed:
            raise CaseOptionsError(
                f"cassette={cassette!r}: a data-set record may not name an absolute path; "
                "give a name or a path relative to the test module"
            )
        candidate = Path(os.path.normpath(given))
    else:
        candidate = Path(os.path.normpath(module_folder / given))
        root = Path(os.path.normpath(project_root.absolute())) if project_root else None
        if root is not None and not (
            candidate.is_relative_to(root)
            and _real(candidate.parent).is_relative_to(_real(root))  # no symlink leads out
        ):
            real = _real(candidate.parent) / candidate.name
            raise CaseOptionsError(
                f"cassette={cassette!r}: resolves to {real}, outside the project "
                f"({root}); a relative cassette path must stay inside the project (an absolute "
                "path in the test's own @llm_case is allowed)"
            )
    parts = [shortened(part) for part in candidate.parts[1:]]
    shortened_path = Path(candidate.parts[0], *parts)
    return _resolved(shortened_path.parent) / shortened_path.name


def _real(path: Path) -> Path:
    """``path`` with every symlink of its existing part resolved (the rest kept as it is)."""
    return Path(os.path.realpath(path))


def inside_cassette_root(path: Path, module_dir: Path, cassette_dir: str) -> bool:
    """Whether the file ``path`` really lies (symlinks resolved) in the cassette root of the
    module in ``module_dir``: only there may the plugin delete stale temporary files."""
    return _real(path.parent).is_relative_to(_real(module_dir / cassette_dir))


def _checked_length(path: Path) -> Path:
    if len(os.fsencode(path)) > MAX_PATH_BYTES:
        raise CaseOptionsError(
            f"the cassette path {str(path)[:80]}... is {len(os.fsencode(path))} bytes long, more "
            f"than the {MAX_PATH_BYTES} the plugin writes; choose a shorter cassette name or "
            "llm_cassette_dir"
        )
    return path


@functools.lru_cache(maxsize=4096)
def _resolved(folder: Path) -> Path:
    """A cassette folder, absolute and free of symlinks, resolved once (every case of a module
    shares it). A cassette file that is itself a symlink keeps its name here; the list of
    unused cassettes compares real paths."""
    return folder.resolve()
