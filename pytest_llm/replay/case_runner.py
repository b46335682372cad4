"""Run a case's test body against its cassette: replay, record, or replay-else-record."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pytest_llm import providers
from pytest_llm.case import sequential
from pytest_llm.case.state import Case
from pytest_llm.cassette import file_format, matching, paths, scrubbing, verification
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
    body_part = None if existing is None else body_interactions(existing)
    old_tools = list(case.cassette.tool_calls)
    if mode is Mode.REPLAY:
        if existing is not None:
            _check_expiry(engine, case)
        _replay(engine, case, body_part, body, recordable=False)
        return
    setup_changed = case.fixture_setup is not None and case.fixture_setup.live > 0
    if mode is Mode.RECORD and body_part is not None and not setup_changed:
        try:
            _replay(engine, case, body_part, body, recordable=True)
            return
        except _RecordingNeeded:
            case.calls.reset()
    if mode is Mode.RERECORD:
        case.before = _run_before(engine, case, body_part, body) if body_part is not None else None
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


def body_interactions(interactions: Sequence[Interaction]) -> list[Interaction]:
    """The test body's interactions of a case's cassette (not its function fixtures')."""
    return [interaction for interaction in interactions if interaction.phase is None]


def phase_interactions(interactions: Sequence[Interaction], phase: str) -> list[Interaction]:
    """The interactions of a case's cassette that its function fixtures made in ``phase``,
    tagged so (a fresh recording's are not yet)."""
    return [
        interaction if interaction.phase == phase else dataclasses.replace(interaction, phase=phase)
        for interaction in interactions
    ]


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
    check_credentials(engine.settings)
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
    setup = case.fixture_setup
    old_teardown = [item for item in previous if item.phase == "teardown"]  # until the teardown
    recorded_tools = stable_order(tools.new, previous_tools)
    interactions = store(
        engine,
        who=case.nodeid,
        path=case.path,
        shown=case.cassette.shown or str(case.path),
        module_dir=case.module_dir,
        recorder=recorder,
        new=(phase_interactions(setup.new, "setup") if setup is not None else [])
        + recorder.new
        + old_teardown,
        previous=previous,
        outcome=outcome,
        tools=recorded_tools,
        tool_problem=_tool_problem(tools),
    )
    case.cassette.interactions = interactions
    case.cassette.tool_calls = recorded_tools
    case.live_tool_calls = list(tools.live) if tools.replays_old_results else None
    case.recorded = True
    case.dropped = matching.unused_count(previous, interactions)
    if outcome is not None:
        raise outcome


def _tool_problem(tools: ToolSession) -> str | None:
    return str(tools.failures[0]).removeprefix("pytest-llm: ") if tools.failures else None


def store(
    engine: Engine,
    *,
    who: str,
    path: Path,
    shown: str,
    module_dir: Path | None,
    recorder: CassetteRecorder,
    new: Sequence[Interaction],
    previous: Sequence[Interaction],
    outcome: BaseException | None,
    tools: Sequence[ToolCall] = (),
    tool_problem: str | None = None,
) -> list[Interaction]:
    """Write ``new`` (what ``recorder`` recorded for ``who``, a case or a fixture) and the tool
    calls ``tools`` to ``path``, atomically and only when the text changed, stabilized against
    ``previous``, and mark it verified now; or a RecordingError saying why nothing was saved
    (the old cassette then stays as it was): a failed request or tool call (``tool_problem``),
    or a body that ``outcome`` stopped before its verdict (see :func:`_is_verdict`)."""
    problem = (
        _unstorable(recorder, outcome)
        or tool_problem
        or providers.missing_credentials_hint(outcome)
    )
    kept = f"the old cassette {shown} is unchanged" if path.exists() else "no cassette was written"
    if problem is None and outcome is not None and not _is_verdict(outcome):
        problem = f"the test raised {_first_line(outcome)} before it finished"
    if problem:
        raise RecordingError(
            f"pytest-llm: recording {who} failed: {problem}; nothing was saved ({kept})."
        ) from outcome
    # once more, now that the case taught the scrubber every credential it used: a token that
    # an earlier answer handed out and a later request sent is scrubbed in that answer too
    rescrubbed = [scrubbing.scrubbed_interaction(item, engine.scrubber) for item in new]
    interactions = stabilize(rescrubbed, previous)
    text = file_format.render_cassette(interactions, tools)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        try:
            clean_stale = module_dir is not None and paths.inside_cassette_root(
                path, module_dir, engine.settings.cassette_dir
            )
            file_format.write_atomically(path, text, clean_stale=clean_stale)
        except OSError as error:
            raise RecordingError(
                f"pytest-llm: recording {who} could not be saved to "
                f"{shown}: {error.strerror or error} ({kept})."
            ) from outcome
    try:  # it ran against the live API: the cassette is verified now, changed or not
        verification.mark_verified(path, verification.now())
    except (OSError, CassetteError) as error:
        reason = error.strerror or str(error) if isinstance(error, OSError) else str(error)
        raise RecordingError(
            f"pytest-llm: {who}: the cassette was saved, but its verification date "
            f"could not be written to {verification.sidecar_of(path)}: {reason}"
        ) from None
    return interactions


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


def check_credentials(settings: Settings) -> None:
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
