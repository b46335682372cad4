"""``pytest-llm report merge``: the JSON reports of runs that each saw part of the suite (CI
shards) read back and merged into one :class:`~pytest_llm.report.run_report.RunReport`, whose
data-set gates and before/after summary are then judged over the whole set."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_llm.errors import ReportMergeError
from pytest_llm.report import run_report
from pytest_llm.report.case_payload import CallSummary, CasePayload, DatasetOrigin

#: A report larger than this is refused (a million cases fit).
MAX_REPORT_BYTES = 512 * 2**20
_TOLERATED = "tolerated by the data-set gate"


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads((Path(__file__).parent / "schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def read_report(path: Path) -> dict[str, Any]:
    """A JSON report as written by ``--llm-report x.json``; anything else is a
    :class:`ReportMergeError` naming the file (and where in it)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_REPORT_BYTES + 1)
    except OSError as error:
        raise ReportMergeError(f"{path}: cannot be read: {error.strerror or error}") from None
    if len(data) > MAX_REPORT_BYTES:
        raise ReportMergeError(f"{path}: larger than {MAX_REPORT_BYTES} bytes")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else error
        raise ReportMergeError(
            f"{path}: not a JSON report ({reason}); give the .json files of --llm-report"
        ) from None
    if not isinstance(document, dict) or document.get("format") != run_report.FORMAT:
        raise ReportMergeError(
            f'{path}: not a pytest-llm JSON report (expected "format": "{run_report.FORMAT}")'
        )
    try:
        problem = next(iter(_validator().iter_errors(document)), None)
    except RecursionError:
        raise ReportMergeError(f"{path}: not a JSON report (nested too deeply)") from None
    if problem is not None:
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in problem.path
        )
        message = problem.message if len(problem.message) <= 200 else problem.message[:199] + "…"
        raise ReportMergeError(f"{path}: at {where.lstrip('.') or 'the top'}: {message}")
    if document.get("gates") and "datasets" not in document:
        raise ReportMergeError(
            f"{path}: written by an older pytest-llm whose report does not say which data-set "
            "records ran; run the shard again with this version"
        )
    return document


def merge(paths: Sequence[Path]) -> run_report.RunReport:
    """One report of the runs whose JSON reports are ``paths``.

    Every case id may appear in one report only (a case run by two shards is an error: the
    shards overlap); every report must be of the same mode; a data set must have the same size
    and gate in every report that ran some of it.
    """
    if not paths:
        raise ReportMergeError("give at least one JSON report")
    documents = [(path, read_report(path)) for path in paths]
    modes = {document["mode"] for _, document in documents}
    if len(modes) > 1:
        shown = ", ".join(f"{path} ({document['mode']})" for path, document in documents)
        raise ReportMergeError(
            f"the reports are of different modes and cannot be merged: {shown}; merge the "
            "reports of one run (all replay, all --llm-record or all --llm-rerecord)"
        )
    datasets = _datasets(documents)
    merged = run_report.RunReport(mode=modes.pop())
    seen: dict[str, Path] = {}
    costs: dict[str, tuple[float | None, float | None]] = {}
    for path, document in documents:
        for case in document["cases"]:
            ident = case["id"]
            if ident in seen:
                raise ReportMergeError(
                    f"{path}: case {ident} is also in {seen[ident]}: the shards overlap (each "
                    "case must run in one shard only)"
                )
            seen[ident] = path
            merged.cases.append(_case_entry(case, datasets, merged.mode, path))
            costs[ident] = (case.get("cost_usd"), case.get("cost_usd_before"))
    merged.stored_costs = costs
    return merged


def _datasets(documents: Sequence[tuple[Path, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path, document in documents:
        for entry in document.get("datasets") or ():
            known = found.setdefault(entry["path"], {**entry, "file": path})
            for key, name in (("size", "size"), ("min_pass_rate", "gate")):
                if entry.get(key) is not None and known.get(key) is None:
                    known[key] = entry[key]
                elif entry.get(key) is not None and entry[key] != known[key]:
                    raise ReportMergeError(
                        f"{path}: data set {entry['path']} has {name} {entry[key]}, but "
                        f"{known['file']} says {known[key]}: the shards ran different versions "
                        "of it"
                    )
    return found


def _case_entry(
    case: Mapping[str, Any], datasets: Mapping[str, Mapping[str, Any]], mode: str, path: Path
) -> run_report.CaseEntry:
    origin = case.get("dataset")
    dataset = None
    if origin is not None:
        known = datasets.get(origin["path"], {})
        if not known:
            raise ReportMergeError(
                f"{path}: case {case['id']} names data set {origin['path']}, which its "
                '"datasets" list does not hold'
            )
        dataset = DatasetOrigin(
            origin["path"],
            known.get("min_pass_rate"),
            size=known.get("size"),
            record=origin.get("record"),
        )
    samples = case.get("samples") or {}
    rerecorded = mode == "rerecord" and case.get("answers_before") is not None
    payload = CasePayload(
        tags=tuple(case.get("tags") or ()),
        dataset=dataset,
        calls=tuple(CallSummary.from_dict(call) for call in case["calls"]),
        samples_after=_pair(samples.get("after")),
        rerecorded=rerecorded,
        before=case.get("before"),
        samples_before=_pair(samples.get("before")),
        old_answers=tuple(case.get("answers_before") or ()),
        new_answers=tuple(case.get("answers_after") or ()),
        drift=case.get("drift"),
        calls_before=None
        if case.get("calls_before") is None
        else tuple(CallSummary.from_dict(call) for call in case["calls_before"]),
        message=case.get("message"),
        message_before=case.get("message_before"),
        tolerated=_TOLERATED if case.get("tolerated") else None,
    )
    return run_report.CaseEntry(case["id"], case["outcome"], payload)


def _pair(value: Any) -> tuple[int, int] | None:
    return None if value is None else (int(value[0]), int(value[1]))


def exit_status(report: run_report.RunReport) -> int:
    """1 when a data-set gate failed over the whole set or a case regressed, else 0."""
    failed = any(gate.failed for gate in report.gates())
    return 1 if failed or report.by_change()["regressed"] else 0
