"""A project's pytest settings, read outside of pytest (by the ``pytest-llm`` command).

Found the way pytest finds its configuration file: from a folder upward, the first folder
holding ``pytest.toml`` or ``.pytest.toml`` (pytest 9; always, a ``[pytest]`` table),
``pytest.ini`` or ``.pytest.ini`` (always), ``pyproject.toml`` with a
``[tool.pytest.ini_options]`` or ``[tool.pytest]`` table, ``tox.ini`` with ``[pytest]``, or
``setup.cfg`` with ``[tool:pytest]``. Read with the parsers pytest itself uses (iniconfig,
tomllib / tomli: pytest's own dependencies, so nothing new to install).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import iniconfig

from pytest_llm.errors import ProjectConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pytest depends on tomli there
    import tomli as tomllib

#: (file name, ini section); the TOML files have None: their tables are read by name.
_INI_SECTIONS = (
    ("pytest.toml", None),
    (".pytest.toml", None),
    ("pytest.ini", "pytest"),
    (".pytest.ini", "pytest"),
    ("pyproject.toml", None),
    ("tox.ini", "pytest"),
    ("setup.cfg", "tool:pytest"),
)


def ini_lines(start: Path, name: str) -> tuple[Path | None, list[str]]:
    """The configuration file found from ``start`` upward, and the lines of its ``name``
    setting (empty when the file or the setting is absent)."""
    for folder in (start.resolve(), *start.resolve().parents):
        for filename, section in _INI_SECTIONS:
            path = folder / filename
            if not path.is_file():
                continue
            if section is not None:
                settings = _ini_settings(path, section)
            elif filename == "pyproject.toml":
                settings = _pyproject_settings(path)
            else:  # pytest.toml: its [pytest] table, the file itself even when it has none
                settings = _pytest_toml_settings(path)
            if settings is None:
                continue  # a file without a pytest section: keep looking
            return path, _as_lines(settings.get(name), path, name)
    return None, []


def _ini_settings(path: Path, section: str) -> dict[str, Any] | None:
    try:
        parsed = iniconfig.IniConfig(str(path))
    except (iniconfig.ParseError, OSError, UnicodeDecodeError) as error:
        raise ProjectConfigError(f"{path}: cannot be read: {error}") from None
    if section not in parsed:
        return {} if path.name in ("pytest.ini", ".pytest.ini") else None
    return dict(parsed[section].items())


def _toml_document(path: Path) -> dict[str, Any]:
    try:
        document: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as error:
        raise ProjectConfigError(f"{path}: cannot be read: {error}") from None
    return document


def _pytest_toml_settings(path: Path) -> dict[str, Any]:
    table = _toml_document(path).get("pytest")
    return table if isinstance(table, dict) else {}


def _pyproject_settings(path: Path) -> dict[str, Any] | None:
    document = _toml_document(path)
    pytest_table = document.get("tool", {}).get("pytest")
    if not isinstance(pytest_table, dict):
        return None
    ini_options = pytest_table.get("ini_options")
    if isinstance(ini_options, dict):
        return ini_options
    return {key: value for key, value in pytest_table.items() if key != "ini_options"}


def _as_lines(value: Any, path: Path, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # a TOML number: pytest reads it as its text
    if isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    if isinstance(value, list) and all(isinstance(item, (str, int, float)) for item in value):
        return [str(item).strip() for item in value if str(item).strip()]
    raise ProjectConfigError(f"{path}: {name} must be text or a list of lines")
