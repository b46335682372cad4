"""Keep secrets out of what pytest prints about an LLM case.

A case's failure can carry a secret to the terminal: the model echoes the key, the test asserts
on the answer, and pytest prints the assertion, the source lines and the captured output. Two
plain functions close that path with the same :class:`~pytest_llm.cassette.scrubbing.Scrubber` that keeps
secrets out of cassettes:

* :func:`redact_report` rewrites, in place, every string of a test report's failure
  representation (pytest's ``longrepr`` dataclasses, so colours, layout and the xdist transport
  are kept) and of its captured-output sections;
* :func:`scrubbed_operands` lets the ``pytest_assertrepr_compare`` hook explain a comparison on
  scrubbed operands. pytest shortens long strings in ``assert a == b`` lines, and a shortened
  secret (``'sk-proj-Plan...XYZ'``) no longer matches anything a scrubber can find afterwards.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

Scrub = Callable[[str], str]


def redact_report(report: pytest.TestReport, scrub: Scrub) -> None:
    """Scrub the failure representation and the captured sections of ``report`` in place."""
    if report.longrepr is not None:
        report.longrepr = _scrubbed(report.longrepr, scrub, set())
    if report.sections:
        report.sections = [(title, scrub(content)) for title, content in report.sections]
    reason = getattr(report, "wasxfail", None)
    if isinstance(reason, str):  # an xfail reason may quote the answer
        report.wasxfail = scrub(reason)


def _scrubbed(value: Any, scrub: Scrub, seen: set[int]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrubbed(item, scrub, seen) for item in value]
    if isinstance(value, tuple):
        return tuple(_scrubbed(item, scrub, seen) for item in value)
    if isinstance(value, dict):
        return {key: _scrubbed(item, scrub, seen) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and id(value) not in seen:
        seen.add(id(value))  # pytest's repr objects share parts (reprcrash): scrub each once
        for field in dataclasses.fields(value):
            current = getattr(value, field.name)
            cleaned = _scrubbed(current, scrub, seen)
            if cleaned is not current:
                object.__setattr__(value, field.name, cleaned)
    return value


def scrubbed_operands(left: object, right: object, scrub: Scrub) -> tuple[object, object] | None:
    """``(left, right)`` with secrets scrubbed, or ``None`` when neither holds one.

    Strings, and lists/dicts of them (a parsed JSON answer), are scrubbed; other objects are
    left to :func:`redact_report`, which scrubs their complete representations. The operands
    are never compared with each other or with their scrubbed copies (``==`` on an array
    would raise): a change is seen string by string.
    """
    cleaned_left, left_changed = _scrubbed_data(left, scrub)
    cleaned_right, right_changed = _scrubbed_data(right, scrub)
    if not (left_changed or right_changed):
        return None
    return cleaned_left, cleaned_right


def _scrubbed_data(value: object, scrub: Scrub) -> tuple[object, bool]:
    if isinstance(value, str):
        cleaned = scrub(value)
        return cleaned, cleaned != value
    if isinstance(value, list):
        pairs = [_scrubbed_data(item, scrub) for item in value]
        return [item for item, _ in pairs], any(changed for _, changed in pairs)
    if isinstance(value, dict):
        entries = [
            (_scrubbed_data(key, scrub), _scrubbed_data(item, scrub)) for key, item in value.items()
        ]
        cleaned_dict = {key: item for (key, _), (item, _) in entries}
        changed = any(
            key_changed or item_changed for (_, key_changed), (_, item_changed) in entries
        )
        return cleaned_dict, changed
    return value, False


_explaining: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "pytest_llm_explaining", default=False
)


def explain_comparison(
    config: pytest.Config, op: str, left: object, right: object, scrub: Scrub
) -> list[str] | None:
    """pytest's own explanation of ``left op right``, computed on scrubbed operands.

    ``None`` (pytest explains as usual) when neither operand holds a secret.
    """
    if _explaining.get():
        return None
    operands = scrubbed_operands(left, right, scrub)
    if operands is None:
        return None
    token = _explaining.set(True)
    try:
        explanations = config.hook.pytest_assertrepr_compare(
            config=config, op=op, left=operands[0], right=operands[1]
        )
    finally:
        _explaining.reset(token)
    for lines in explanations:
        if lines:
            return [scrub(line) for line in lines]
    return [f"{_shortened(operands[0])} {op} {_shortened(operands[1])}"]


_REPR_LIMIT = 240


def _shortened(value: object) -> str:
    """The repr of a scrubbed operand (str, list or dict), cut in the middle like pytest's."""
    text = repr(value)
    if len(text) <= _REPR_LIMIT:
        return text
    half = (_REPR_LIMIT - 3) // 2
    return f"{text[:half]}...{text[-half:]}"


# --------------------------------------------------------------------------- test names


def redact_item_name(item: pytest.Item, scrub: Scrub, taken: set[str]) -> None:
    """Replace a secret in ``item``'s name and node id (a key in a parametrize id), in place.

    The node id is what the terminal, the JUnit XML, the reports and the cassette file name are
    made of, so it is scrubbed once, as the item is collected. A secret becomes ``REDACTED``,
    which is stable whatever the key's value; names that would then collide get ``-2``,
    ``-3``... in collection order (the same in every xdist worker). ``taken`` holds the node
    ids given so far.
    """
    name = item.name
    cleaned = scrub(name)
    if cleaned != name and item.parent is not None:
        candidate, suffix = cleaned, 2
        while f"{item.parent.nodeid}::{candidate}" in taken:
            candidate, suffix = f"{cleaned}-{suffix}", suffix + 1
        _rename(item, candidate)
    taken.add(item.nodeid)


def _rename(item: pytest.Item, name: str) -> None:
    """Give ``item`` a new name (and so node id); pytest has no public way to rename an item."""
    assert item.parent is not None
    item.name = name
    if hasattr(item, "_id"):  # pytest 9.1+: a structured node id
        item._id = item.parent.id.child(name)
    else:  # pytest 8.x
        item._nodeid = f"{item.parent.nodeid}::{name}"  # type: ignore[attr-defined,unused-ignore]


# --------------------------------------------------------------------------- live output


class ScrubbingWriter:
    """A text stream that scrubs what it passes on, line by line (``-s``, ``--capture=tee-sys``).

    Text is held until its line ends (or the stream is flushed), so a secret printed in several
    ``write`` calls is seen whole. Everything else is the wrapped stream's.
    """

    def __init__(self, stream: Any, scrub: Scrub) -> None:
        self._stream = stream
        self._scrub = scrub
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        complete, newline, rest = self._pending.rpartition("\n")
        if newline:
            self._stream.write(self._scrub(complete + newline))
            self._pending = rest
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._pending:
            self._stream.write(self._scrub(self._pending))
            self._pending = ""
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
