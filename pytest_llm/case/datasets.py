"""Evaluation sets: ``@pytest_llm.cases(path, min_pass_rate=...)`` turns the records of a YAML,
JSON or JSONL file into one LLM case each."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from pytest_llm.cassette import fast_yaml
from pytest_llm.errors import DatasetError

F = TypeVar("F", bound=Callable[..., Any])

DATASET_MARKER = "llm_dataset"
_LIMITS_HELP = "see 'Loader limits' in docs/datasets.md"
_TOO_DEEP = "nested too deeply to load (JSON arrays and objects within each other)"


def load_records(path: Path) -> list[dict[str, Any]]:
    """The records of a data set file, each a mapping; errors name the file and the record."""
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json", ".jsonl"):
        raise DatasetError(f"{path}: a data set must be a .yaml, .yml, .json or .jsonl file")
    try:
        text = fast_yaml.read_bounded(path).decode("utf-8")
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not a UTF-8 text file ({error.reason})") from None
    except fast_yaml.RefusedDocument as error:
        raise _refused(path, error) from None
    if suffix == ".jsonl":
        return _jsonl_records(path, text)
    try:
        document = json.loads(text) if suffix == ".json" else fast_yaml.load(text)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
    except RecursionError:
        raise DatasetError(f"{path}: {_TOO_DEEP}") from None
    except ValueError as error:  # e.g. an integer too long to convert
        raise DatasetError(f"{path}: not valid JSON: {error}") from None
    except fast_yaml.RefusedDocument as error:
        raise _refused(path, error) from None
    except yaml.MarkedYAMLError as error:
        line = f":{error.problem_mark.line + 1}" if error.problem_mark is not None else ""
        raise DatasetError(f"{path}{line}: not valid YAML: {error.problem}") from None
    except yaml.YAMLError as error:  # e.g. a control character the reader refuses
        raise DatasetError(f"{path}: not valid YAML: {error}") from None
    if isinstance(document, dict) and isinstance(document.get("cases"), list):
        document = document["cases"]
    if not isinstance(document, list):
        raise DatasetError(f"{path}: expected a list of records (or a mapping with a 'cases' list)")
    for index, record in enumerate(document, start=1):
        if not isinstance(record, dict):
            raise DatasetError(
                f"{path}: record #{index} is a {type(record).__name__}, not a mapping"
            )
    return document


def _refused(path: Path, error: fast_yaml.RefusedDocument) -> DatasetError:
    mark = error.problem_mark
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    return DatasetError(f"{where}: data set refused: {error.problem} ({_LIMITS_HELP})")


def _jsonl_records(path: Path, text: str) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path}:{number}: not valid JSON: {error.msg}") from None
        except RecursionError:
            raise DatasetError(f"{path}:{number}: {_TOO_DEEP}") from None
        except ValueError as error:
            raise DatasetError(f"{path}:{number}: not valid JSON: {error}") from None
        if not isinstance(record, dict):
            raise DatasetError(
                f"{path}:{number}: the record is a {type(record).__name__}, not a mapping"
            )
        records.append(record)
    return records


def record_ids(path: Path, records: list[dict[str, Any]]) -> list[str]:
    """Each record's ``id`` field, else ``record-<n>`` by position; duplicates are an error."""
    ids: list[str] = []
    seen: dict[str, int] = {}
    for index, record in enumerate(records, start=1):
        ident = str(record["id"]) if record.get("id") not in (None, "") else f"record-{index}"
        if ident in seen:
            raise DatasetError(
                f"{path}: duplicate id {ident!r} (records #{seen[ident]} and #{index})"
            )
        seen[ident] = index
        ids.append(ident)
    return ids


def cases(path: str | Path, *, min_pass_rate: float | None = None) -> Callable[[F], F]:
    """Parametrize a test with the records of a data set; the test receives each as ``case``.

    A relative ``path`` is relative to the test module's folder. With ``min_pass_rate`` the set
    is gated as a whole: failing records are reported as tolerated (xfailed) and the run fails
    only when the set's pass rate is below the gate.
    """
    if min_pass_rate is not None and (
        not isinstance(min_pass_rate, (int, float))
        or isinstance(min_pass_rate, bool)
        or not 0 <= min_pass_rate <= 1
    ):
        raise DatasetError(
            f"cases({path!r}): min_pass_rate must be a number between 0 and 1, got {min_pass_rate!r}"
        )

    def decorate(function: F) -> F:
        resolved = Path(path)
        if not resolved.is_absolute():
            resolved = Path(inspect.getfile(function)).resolve().parent / resolved
        records = load_records(resolved)
        if not records:
            raise DatasetError(f"{resolved}: the data set has no records")
        idents = record_ids(resolved, records)
        params = [
            pytest.param(record, id=ident) for record, ident in zip(records, idents, strict=True)
        ]
        marked = pytest.mark.parametrize("case", params)(function)
        dataset_marker: pytest.MarkDecorator = getattr(pytest.mark, DATASET_MARKER)
        result: F = dataset_marker(
            path=str(resolved),
            min_pass_rate=min_pass_rate,
            size=len(records),
            # each record's id, found again by the record object the test receives
            record_ids={id(record): ident for record, ident in zip(records, idents, strict=True)},
        )(marked)
        return result

    return decorate
