"""The pytest11 entry point: options, ini values, the marker, fixtures and thin hooks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llm.case import collection, unused_cassettes
from pytest_llm.case.datasets import DATASET_MARKER
from pytest_llm.case.options import MARKER_SIGNATURE
from pytest_llm.case.samples import run_samples
from pytest_llm.case.state import CallLog, Case, CassetteView
from pytest_llm.cassette import fast_yaml
from pytest_llm.config import environment, settings
from pytest_llm.errors import (
    BudgetConfigurationError,
    BudgetExceeded,
    CaseOptionsError,
    CassetteError,
    JudgeAnswerError,
    PassRateTooLow,
    RecordingError,
    ReplayMiss,
    ToolCallError,
)
from pytest_llm.replay import active_case, case_runner, fixture_cassettes, network_guard
from pytest_llm.replay.session_machinery import Engine
from pytest_llm.report import case_payload, output_redaction
from pytest_llm.report.controller import LLMSession
from pytest_llm.report.live_output import LiveOutputScrubbing, WarningRedaction

if TYPE_CHECKING:
    import openai

    from pytest_llm.testing import LocalOpenAIServer

ENGINE_KEY = pytest.StashKey[Engine]()
RESTORE_ENV_KEY = pytest.StashKey[Any]()
RESTORE_LIMITS_KEY = pytest.StashKey[Callable[[], None]]()
#: The test whose setup began last: the one function-scoped fixtures are set up for.
SETTING_UP_KEY = pytest.StashKey[pytest.Item]()
CASE_KEY = pytest.StashKey[Case]()
CASE_ERROR_KEY = pytest.StashKey[str]()
SESSION_KEY = pytest.StashKey[LLMSession]()
USAGE_KEY = pytest.StashKey[unused_cassettes.CassetteUsage]()
NODE_IDS_KEY = pytest.StashKey[set[str]]()
COLLECTION_GAPS_KEY = pytest.StashKey[list[str]]()
#: every item pytest_itemcollected saw, and those reported to pytest_deselected: an item in
#: neither session.items nor the deselected was dropped silently (``items[:] = [...]``)
COLLECTED_ITEMS_KEY = pytest.StashKey[list[pytest.Item]]()
DESELECTED_ITEMS_KEY = pytest.StashKey[list[pytest.Item]]()
ISOLATION_KEY = pytest.StashKey[network_guard.RunIsolation]()
FIXTURE_CASSETTES_KEY = pytest.StashKey[fixture_cassettes.FixtureCassettes]()
#: The case failed for a reason that is not the model's (a replay miss, a failed recording, a
#: bad cassette or budget): a data-set gate never tolerates it.
NOT_THE_MODEL_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llm", "LLM cases (pytest-llm)")
    group.addoption(
        "--llm-record",
        action="store_true",
        dest="llm_record",
        help="Record cases whose cassette is missing or no longer matches, against the live API; "
        "the others replay.",
    )
    group.addoption(
        "--llm-rerecord",
        action="store_true",
        dest="llm_rerecord",
        help="Record every selected case afresh against the live API, replacing its cassette.",
    )
    group.addoption(
        "--llm-model",
        dest="llm_model",
        metavar="NAME",
        help="Model for this run (llm_model fixture).",
    )
    group.addoption(
        "--llm-base-url",
        dest="llm_base_url",
        metavar="URL",
        help="Endpoint for this run; also exported as OPENAI_BASE_URL for clients the application builds.",
    )
    group.addoption(
        "--llm-tools",
        dest="llm_tools",
        choices=("live", "replay"),
        default="live",
        help="Where @llm_tool calls get their results when a case is recorded (--llm-rerecord, "
        "--llm-record): live (default) runs every tool; replay gives a call the old "
        "cassette's result for the same arguments and runs only the others live. "
        "Replay mode always replays tools.",
    )
    group.addoption(
        "--llm-prune",
        action="store_true",
        dest="llm_prune",
        help="Delete cassettes that no collected case uses (only on a run of the whole suite).",
    )
    group.addoption(
        "--llm-report",
        dest="llm_report",
        metavar="PATH",
        action="append",
        help="Write the run's LLM report: .md (Markdown) or .json (machine-readable); give it "
        "more than once for several files.",
    )
    parser.addini(
        "llm_cassette_dir",
        "Cassette folder, relative to each test module's folder (default: cassettes).",
    )
    parser.addini("llm_model", f"Default model name (default: {settings.DEFAULT_MODEL}).")
    parser.addini(
        "llm_base_url",
        "Default endpoint (exported as OPENAI_BASE_URL for the run) when neither --llm-base-url "
        "nor OPENAI_BASE_URL gives one.",
    )
    parser.addini(
        "llm_embedding_model",
        f"Embedding model for similarity (default: {settings.DEFAULT_EMBEDDING_MODEL}).",
    )
    parser.addini(
        "llm_similarity_threshold",
        f"Default threshold of assert_similar (default: {settings.DEFAULT_SIMILARITY_THRESHOLD}).",
    )
    parser.addini(
        "llm_unknown_figures",
        "A figure a budget or assert_latency needs that a call did not report (tokens, latency, "
        "time to first token): fail (default) or ignore.",
    )
    parser.addini(
        "llm_drift_method",
        "How --llm-rerecord measures how far an answer drifted: fuzzy (default) or local.",
    )
    parser.addini(
        "llm_false_discovery_rate",
        "Under --llm-rerecord, decide which sampled cases regressed or were fixed by "
        "Benjamini-Hochberg over the whole run, controlling the false discovery rate at this "
        "value in (0, 1), e.g. 0.1 (default: unset, each case at the 0.05 level).",
    )
    parser.addini(
        "llm_local_embedding_model",
        "Folder of a sentence-transformers model for similarity method 'local' (default: the one "
        "of the 'local' extra).",
    )
    parser.addini(
        "llm_max_age",
        "Longest time since a cassette was last verified against the live API (e.g. 30d, "
        "12h, 2w); older cassettes warn or fail in replay (llm_on_expiry). Default: no limit.",
    )
    parser.addini(
        "llm_max_cassette_size",
        f"Largest cassette or data set file read (e.g. 200MiB, at most "
        f"{fast_yaml.MAX_CONFIGURABLE_SHOWN}; default {fast_yaml.DEFAULT_SHOWN}): larger files "
        "are refused as hostile input.",
    )
    parser.addini(
        "llm_on_expiry",
        "What replay does with a cassette older than llm_max_age: warn (default) or fail.",
    )
    parser.addini(
        "llm_redact",
        "Regular expressions scrubbed from cassettes and output, one per line.",
        type="linelist",
    )
    parser.addini(
        "llm_prices",
        "Prices per million tokens, one 'model input output' line each (USD).",
        type="linelist",
    )
    parser.addini(
        "llm_allowed_hosts",
        "Hosts that LLM cases may still connect to in replay (e.g. a database), one per line.",
        type="linelist",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER_SIGNATURE}: make the test an LLM case whose HTTP calls are recorded to and "
        "replayed from its cassette. Provided by pytest-llm.",
    )
    config.addinivalue_line(
        "markers",
        f"{DATASET_MARKER}(path, min_pass_rate=None): set by pytest_llm.cases(): the test's "
        "records come from an evaluation data set. Provided by pytest-llm.",
    )
    selection = unused_cassettes.filter_reason(config) if config.getoption("llm_prune") else None
    if selection is not None:
        raise pytest.UsageError(
            f"--llm-prune needs a run of the whole suite, but {selection}; nothing was run or "
            "deleted. Run it without test selection to delete unused cassettes."
        )
    run_settings = settings.from_config(config)
    config.stash[RESTORE_ENV_KEY] = environment.apply(run_settings)
    config.stash[RESTORE_LIMITS_KEY] = fast_yaml.use_max_bytes(run_settings.max_cassette_bytes)
    engine = Engine(run_settings)
    config.stash[ENGINE_KEY] = engine
    if not hasattr(config, "workerinput"):  # the controller (or the only process) reports
        config.stash[SESSION_KEY] = LLMSession(
            run_settings, engine.prices, prune=bool(config.getoption("llm_prune"))
        )
        config.pluginmanager.register(config.stash[SESSION_KEY], "pytest_llm_session")
    config.pluginmanager.register(WarningRedaction(engine.scrubber.text), "pytest_llm_warnings")
    if config.getoption("capture", "fd") in ("no", "tee-sys"):  # printed live: scrub it
        config.pluginmanager.register(
            LiveOutputScrubbing(engine.scrubber, lambda item: CASE_KEY in item.stash),
            "pytest_llm_live_output",
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    isolation = config.stash.get(ISOLATION_KEY, None)
    if isolation is not None:
        isolation.stop()
        config.pluginmanager.unregister(isolation)
        del config.stash[ISOLATION_KEY]
    llm_session = config.stash.get(SESSION_KEY, None)
    if llm_session is not None:
        config.pluginmanager.unregister(llm_session)
    restore = config.stash.get(RESTORE_ENV_KEY, None)
    if restore is not None:
        restore()
    restore_limits = config.stash.get(RESTORE_LIMITS_KEY, None)
    if restore_limits is not None:
        restore_limits()
    engine = config.stash.get(ENGINE_KEY, None)
    if engine is not None:
        engine.close()


def pytest_itemcollected(item: pytest.Item) -> None:
    config = item.config
    config.stash.setdefault(COLLECTED_ITEMS_KEY, []).append(item)  # to find items dropped later
    taken = config.stash.setdefault(NODE_IDS_KEY, set())
    output_redaction.redact_item_name(item, config.stash[ENGINE_KEY].scrubber.text, taken)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    engine = config.stash[ENGINE_KEY]
    cases = []
    for item in items:
        try:
            case = collection.case_for(item, engine.settings.cassette_dir)
        except CaseOptionsError as error:
            item.stash[CASE_ERROR_KEY] = str(error)
            continue
        if case is not None:
            shown = engine.scrubber.text(str(case.path))
            if shown != str(case.path):  # a file name is never scrubbed: refuse it instead
                item.stash[CASE_ERROR_KEY] = (
                    f"{item.nodeid}: the cassette path {shown} holds a secret (shown here as "
                    "REDACTED); name the cassette without it"
                )
                continue
            item.stash[CASE_KEY] = case
            cases.append((item, case))
    if engine.settings.recording:
        # errors of both tests, not a UsageError: under xdist every worker collects, and a
        # worker's UsageError would surface as an INTERNALERROR of the controller
        for first, second, message in collection.collisions(cases):
            first.stash[CASE_ERROR_KEY] = second.stash[CASE_ERROR_KEY] = message


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    gap = unused_cassettes.collection_gap(report)
    if gap is not None:  # a module skipped (importorskip) or broken: the suite is not whole
        collector.config.stash.setdefault(COLLECTION_GAPS_KEY, []).append(gap)
    return report


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        items[0].config.stash.setdefault(DESELECTED_ITEMS_KEY, []).extend(items)
        items[0].config.stash.setdefault(COLLECTION_GAPS_KEY, []).append(
            f"{len(items)} test(s) were deselected, e.g. {items[0].nodeid}"
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    gaps = config.stash.get(COLLECTION_GAPS_KEY, [])
    dropped = unused_cassettes.dropped_items_gap(
        config.stash.get(COLLECTED_ITEMS_KEY, []),
        session.items,
        config.stash.get(DESELECTED_ITEMS_KEY, []),
    )
    gaps += [dropped] if dropped else []
    gaps += [
        f"the llm_case options of {item.nodeid} are invalid"
        for item in session.items
        if CASE_ERROR_KEY in item.stash and CASE_KEY not in item.stash
    ]
    reason = unused_cassettes.filter_reason(config)
    items = [(item, item.stash.get(CASE_KEY, None)) for item in session.items]
    fixtures = fixture_cassettes.FixtureCassettes(
        config.stash[ENGINE_KEY], config.rootpath, lambda node: node.stash.get(CASE_KEY, None)
    )
    fixtures.want(items)
    config.stash[FIXTURE_CASSETTES_KEY] = fixtures
    usage = unused_cassettes.usage_of(
        items,
        config.stash[ENGINE_KEY].settings.cassette_dir,
        gaps=([reason] if reason else []) + gaps,
        also_used=fixtures.paths(),
    )
    llm_session = config.stash.get(SESSION_KEY, None)
    if llm_session is not None:
        llm_session.usage.merge(usage.to_dict())
    else:
        config.stash[USAGE_KEY] = usage
    engine = config.stash[ENGINE_KEY]
    has_cases = any(CASE_KEY in item.stash for item in session.items)
    if not engine.settings.recording and has_cases and ISOLATION_KEY not in config.stash:
        # replay isolates the whole run: fixtures of any scope, subprocesses, late threads
        isolation = network_guard.RunIsolation(engine.allowed_hosts, "pytest --llm-record")
        isolation.start()
        config.stash[ISOLATION_KEY] = isolation
        config.pluginmanager.register(isolation, "pytest_llm_network_isolation")


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    usage = session.config.stash.get(USAGE_KEY, None)
    if (
        workeroutput is not None and usage is not None
    ):  # an xdist worker: plain data to the controller
        workeroutput[unused_cassettes.WORKER_OUTPUT_KEY] = usage.to_dict()
    fixtures = session.config.stash.get(FIXTURE_CASSETTES_KEY, None)
    llm_session = session.config.stash.get(SESSION_KEY, None)
    if fixtures is not None and workeroutput is not None:
        workeroutput[fixture_cassettes.WORKER_OUTPUT_KEY] = list(fixtures.outcomes)
    elif fixtures is not None and llm_session is not None:
        llm_session.add_fixture_outcomes(fixtures.outcomes)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """A fixture wider than a test that an LLM case uses: its requests go to its cassette."""
    fixtures = request.config.stash.get(FIXTURE_CASSETTES_KEY, None)
    if fixtures is None:
        return (yield)
    if fixtures.wanted(fixturedef):
        return (yield from fixtures.setting_up(fixturedef, request))
    case = fixtures.case_fixture(fixturedef, request)
    if case is not None:  # a function-scoped fixture of the case: the case's cassette
        return (yield from fixtures.case_setting_up(case, fixturedef))
    return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.config.stash[SETTING_UP_KEY] = item  # whose function fixtures are set up from now on
    error = item.stash.get(CASE_ERROR_KEY, None)
    if error is not None:
        pytest.fail(error, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    case = item.stash.get(CASE_KEY, None)
    if case is None:
        return (yield)
    engine = item.config.stash[ENGINE_KEY]
    original = item.runtest

    def body() -> None:
        __tracebackhide__ = True
        run_samples(case, original, engine.prices, unknown_figures=engine.settings.unknown_figures)

    def runtest() -> None:
        __tracebackhide__ = True
        message = None
        try:
            with output_redaction.scrubbed_assertion_reprs(engine.scrubber.text):
                case_runner.run(engine, case, body)
        except (
            ReplayMiss,
            RecordingError,
            CassetteError,
            BudgetConfigurationError,
            JudgeAnswerError,
            ToolCallError,
        ) as error:
            message = str(error)
            item.stash[NOT_THE_MODEL_KEY] = True  # no data-set gate tolerates it
        except (BudgetExceeded, PassRateTooLow) as error:  # the test's line, not the plugin's
            path, line, _ = item.location
            message = f"{path}:{(line or 0) + 1}: {item.name}: {error}"
        if message is not None:  # outside the except block: no "during handling" chain
            pytest.fail(message, pytrace=False)

    item.runtest = runtest  # type: ignore[method-assign]
    try:
        return (yield)
    finally:
        del item.runtest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    case = item.stash.get(CASE_KEY, None)
    if case is None:
        return report
    engine = item.config.stash[ENGINE_KEY]
    output_redaction.redact_report(report, engine.scrubber.text)  # what pytest prints of it
    if not (call.when == "call" or (call.when == "setup" and not report.passed)):
        return report
    payload = case_payload.case_payload(case, drift_method=engine.settings.drift_method)
    if report.failed and call.excinfo is not None:
        # the report and the summary print it: the same scrubbing as the cassettes
        message = engine.scrubber.text(case_payload.failure_message(call.excinfo))
        payload = dataclasses.replace(payload, message=message)
        tolerable = call.when == "call" and not item.stash.get(NOT_THE_MODEL_KEY, False)
        reason = payload.gate_tolerance() if tolerable else None
        if reason is not None:  # a gated data-set record: reported, not failed (see session)
            report.outcome = "skipped"
            report.wasxfail = reason
            payload = dataclasses.replace(payload, tolerated=reason)
    # every text of it (answers before and after, data-set record ids, tool arguments) goes to
    # the JSON and Markdown reports: scrubbed like the cassettes
    report.user_properties.append((case_payload.PROPERTY, engine.scrubber.data(payload.to_dict())))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: object, right: object
) -> list[str] | None:
    running = active_case.current()
    if running is None:
        return None
    return output_redaction.explain_comparison(
        config, op, left, right, running.engine.scrubber.text
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    try:
        result = yield
        case = item.stash.get(CASE_KEY, None)
        fixtures = item.config.stash.get(FIXTURE_CASSETTES_KEY, None)
        if case is not None and fixtures is not None:  # its function fixtures' teardown calls
            fixtures.finish_case(case)
        return result
    finally:
        case = item.stash.get(CASE_KEY, None)
        if case is not None:  # its report is made: let go of bodies and calls (10 000 cases...)
            case.release()


# --------------------------------------------------------------------------- fixtures


def _case(request: pytest.FixtureRequest) -> Case:
    return _case_of(request.node)


def _case_of(node: pytest.Item | pytest.Collector) -> Case:
    case: Case | None = node.stash.get(CASE_KEY, None)
    if case is None:
        raise pytest.UsageError(f"{node.nodeid}: pytest-llm fixtures need an LLM case")
    return case


# llm_model and llm_client take ``pytestconfig``, not ``request``: pytest builds a fixture
# definition for every ``request`` a test's fixtures ask for, which costs more than these do,
# and every replayed case uses both. The test being set up is in the stash (SETTING_UP_KEY).


@pytest.fixture
def llm_model(pytestconfig: pytest.Config) -> str:
    """The model name for this run: --llm-model, else ini llm_model, else gpt-4o-mini."""
    return pytestconfig.stash[ENGINE_KEY].settings.model


@pytest.fixture
def llm_client(pytestconfig: pytest.Config) -> openai.OpenAI:
    """An openai.OpenAI client whose calls go through the case's cassette (no key needed in replay)."""
    _case_of(pytestconfig.stash[SETTING_UP_KEY])
    return pytestconfig.stash[ENGINE_KEY].sync_client()


@pytest.fixture
def llm_async_client(request: pytest.FixtureRequest) -> Iterator[openai.AsyncOpenAI]:
    """The openai.AsyncOpenAI twin of llm_client."""
    _case(request)
    client = request.config.stash[ENGINE_KEY].new_async_client()
    yield client


@pytest.fixture
def llm_calls(request: pytest.FixtureRequest) -> CallLog:
    """The LLM calls made so far in this test (endpoint, model, text, latency_s, ttft_s, tokens)."""
    return _case(request).calls


@pytest.fixture
def llm_cassette(request: pytest.FixtureRequest) -> CassetteView:
    """The current cassette: path, mode (replay / record) and its interactions."""
    return _case(request).cassette


@pytest.fixture(scope="session")
def _llm_server_session() -> Iterator[LocalOpenAIServer]:
    from pytest_llm.testing import LocalOpenAIServer

    with LocalOpenAIServer() as server:
        yield server


@pytest.fixture
def llm_server(_llm_server_session: LocalOpenAIServer) -> LocalOpenAIServer:
    """A local, scripted OpenAI-compatible server on 127.0.0.1 (reset for each test);
    see pytest_llm.testing. Record against it with --llm-base-url=llm_server.base_url."""
    _llm_server_session.reset()
    return _llm_server_session
