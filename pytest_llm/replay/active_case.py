"""The LLM case running now, for assertion helpers that are plain functions (no fixtures).

Set by the runner for the duration of a case's body; a context variable, so each thread and
asyncio task that the test starts from its body sees it too where Python copies contexts.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_llm.case.state import Case
    from pytest_llm.replay.session_machinery import Engine


@dataclasses.dataclass(frozen=True)
class ActiveCase:
    engine: Engine
    case: Case


_active: contextvars.ContextVar[ActiveCase | None] = contextvars.ContextVar(
    "pytest_llm_active_case", default=None
)


#: The cases running in this process, for code in threads that do not copy the context
#: (a ``ThreadPoolExecutor``'s workers): see :func:`current_or_only`.
_running: list[ActiveCase] = []


@contextlib.contextmanager
def running(engine: Engine, case: Case) -> Iterator[None]:
    active = ActiveCase(engine, case)
    token = _active.set(active)
    _running.append(active)
    try:
        yield
    finally:
        _running.remove(active)
        _active.reset(token)


def current() -> ActiveCase | None:
    return _active.get()


def current_or_only() -> ActiveCase | None:
    """The running case of this context, else the only case running in the process (a thread
    started by the test body without its context), else None."""
    active = _active.get()
    if active is None and len(_running) == 1:
        return _running[0]
    return active


def require(what: str) -> ActiveCase:
    """The running case, or a usage error saying ``what`` needs one."""
    active = _active.get()
    if active is None:
        raise RuntimeError(
            f"{what} needs an LLM case: mark the test with @llm_case so that its calls are "
            "recorded and replayed from the case's cassette."
        )
    return active
