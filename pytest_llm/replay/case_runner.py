"""Run a case's test body against its cassette: replay, record, or replay-else-record."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Sequence

import pytest

from pytest_llm import providers
from pytest_llm.case import sequential
from pytest_llm.case.state import Case
from pytest_llm.cassette import file_format, paths, verification
from pytest_llm.cassette.interaction import Interaction
from pytest_llm.cassette.stabilizing import stabilize
from pytest_llm.cassette.tool_calls import ToolCall, stable_order
from pytest_llm.config.settings import Mode, Settings, is_loopback_url
from pytest_llm.errors import (
    CassetteError,
    CassetteExpired,
    CassetteExpiredWarning,
    PytestLLMError,
    RecordingError,
    ReplayMiss,
)
from pytest_llm.providers import openai as openai_api
from pytest_llm.replay import active_case
from pytest_llm.replay.recorded_tools import ToolSession
from pytest_llm.replay.recorder import CassetteRecorder, MissContext
from pytest_llm.replay.session_machinery import Engine


@dataclasses.dataclass(frozen=True)
class Before:
    """How a re-recorded case did on its old cassette: passed / failed, or None (new)."""

    outcome: str | None
    samples: tuple[int, int] | None
    #: Why it failed there (scrubbed, first 500 characters), for a FIXED case's report.
    message: str | None = None


class _RecordingNeeded(Exception):
    """Internal: in --llm-record mode the old cassette no longer matches."""


def run(engine: Engine, case: Case, body: Callable[[], object]) -> None:
    """Run ``body`` once with the case's cassette, in the session's mode."""
    with active_case.running(engine, case):
        try:
            _run(engine, case, body)
        finally:
            case.tool_session = None


def _run(engine: Engine, case: Case, body: Callable[[], object]) -> None:
    mode = engine.settings.mode
    existing = _load(case)
    old_tools = list(case.cassette.tool_calls)
    if mode is Mode.REPLAY:
        if existing is not None:
            _check_expiry(engine, case)
        _replay(engine, case, existing, body, recordable=False)
        return
    if mode is Mode.RECORD and existing is not None:
        try:
            _replay(engine, case, existing, body, recordable=True)
            return
        except _RecordingNeeded:
            case.calls.reset()
    if mode is Mode.RERECORD:
        case.before = _run_before(engine, case, existing, body) if existing is not None else None
        case.rerecorded = True
        case.previous = existing
        case.calls.reset()
    replayed_tools = (
        old_tools if engine.settings.tools == "replay" and existing is not None else None
    )
    _record(engine, case, existing or [], body, old_tools=replayed_tools, previous_tools=old_tools)


def _check_expiry(engine: Engine, case: Case) -> None:
    """In replay: warn, or fail (``llm_on_expiry``), when the case's cassette was verified
    against the live API longer ago than its ``max_age`` (else ``llm_max_age``) allows."""
    max_age_s = case.options.max_age_s or engine.settings.max_age_s
    if max_age_s is None:
        return
    verified = engine.verification.verified_at(case.path)
    stale = verification.staleness(case.path, verified, max_age_s, verification.now())
    if stale is None:
        return
    message = (
        f"pytest-llm: {case.nodeid}: the cassette {case.cassette.shown or case.path} "
        f"{stale.describe()}; re-record it against the live API: {case.record_command(Mode.RERECORD)}"
    )
    if engine.settings.on_expiry == "fail":
        raise CassetteExpired(message + " (or set llm_on_expiry = warn)")
    warnings.warn(CassetteExpiredWarning(message), stacklevel=1)


def _run_before(
    engine: Engine, case: Case, existing: list[Interaction], body: Callable[[], object]
) -> Before:
    """The case's outcome on its old cassette, each call answered by position (see comparison)."""
    recorder = _recorder(
        engine, case, existing, recording=False, positional=True, tools=case.cassette.tool_calls
    )
    case.stop_sampling = sequential.replay_rule(recorder.exhausted)
    outcome: str | None = "passed"
    message: str | None = None
    try:
        with engine.interceptor.intercepting(
            recorder, block_network=True, allowed_hosts=engine.allowed_hosts
        ):
            body()
    except ReplayMiss:
        outcome = None  # more calls than the old cassette recorded: a new case
    except pytest.skip.Exception:
        outcome = None
    except (Exception, pytest.fail.Exception) as error:
        outcome = "failed"
        text = f"{type(error).__name__}: {error}".strip()
        message = engine.scrubber.text(text if len(text) <= 500 else text[:499] + "…")
    if recorder.misses or (case.tool_session is not None and case.tool_session.misses):
        outcome = None
    results, case.samples = case.samples, None
    sampled = results is not None and case.options.samples > 1
    counts = (results.passed, results.total) if results is not None and sampled else None
    return Before(outcome=outcome, samples=counts, message=message)


def _load(case: Case) -> list[Interaction] | None:
    if not case.path.exists():
        return None
    contents = file_format.read_cassette_file(case.path)
    case.cassette.interactions = contents.interactions
    case.cassette.tool_calls = contents.tool_calls
    return contents.interactions


def _recorder(
    engine: Engine,
    case: Case,
    recorded: list[Interaction],
    *,
    recording: bool,
    positional: bool = False,
    tools: Sequence[ToolCall] = (),
    old_tools: Sequence[ToolCall] | None = None,
) -> CassetteRecorder:
    """The pass's cassette recorder; the pass's :class:`ToolSession` goes to ``case``:
    replaying ``tools``, or recording (``old_tools`` answering what they recorded)."""
    # a new pass through a cassette: what the last pass cached (embeddings) was not recorded here
    case.embeddings = {}
    miss_context = MissContext(
        nodeid=case.nodeid,
        shown_path=case.cassette.shown or str(case.path),
        record_command=case.record_command(Mode.RECORD),
        cassette_exists=case.path.exists(),
    )
    case.tool_session = ToolSession(
        tools,
        recording=recording,
        scrubber=engine.scrubber,
        miss_context=miss_context,
        positional=positional,
        previous=old_tools,
    )
    return CassetteRecorder(
        case.path,
        recorded,
        recording=recording,
        scrubber=engine.scrubber,
        on_call=case.calls.add,
        miss_context=miss_context,
        positional=positional,
        bypass=engine.allowed_hosts,
    )


def _replay(
    engine: Engine,
    case: Case,
    existing: list[Interaction] | None,
    body: Callable[[], object],
    *,
    recordable: bool,
) -> None:
    case.cassette.mode = "replay"
    recorder = _recorder(
        engine, case, existing or [], recording=False, tools=case.cassette.tool_calls
    )
    case.stop_sampling = sequential.replay_rule(recorder.exhausted)
    tools = case.tool_session
    assert tools is not None
    try:
        with engine.interceptor.intercepting(
            recorder, block_network=True, allowed_hosts=engine.allowed_hosts
        ):
            body()
    except BaseException as error:
        misses = recorder.misses + tools.misses
        if not misses:
            raise
        if recordable:
            raise _RecordingNeeded from None
        raise misses[0] from (None if isinstance(error, ReplayMiss) else error)
    misses = recorder.misses + tools.misses
    if misses:  # swallowed by the application: still a miss
        if recordable:
            raise _RecordingNeeded
        raise misses[0]
    if tools.failures:  # swallowed too: a call that cannot be replayed
        raise tools.failures[0]


def _record(
    engine: Engine,
    case: Case,
    previous: list[Interaction],
    body: Callable[[], object],
    *,
    old_tools: list[ToolCall] | None = None,
    previous_tools: Sequence[ToolCall] = (),
) -> None:
    """Record the case afresh; ``old_tools`` (``--llm-tools replay``) answer the tool calls
    whose arguments they recorded; ``previous_tools`` (the old cassette's) keep the order of
    an unchanged set of calls."""
    case.cassette.mode = "record"
    _check_credentials(engine.settings)
    recorder = _recorder(engine, case, [], recording=True, old_tools=old_tools)
    tools = case.tool_session
    assert tools is not None
    compared = case.before is not None and case.before.outcome is not None
    case.stop_sampling = sequential.recording_rule(
        case.options, case.before.samples if compared and case.before is not None else None
    )
    outcome: BaseException | None = None
    try:
        with engine.interceptor.intercepting(recorder, block_network=False):
            body()
    except BaseException as error:  # decide below whether the recording may be kept
        outcome = error
    if outcome is not None and not isinstance(outcome, Exception) and not _is_test_outcome(outcome):
        raise outcome  # KeyboardInterrupt, SystemExit, skip: keep the old cassette untouched
    problem = (
        _unstorable(recorder, outcome)
        or (str(tools.failures[0]).removeprefix("pytest-llm: ") if tools.failures else None)
        or providers.missing_credentials_hint(outcome)
    )
    kept = (
        f"the old cassette {case.cassette.shown or case.path} is unchanged"
        if case.path.exists()
        else "no cassette was written"
    )
    if problem is None and outcome is not None and not _is_verdict(outcome):
        problem = f"the test raised {_first_line(outcome)} before it finished"
    if problem:
        raise RecordingError(
            f"pytest-llm: recording {case.nodeid} failed: {problem}; nothing was saved ({kept})."
        ) from outcome
    interactions = stabilize(recorder.new, previous)
    case.cassette.interactions = interactions
    recorded_tools = stable_order(tools.new, previous_tools)
    case.cassette.tool_calls = recorded_tools
    case.live_tool_calls = list(tools.live) if tools.replays_old_results else None
    text = file_format.render_cassette(interactions, recorded_tools)
    if not case.path.exists() or case.path.read_text(encoding="utf-8") != text:
        try:
            clean_stale = case.module_dir is not None and paths.inside_cassette_root(
                case.path, case.module_dir, engine.settings.cassette_dir
            )
            file_format.write_atomically(case.path, text, clean_stale=clean_stale)
        except OSError as error:
            raise RecordingError(
                f"pytest-llm: recording {case.nodeid} could not be saved to "
                f"{case.cassette.shown or case.path}: {error.strerror or error} ({kept})."
            ) from outcome
    try:  # it ran against the live API: the case is verified now, changed or not
        verification.mark_verified(case.path, verification.now())
    except (OSError, CassetteError) as error:
        reason = error.strerror or str(error) if isinstance(error, OSError) else str(error)
        raise RecordingError(
            f"pytest-llm: {case.nodeid}: the cassette was saved, but its verification date "
            f"could not be written to {verification.sidecar_of(case.path)}: {reason}"
        ) from None
    if outcome is not None:
        raise outcome


def _is_verdict(error: BaseException) -> bool:
    """A body that ended on a failed assertion (``AssertionError``, ``pytest.fail`` / xfail) or
    on a verdict of one of the plugin's helpers about the answers (a budget over an unknown
    figure, an output with no JSON, an unusable judge answer) ran to its verdict: its recording
    is complete and is saved. Any other exception (the application's, the SDK's, a missing key)
    stopped it half-way: saving would replace a good cassette with a partial one."""
    if isinstance(error, (RecordingError, CassetteError, ReplayMiss)):
        return False
    return isinstance(error, (AssertionError, PytestLLMError)) or _is_test_outcome(error)


def _first_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip().splitlines()[0]
    return text if len(text) <= 300 else text[:299] + "…"


def _is_test_outcome(error: BaseException) -> bool:
    """pytest.fail / xfail end a test body with a verdict on a complete recording; a skip does not."""
    return isinstance(error, (pytest.fail.Exception, pytest.xfail.Exception))


def _unstorable(recorder: CassetteRecorder, outcome: BaseException | None) -> str | None:
    if recorder.failures:
        failure = recorder.failures[0]
        more = f" (and {len(recorder.failures) - 1} more)" if len(recorder.failures) > 1 else ""
        return f"{failure.request}: {failure.problem}{more}"
    unanswered = recorder.unanswered()
    if unanswered:
        more = f" (and {len(unanswered) - 1} more)" if len(unanswered) > 1 else ""
        return f"{unanswered[0]}: got no response{more}{_cause(outcome)}"
    return None


def _cause(outcome: BaseException | None) -> str:
    """`` (APIConnectionError: Connection error. <- ConnectError: [Errno 111] ...)``."""
    chain: list[str] = []
    while outcome is not None and len(chain) < 3:
        chain.append(f"{type(outcome).__name__}: {outcome}")
        outcome = outcome.__cause__ or outcome.__context__
    return f" ({' <- '.join(chain)})" if chain else ""


def _check_credentials(settings: Settings) -> None:
    """Recording against the real API named by ``--llm-base-url`` needs some provider's real
    key (not a replay placeholder). Without a base URL the run's clients may be pointed anywhere
    (the local server, say): then a live answer of 401/403 names the key to set instead."""
    placeholders = providers.credential_placeholders()
    if any(os.environ.get(name) not in (None, "", value) for name, value in placeholders.items()):
        return
    if settings.base_url is None or is_loopback_url(settings.base_url):
        return
    others = ", ".join(name for name in placeholders if name != openai_api.API_KEY_VARIABLE)
    raise RecordingError(
        f"pytest-llm: recording needs an API key: set {openai_api.API_KEY_VARIABLE}"
        f"{f' (or {others})' if others else ''} (it is never written to a "
        "cassette), or point --llm-base-url at a local OpenAI-compatible server."
    )
