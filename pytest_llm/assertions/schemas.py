"""JSON Schemas for ``assert_schema``: load them (dict, file, pydantic model), check they are
valid schemas, and list every violation of an instance with its JSON path."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pytest_llm.cassette import fast_yaml
from pytest_llm.errors import InvalidSchemaError


def load_schema(schema: Any, *, base: Path | None = None) -> dict[str, Any]:
    """A schema dict from a dict, a ``.json``/``.yaml`` path (relative to ``base``), or a
    pydantic model class; the result is checked against its metaschema."""
    if isinstance(schema, Mapping):
        loaded = dict(schema)
    elif isinstance(schema, (str, Path)):
        loaded = _read_schema_file(Path(schema), base)
    elif hasattr(schema, "model_json_schema"):
        loaded = schema.model_json_schema()
    else:
        raise InvalidSchemaError(
            f"schema must be a dict, a .json/.yaml file path or a pydantic model class, got {type(schema).__name__}"
        )
    check_schema(loaded)
    return loaded


def _read_schema_file(path: Path, base: Path | None) -> dict[str, Any]:
    if not path.is_absolute() and base is not None:
        path = base / path
    if path.suffix.lower() not in (".json", ".yaml", ".yml"):
        raise InvalidSchemaError(f"schema file {path} must end in .json, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidSchemaError(
            f"schema file {path} cannot be read: {error.strerror or error}"
        ) from None
    try:
        loaded = json.loads(text) if path.suffix.lower() == ".json" else fast_yaml.load(text)
    except RecursionError:
        raise InvalidSchemaError(f"schema file {path} is nested too deeply to load") from None
    except (ValueError, yaml.YAMLError) as error:
        raise InvalidSchemaError(
            f"schema file {path} is not valid {path.suffix[1:].upper()}: {error}"
        ) from None
    if not isinstance(loaded, dict):
        raise InvalidSchemaError(
            f"schema file {path} holds a {type(loaded).__name__}, not a JSON Schema object"
        )
    return loaded


def check_schema(schema: dict[str, Any]) -> None:
    """Raise :class:`InvalidSchemaError` unless ``schema`` is valid against its metaschema
    (checked once per distinct schema: metaschema validation costs milliseconds)."""
    _check_schema_text(json.dumps(schema, sort_keys=True, default=str))


@functools.lru_cache(maxsize=256)
def _check_schema_text(text: str) -> None:
    from jsonschema import exceptions, validators

    schema = json.loads(text)
    validator = validators.validator_for(schema)
    try:
        validator.check_schema(schema)
    except exceptions.SchemaError as error:
        where = error.json_path if hasattr(error, "json_path") else "/".join(map(str, error.path))
        raise InvalidSchemaError(
            f"the schema itself is invalid (a problem of the test, not of the model): {error.message} at schema {where}"
        ) from None


def _refuse_remote(uri: str) -> Any:
    """The registry's retrieval: nothing is fetched (no network in tests, no file reads), so a
    ``$ref`` to a schema that is not inside the schema itself is an error of the test."""
    raise InvalidSchemaError(
        f"the schema refers to {uri!r} ($ref), which pytest-llm does not fetch (no network or "
        "file access during tests); put the referenced schema under $defs of the schema itself"
    )


@functools.lru_cache(maxsize=1)
def _offline_registry() -> Any:
    """A registry that fetches nothing (:func:`_refuse_remote`); jsonschema adds the bundled
    metaschemas to it, so those still resolve by URL. Built once: registries are immutable."""
    from referencing import Registry

    return Registry(retrieve=_refuse_remote)  # type: ignore[call-arg]


def violations(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Every violation as ``$.path.to[0].field: message``, in document order; a ``$ref`` that
    is not inside ``schema`` raises :class:`InvalidSchemaError` (never fetched)."""
    from jsonschema import validators
    from referencing.exceptions import Unresolvable

    try:  # one validator per distinct schema: building one costs more than a validation
        validator = _validator(json.dumps(schema, sort_keys=True))
    except (TypeError, ValueError):  # not plain JSON (a tuple key...): this call only
        validator = validators.validator_for(schema)(schema, registry=_offline_registry())
    try:
        found = list(validator.iter_errors(instance))
    except Unresolvable as error:
        cause = error.__cause__ or error.__context__
        while cause is not None and not isinstance(cause, InvalidSchemaError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise InvalidSchemaError(str(cause)) from None
        raise InvalidSchemaError(
            f"the schema has a $ref that cannot be resolved: {error}"
        ) from None
    errors = sorted(found, key=lambda error: [str(part) for part in error.absolute_path])
    return [f"{error.json_path}: {error.message}" for error in errors]


@functools.lru_cache(maxsize=256)
def _validator(text: str) -> Any:
    from jsonschema import validators

    schema = json.loads(text)
    return validators.validator_for(schema)(schema, registry=_offline_registry())
