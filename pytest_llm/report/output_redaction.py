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

import contextlib
import contextvars
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest

Scrub = Callable[[str], str]


def redact_report(report: pytest.TestReport, scrub: Scrub) -> None:
    """Scrub the failure representation, the captured sections and the user properties
    (``record_property``: the JUnit XML) of ``report`` in place."""
    if report.user_properties:
        report.user_properties = [
            (name, _scrubbed(value, scrub, set())) for name, value in report.user_properties
        ]
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


_MAX_PENDING = 64 * 1024


class Secrets(Protocol):
    """What a :class:`ScrubbingWriter` asks of a scrubber."""

    def text(self, text: str) -> str: ...

    def spans(self, text: str) -> list[tuple[int, int]]: ...

    def longest_multiline_secret(self) -> int: ...


class ScrubbingWriter:
    """A text stream that scrubs what it passes on, line by line (``-s``, ``--capture=tee-sys``).

    Text is held until its line ends, so a secret printed in several ``write`` calls is seen
    whole; when a known secret spans lines, enough lines are held to see it whole too.
    Everything else is the wrapped stream's.
    """

    def __init__(self, stream: Any, secrets: Secrets) -> None:
        self._stream = stream
        self._secrets = secrets
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        cut = self._safe_cut()
        if cut:
            self._stream.write(self._secrets.text(self._pending[:cut]))
            self._pending = self._pending[cut:]
        if len(self._pending) > _MAX_PENDING:
            self.flush()
        return len(text)

    def _safe_cut(self) -> int:
        """How much of the held text can go out: whole lines, keeping back as many characters
        as the longest secret that spans lines, and never cutting through a secret."""
        pending = self._pending
        hold = self._secrets.longest_multiline_secret()
        cut = pending.rfind("\n", 0, max(len(pending) - hold, 0)) + 1
        if hold and cut:
            spans = self._secrets.spans(pending)
            while cut and any(start < cut < end for start, end in spans):
                cut = pending.rfind("\n", 0, cut - 1) + 1
        return cut

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Pass on complete lines only: a streamed answer printed piece by piece with
        ``flush=True`` shows line by line, so no piece of a secret gets out alone. An unfinished
        line goes out when it grows past 64 KiB, or at :meth:`close`."""
        if len(self._pending) > _MAX_PENDING:
            self._stream.write(self._secrets.text(self._pending))
            self._pending = ""
        self._stream.flush()

    def close(self) -> None:
        """Pass on what is left (the end of an LLM case's phase); the stream stays open."""
        if self._pending:
            self._stream.write(self._secrets.text(self._pending))
            self._pending = ""
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


# --------------------------------------------------------------------------- assertion values


@contextlib.contextmanager
def scrubbed_assertion_reprs(scrub: Scrub) -> Iterator[None]:
    """While the block runs, pytest's rewritten asserts show values scrubbed.

    They show intermediate values through ``_pytest.assertion.rewrite._saferepr``, which
    escapes newlines and shortens long strings: an escaped or shortened secret could no longer be
    found in the failure text afterwards, so values are scrubbed before they are shown.
    (pytest has no public hook for this; without the helper, nothing is patched.)
    """
    from _pytest.assertion import rewrite

    original = getattr(rewrite, "_saferepr", None)
    if original is None:
        yield
        return

    def saferepr(obj: object) -> str:
        cleaned, changed = _scrubbed_data(obj, scrub)
        return str(original(cleaned if changed else obj))

    rewrite._saferepr = saferepr
    try:
        yield
    finally:
        rewrite._saferepr = original


def redact_warning(warning_message: Any, scrub: Scrub) -> None:
    """Scrub a recorded warning's message in place (``warnings.WarningMessage``)."""
    message = warning_message.message
    text = str(message)
    cleaned = scrub(text)
    if cleaned == text:
        return
    try:
        warning_message.message = (
            type(message)(cleaned) if isinstance(message, Warning) else cleaned
        )
    except Exception:  # a warning class whose constructor wants other arguments
        warning_message.message = UserWarning(cleaned)
