"""Which collected tests are LLM cases, with what options and which cassette."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from pytest_llm.case.datasets import DATASET_MARKER
from pytest_llm.case.options import KEYWORDS, build_options, merged_marker_keywords
from pytest_llm.case.state import Case, CassetteView
from pytest_llm.cassette.paths import cassette_path
from pytest_llm.errors import CaseOptionsError

#: Requesting one of these fixtures makes a test an LLM case even without the marker.
CASE_FIXTURES = frozenset({"llm_client", "llm_async_client", "llm_calls", "llm_cassette"})


def case_for(item: pytest.Item, cassette_dir: str) -> Case | None:
    """The LLM case of ``item``, or None for a plain test; raises ``CaseOptionsError`` for bad
    ``@llm_case`` keywords (the test, not the session, then fails)."""
    if not isinstance(item, pytest.Function):
        return None
    dataset = item.get_closest_marker(DATASET_MARKER)
    marked, keywords = merged_marker_keywords(item)
    if not marked and dataset is None and not CASE_FIXTURES.intersection(item.fixturenames):
        return None
    from_record = False
    if dataset is not None:  # a record's own option keys override the marker's
        record = item.callspec.params.get("case") if hasattr(item, "callspec") else None
        if isinstance(record, dict):
            keywords.update({key: value for key, value in record.items() if key in KEYWORDS})
            from_record = "cassette" in record
    options = build_options(keywords, where=item.nodeid)
    try:
        path = cassette_path(
            item.path,
            item.nodeid,
            cassette_dir,
            options.cassette,
            project_root=item.config.rootpath,
            absolute_allowed=not from_record,  # a data set is input, not the test's own code
        )
    except CaseOptionsError as error:
        origin = f"record {dataset.kwargs['path']}" if from_record and dataset else "@llm_case"
        raise CaseOptionsError(f"{item.nodeid}: {origin} {error}") from None
    case = Case(
        nodeid=item.nodeid,
        options=options,
        module_dir=item.path.parent,
        cassette=CassetteView(path=path, shown=shown_path(path, item.config.rootpath)),
    )
    if dataset is not None:
        record = item.callspec.params.get("case") if hasattr(item, "callspec") else None
        case.dataset = {
            "path": shown_path(Path(dataset.kwargs["path"]), item.config.rootpath),
            "min_pass_rate": dataset.kwargs.get("min_pass_rate"),
            "size": dataset.kwargs.get("size"),
            "record": dataset.kwargs.get("record_ids", {}).get(id(record)),
        }
    return case


def collisions(
    cases: Iterable[tuple[pytest.Item, Case]],
) -> list[tuple[pytest.Item, pytest.Item, str]]:
    """Pairs of tests that would record the same cassette file, with the message to fail them."""
    owners: dict[Path, pytest.Item] = {}
    found = []
    for item, case in cases:
        other = owners.setdefault(case.path, item)
        if other is not item:
            found.append(
                (
                    other,
                    item,
                    f"pytest-llm: {other.nodeid} and {item.nodeid} would both record "
                    f"{case.cassette.shown}; give one of them its own @llm_case(cassette=...).",
                )
            )
    return found


def shown_path(path: Path, root: Path) -> str:
    """``path`` as messages show it: relative to the rootdir when inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
