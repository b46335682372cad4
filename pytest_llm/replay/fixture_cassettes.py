"""Cassettes of fixtures wider than a test (class, module, package, session scope).

The requests such a fixture makes while it is set up or torn down (a session fixture that
embeds the documents of a retrieval index) go to the fixture's own cassette, beside the
cassettes of the module that defines it (:func:`pytest_llm.cassette.paths.fixture_cassette_path`).
It is replayed, recorded and scrubbed as a case's cassette is, through the same recorder and
writer. One cassette stays open from the fixture's setup to its teardown (for a session
fixture: the end of the run) and is written then, once, atomically.

Only fixtures that a selected LLM case uses get a cassette; function-scoped fixtures are none
of this module's business. In ``--llm-record`` a fixture whose cassette exists replays what it
answers and records the rest live (a fixture's setup cannot be run again after a miss, as a
case's body is); the cassette is rewritten only when something went live.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import os
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any

import pytest

from pytest_llm.case.collection import shown_path
from pytest_llm.case.state import Case
from pytest_llm.cassette import file_format, matching, paths
from pytest_llm.cassette.interaction import Interaction
from pytest_llm.config.settings import Mode
from pytest_llm.errors import CaseOptionsError, CassetteError, RecordingError
from pytest_llm.replay import case_runner
from pytest_llm.replay.recorder import CassetteRecorder, MissContext
from pytest_llm.replay.session_machinery import Engine
from pytest_llm.report.controller import FIXTURE_OUTPUT_KEY

#: Key of the list of plain dicts an xdist worker sends to the controller in ``workeroutput``.
WORKER_OUTPUT_KEY = FIXTURE_OUTPUT_KEY

#: Packages whose fixtures never get a cassette of their own.
_PLUGIN_PACKAGES = frozenset({"pytest_llm", "_pytest", "pytest", "xdist"})


@dataclasses.dataclass
class FixtureCassette:
    """One fixture instance's cassette, from its setup to its teardown."""

    label: str  # "fixture 'docs_index' (session scope, conftest.py)"
    path: Path
    shown: str
    module_dir: Path
    recorder: CassetteRecorder
    previous: list[Interaction]
    phase: str = "setup"
    failed: bool = False  # the setup or teardown raised: nothing is written
    closed: bool = False
    active: contextlib.ExitStack | None = None


def _no_call(interaction: Interaction) -> None:
    """A fixture has no ``llm_calls``: its calls are counted by no case."""


class FixtureCassettes:
    """The fixture cassettes of a session (one per process: under xdist every worker sets up
    its own session fixtures)."""

    def __init__(self, engine: Engine, root: Path, case_of: Callable[[Any], Case | None]) -> None:
        self.engine = engine
        self.root = root
        self._case_of = case_of
        self._wanted: dict[int, Any] = {}  # id(fixturedef) -> fixturedef
        self._projects: dict[int, tuple[Any, bool]] = {}  # id -> (fixturedef, the project's)
        self._stack: list[FixtureCassette] = []  # intercepted now (the top) or suspended
        #: what each fixture cassette did, as plain dicts (``fixture``, ``cassette``,
        #: ``action``: recorded / replayed / not recorded, ``dropped``)
        self.outcomes: list[dict[str, Any]] = []

    # -- which fixtures ------------------------------------------------------------------

    def want(self, items: Iterable[tuple[pytest.Item, object]]) -> None:
        """Remember the wider-than-function fixtures that the LLM cases among ``items`` use."""
        for item, case in items:
            info = getattr(item, "_fixtureinfo", None)
            if case is None or info is None:
                continue
            for fixturedefs in info.name2fixturedefs.values():
                for fixturedef in fixturedefs:
                    if fixturedef.scope != "function" and self._is_the_projects(fixturedef):
                        self._wanted[id(fixturedef)] = fixturedef

    def _is_the_projects(self, fixturedef: Any) -> bool:
        """Defined in the project (a module or conftest), not by an installed plugin (pytest's
        own, xdist's, this plugin's ``llm_server``): those call no LLM API."""
        if fixturedef.baseid:
            return True
        function = inspect.unwrap(fixturedef.func)
        if str(getattr(function, "__module__", "")).split(".")[0] in _PLUGIN_PACKAGES:
            return False
        try:
            source = inspect.getsourcefile(function)
        except (TypeError, ValueError):
            return False
        if source is None or "site-packages" in Path(source).parts:
            return False
        return Path(os.path.abspath(source)).is_relative_to(self.root)

    def wanted(self, fixturedef: Any) -> bool:
        return self._wanted.get(id(fixturedef)) is fixturedef

    def case_fixture(self, fixturedef: Any, request: Any) -> Case | None:
        """The LLM case whose function-scoped project fixture ``fixturedef`` is, if it is one."""
        if fixturedef.scope != "function":
            return None
        case = self._case_of(request.node)
        if case is None:
            return None
        known = self._projects.get(id(fixturedef))
        if known is None or known[0] is not fixturedef:
            known = self._projects[id(fixturedef)] = (fixturedef, self._is_the_projects(fixturedef))
        return case if known[1] else None

    def paths(self) -> list[Path]:
        """Every cassette the wanted fixtures use (each parameter of a parametrized one)."""
        found = []
        for fixturedef in self._wanted.values():
            for name in _names(fixturedef):
                try:
                    found.append(self._path(fixturedef, name))
                except CaseOptionsError:
                    continue
        return found

    def _path(self, fixturedef: Any, name: str) -> Path:
        return paths.fixture_cassette_path(
            self.root, fixturedef.baseid, name, self.engine.settings.cassette_dir
        )

    # -- around a fixture's setup and teardown ------------------------------------------

    def setting_up(self, fixturedef: Any, request: Any) -> Generator[None, Any, Any]:
        """The body of the ``pytest_fixture_setup`` wrapper for a wanted fixture."""
        if self.engine.interceptor.busy and not self._stack:
            # set up inside a case's body (request.getfixturevalue): the case's cassette holds it
            return (yield)
        message: str | None = None
        try:
            cassette = self._open(fixturedef, request)
        except (RecordingError, CassetteError, CaseOptionsError) as error:
            message = str(error)
        if message is not None:  # outside the except block: no "during handling" chain
            pytest.fail(message, pytrace=False)
        fixturedef.addfinalizer(functools.partial(self._close, cassette))  # runs last
        self._enter(cassette, "setup")
        try:
            result = yield
        except BaseException:
            self._leave(cassette)
            cassette.failed = True
            if cassette.recorder.misses:
                self._fail_cached(fixturedef, request, str(cassette.recorder.misses[0]))
            raise
        self._leave(cassette)
        if cassette.recorder.misses:  # swallowed by the fixture: still a miss
            cassette.failed = True
            self._fail_cached(fixturedef, request, str(cassette.recorder.misses[0]))
        fixturedef.addfinalizer(functools.partial(self._enter, cassette, "teardown"))  # first
        return result

    # -- a case's function-scoped fixtures: their calls go to the case's cassette ----------

    def case_setting_up(self, case: Case, fixturedef: Any) -> Generator[None, Any, Any]:
        """The ``pytest_fixture_setup`` wrapper for a function-scoped fixture of an LLM case:
        its setup's and teardown's calls are the case's, tagged ``phase: setup|teardown``."""
        if self.engine.interceptor.busy and not self._stack:
            return (yield)  # set up inside the case's body: the body's calls
        message: str | None = None
        try:
            recorder = self._phase_recorder(case, "setup")
        except CassetteError as error:
            message = str(error)
        if message is not None:
            pytest.fail(message, pytrace=False)
        entry = FixtureCassette(
            label=case.nodeid,  # a refused connection: "<node id> (setup) tried to ..."
            path=case.path,
            shown=case.cassette.shown,
            module_dir=case.module_dir or self.root,
            recorder=recorder,
            previous=[],
        )
        fixturedef.addfinalizer(functools.partial(self._leave, entry))  # runs last
        self._enter(entry, "setup")
        try:
            result = yield
        except BaseException:
            self._leave(entry)
            if recorder.misses:
                pytest.fail(str(recorder.misses[0]), pytrace=False)
            raise
        self._leave(entry)
        if recorder.misses:
            pytest.fail(str(recorder.misses[0]), pytrace=False)
        fixturedef.addfinalizer(functools.partial(self._case_teardown, case, entry))  # first
        return result

    def _case_teardown(self, case: Case, entry: FixtureCassette) -> None:
        entry.recorder = self._phase_recorder(case, "teardown")
        self._enter(entry, "teardown")

    def _phase_recorder(self, case: Case, phase: str) -> CassetteRecorder:
        """The case's recorder of its fixtures' ``phase``, made on first use."""
        known = case.fixture_setup if phase == "setup" else case.fixture_teardown
        if known is not None:
            return known
        exists = case.path.exists()
        if case.fixture_previous is None:
            case.fixture_previous = file_format.read_cassette(case.path) if exists else []
        mode = self.engine.settings.mode
        recorder = CassetteRecorder(
            case.path,
            []
            if mode is Mode.RERECORD
            else [item for item in case.fixture_previous if item.phase == phase],
            recording=mode is not Mode.REPLAY,
            replay_first=mode is Mode.RECORD and exists,
            scrubber=self.engine.scrubber,
            on_call=_no_call,
            miss_context=MissContext(
                nodeid=case.nodeid,
                shown_path=case.cassette.shown or str(case.path),
                record_command=case.record_command(Mode.RECORD),
                cassette_exists=exists,
            ),
            bypass=self.engine.allowed_hosts,
        )
        if phase == "setup":
            case.fixture_setup = recorder
        else:
            case.fixture_teardown = recorder
        return recorder

    def finish_case(self, case: Case) -> None:
        """After the case's teardown: fail it on a teardown miss; when recording, write the
        cassette again with its fixtures' teardown calls."""
        teardown = case.fixture_teardown
        if teardown is None:
            return
        if teardown.misses:
            pytest.fail(str(teardown.misses[0]), pytrace=False)
        if not teardown.recording or (case.cassette.mode == "record" and not case.recorded):
            return  # replayed, or the body's recording failed: nothing is saved
        if not case.recorded and not teardown.live:
            return  # the setup, the body and the teardown all replayed
        previous = case.fixture_previous or []
        base = case.cassette.interactions if case.recorded else previous
        message: str | None = None
        try:
            case_runner.store(
                self.engine,
                who=case.nodeid,
                path=case.path,
                shown=case.cassette.shown or str(case.path),
                module_dir=case.module_dir,
                recorder=teardown,
                new=[item for item in base if item.phase != "teardown"]
                + case_runner.phase_interactions(teardown.new, "teardown"),
                previous=previous,
                outcome=None,
                tools=case.cassette.tool_calls,
            )
        except RecordingError as error:
            message = str(error)
        if message is not None:
            pytest.fail(message, pytrace=False)

    def _open(self, fixturedef: Any, request: Any) -> FixtureCassette:
        mode = self.engine.settings.mode
        name = _name(fixturedef, getattr(request, "param_index", 0))
        path = self._path(fixturedef, name)
        module = fixturedef.baseid.partition("::")[0]
        located = self.root / module if module else self.root
        module_path = located if located.suffix == ".py" else located / "conftest.py"
        label = f"fixture {name!r} ({fixturedef.scope} scope, {shown_path(module_path, self.root)})"
        existing = file_format.read_cassette(path) if path.exists() else None
        recording = mode is Mode.RERECORD or (mode is Mode.RECORD and existing is None)
        if recording:
            case_runner.check_credentials(self.engine.settings)
        item = getattr(request, "_pyfuncitem", None)
        command_target = f" '{item.nodeid}'" if item is not None else ""
        shown = shown_path(path, self.root)
        recorder = CassetteRecorder(
            path,
            [] if mode is Mode.RERECORD else existing or [],
            recording=mode is not Mode.REPLAY,
            replay_first=mode is Mode.RECORD and existing is not None,
            scrubber=self.engine.scrubber,
            on_call=_no_call,
            miss_context=MissContext(
                nodeid=label,
                shown_path=shown,
                record_command=f"pytest --llm-record{command_target}",
                cassette_exists=existing is not None,
            ),
            bypass=self.engine.allowed_hosts,
        )
        return FixtureCassette(
            label=label,
            path=path,
            shown=shown,
            module_dir=module_path.parent,
            recorder=recorder,
            previous=existing or [],
        )

    def _fail_cached(self, fixturedef: Any, request: Any, message: str) -> None:
        """Fail the setup with the miss, and let every later test of the fixture see it."""
        try:
            pytest.fail(message, pytrace=False)
        except pytest.fail.Exception as failure:
            cached = fixturedef.cached_result
            key = cached[1] if cached is not None else fixturedef.cache_key(request)
            old = cached[2] if cached is not None else None
            # pytest >= 8.1 caches (exception, traceback); 8.0 the exception itself
            stored: Any = (
                failure
                if old is not None and not isinstance(old, tuple)
                else (
                    failure,
                    failure.__traceback__,
                )
            )
            fixturedef.cached_result = (None, key, stored)
            raise failure from None

    # -- interception: the fixture being set up or torn down is intercepted, the others wait

    def _enter(self, cassette: FixtureCassette, phase: str) -> None:
        if cassette.failed or cassette.closed:
            return
        if self._stack:
            self._suspend(self._stack[-1])
        elif self.engine.interceptor.busy:  # a case's body holds the interception
            return
        cassette.phase = phase
        self._stack.append(cassette)
        self._resume(cassette)

    def _leave(self, cassette: FixtureCassette) -> None:
        if cassette not in self._stack:
            return
        self._suspend(cassette)
        self._stack.remove(cassette)
        if self._stack:
            self._resume(self._stack[-1])

    def _suspend(self, cassette: FixtureCassette) -> None:
        if cassette.active is not None:
            active, cassette.active = cassette.active, None
            active.close()

    def _resume(self, cassette: FixtureCassette) -> None:
        recorder = cassette.recorder
        stack = contextlib.ExitStack()
        stack.enter_context(
            self.engine.interceptor.intercepting(
                recorder,
                block_network=not recorder.recording,
                allowed_hosts=self.engine.allowed_hosts,
                where=f"{cassette.label} ({cassette.phase})",
            )
        )
        cassette.active = stack

    # -- the end: after the fixture's teardown ------------------------------------------

    def _close(self, cassette: FixtureCassette) -> None:
        if cassette.closed:
            return
        cassette.closed = True
        self._leave(cassette)
        recorder = cassette.recorder
        if cassette.failed:
            self._outcome(cassette, "not recorded" if recorder.recording else "failed")
            return
        if recorder.misses:  # in the teardown
            pytest.fail(str(recorder.misses[0]), pytrace=False)
        if not recorder.recording or (recorder.replay_first and not recorder.live):
            self._outcome(cassette, "replayed")
            return
        if not recorder.new and not cassette.path.exists():
            return  # a fixture that calls no API gets no cassette
        try:
            interactions = case_runner.store(
                self.engine,
                who=cassette.label,
                path=cassette.path,
                shown=cassette.shown,
                module_dir=cassette.module_dir,
                recorder=recorder,
                new=recorder.new,
                previous=cassette.previous,
                outcome=None,
            )
        except RecordingError as error:
            self._outcome(cassette, "not recorded")
            message = str(error)
        else:
            self._outcome(
                cassette, "recorded", matching.unused_count(cassette.previous, interactions)
            )
            return
        pytest.fail(message, pytrace=False)

    def _outcome(self, cassette: FixtureCassette, action: str, dropped: int = 0) -> None:
        self.outcomes.append(
            {
                "fixture": cassette.label,
                "cassette": cassette.shown,
                "action": action,
                "dropped": dropped,
            }
        )


def _names(fixturedef: Any) -> list[str]:
    params = fixturedef.params
    if not params:
        return [fixturedef.argname]
    return [_name(fixturedef, index) for index in range(len(params))]


def _name(fixturedef: Any, param_index: int) -> str:
    """The fixture's name, with ``[index]`` for each parameter of a parametrized fixture."""
    return f"{fixturedef.argname}[{param_index}]" if fixturedef.params else fixturedef.argname
