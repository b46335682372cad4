"""Fixtures wider than a test get cassettes of their own: a session fixture (in a conftest) and
a module fixture that call the API in their setup and teardown, used by three LLM cases, are
recorded once into their own cassettes, replayed offline, re-recorded, pruned never; and the
summary of a recording run says what it recorded, replayed and dropped."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_llm.cassette import verification
from pytest_llm.testing import LocalOpenAIServer

CONFTEST = """
    import openai
    import pytest

    DOCUMENTS = {documents!r}


    @pytest.fixture(scope="session")
    def docs_index():
        client = openai.OpenAI()
        response = client.embeddings.create(model="text-embedding-3-small", input=DOCUMENTS)
        yield [item.embedding for item in response.data]
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{{"role": "user", "content": "session teardown"}}]
        )
"""

MODULE = """
    import openai
    import pytest
    from pytest_llm import llm_case


    def ask(text):
        reply = openai.OpenAI().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
        return reply.choices[0].message.content


    @pytest.fixture(scope="module")
    def greeting():
        yield ask("module setup")
        ask("module teardown")


    @llm_case
    @pytest.mark.parametrize("n", range(3))
    def test_uses(n, docs_index, greeting):
        assert len(docs_index) == 2
        assert greeting == "Echo: module setup"
        assert ask(f"question {n}") == f"Echo: question {n}"
"""

TESTS = [f"test_uses[{n}]" for n in range(3)]


@pytest.fixture
def private_server() -> Iterator[LocalOpenAIServer]:
    """A server of the test's own, so that replay can run with it stopped."""
    with LocalOpenAIServer() as server:
        yield server


def _suite(pytester: pytest.Pytester, documents: list[str]) -> None:
    pytester.makeconftest(textwrap.dedent(CONFTEST.format(documents=documents)))
    pytester.makepyfile(test_app=textwrap.dedent(MODULE))


def _record(pytester: pytest.Pytester, server: LocalOpenAIServer, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--llm-record", f"--llm-base-url={server.base_url}", *args)


def _rerecord(pytester: pytest.Pytester, server: LocalOpenAIServer, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--llm-rerecord", f"--llm-base-url={server.base_url}", *args)


def _cassettes(root: Path) -> tuple[Path, Path]:
    return (
        root / "cassettes" / "conftest" / "fixture-docs_index.yaml",
        root / "cassettes" / "test_app" / "fixture-greeting.yaml",
    )


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.mark.usefixtures("clean_environment")
def test_record_replay_offline_and_rerecord(
    pytester: pytest.Pytester, private_server: LocalOpenAIServer
) -> None:
    _suite(pytester, ["Returns are accepted within 30 days.", "Shipping takes 3 days."])
    result = _record(pytester, private_server)
    result.assert_outcomes(passed=3)
    # 3 case calls; the fixtures' setup and teardown once each: 2 + 2
    assert len(private_server.requests) == 7
    session_cassette, module_cassette = _cassettes(pytester.path)
    session_text = session_cassette.read_text(encoding="utf-8")
    module_text = module_cassette.read_text(encoding="utf-8")
    assert "/embeddings" in session_text and "session teardown" in session_text
    assert "Shipping takes 3 days." in session_text
    assert "module setup" in module_text and "module teardown" in module_text
    for test in TESTS:
        text = (pytester.path / "cassettes" / "test_app" / f"{test}.yaml").read_text("utf-8")
        assert "question" in text
        for fixture_request in ("module setup", "teardown", "/embeddings", "Shipping"):
            assert fixture_request not in text, (test, fixture_request)
    result.stdout.fnmatch_lines(
        [
            "*= LLM recordings =*",
            "recorded 3 cases and 2 fixture cassettes; 0 cases and 0 fixture cassettes replayed",
            "  recorded test_app.py::test_uses[[]0[]]",
            "  recorded fixture 'docs_index' (session scope, conftest.py): "
            "cassettes/conftest/fixture-docs_index.yaml",
            "  recorded fixture 'greeting' (module scope, test_app.py): "
            "cassettes/test_app/fixture-greeting.yaml",
        ]
    )

    private_server.stop()  # offline from here: replay reaches nothing
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)

    with LocalOpenAIServer() as server:
        _suite(pytester, ["Returns are accepted within 30 days.", "Delivery takes a week."])
        before = module_cassette.read_text(encoding="utf-8")
        result = _rerecord(pytester, server)
        result.assert_outcomes(passed=3)
        assert len(server.requests) == 7
        session_text = session_cassette.read_text(encoding="utf-8")
        assert "Delivery takes a week." in session_text
        assert "Shipping takes 3 days." not in session_text
        # the same answers re-recorded change no line of the module fixture's cassette
        assert module_cassette.read_text(encoding="utf-8") == before
        result.stdout.fnmatch_lines(
            [
                "*= LLM recordings =*",
                "recorded 3 cases and 2 fixture cassettes; 0 cases and 0 fixture cassettes replayed",
                "  recorded fixture 'docs_index' (session scope, conftest.py): "
                "cassettes/conftest/fixture-docs_index.yaml, 1 unused recording dropped",
            ]
        )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


@pytest.mark.usefixtures("clean_environment")
def test_record_again_replays_and_says_so(
    pytester: pytest.Pytester, private_server: LocalOpenAIServer
) -> None:
    _suite(pytester, ["a", "b"])
    _record(pytester, private_server).assert_outcomes(passed=3)
    received = len(private_server.requests)
    result = _record(pytester, private_server)
    result.assert_outcomes(passed=3)
    assert len(private_server.requests) == received  # everything replayed
    result.stdout.fnmatch_lines(
        [
            "*= LLM recordings =*",
            "recorded 0 cases and 0 fixture cassettes; 3 cases and 2 fixture cassettes replayed",
        ]
    )
    # a changed fixture request: --llm-record replays what still matches, records the rest
    _suite(pytester, ["a", "c"])
    result = _record(pytester, private_server)
    result.assert_outcomes(passed=3)
    assert len(private_server.requests) == received + 1  # only the new embeddings request
    session_cassette, _ = _cassettes(pytester.path)
    text = session_cassette.read_text(encoding="utf-8")
    assert "- c" in text and "session teardown" in text
    result.stdout.fnmatch_lines(
        [
            "recorded 0 cases and 1 fixture cassette; 3 cases and 1 fixture cassette replayed",
            "  recorded fixture 'docs_index' (session scope, conftest.py): "
            "cassettes/conftest/fixture-docs_index.yaml, 1 unused recording dropped",
        ]
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


@pytest.mark.usefixtures("clean_environment")
def test_a_miss_in_a_fixture_names_the_fixture_and_its_cassette(
    pytester: pytest.Pytester, private_server: LocalOpenAIServer
) -> None:
    _suite(pytester, ["a", "b"])
    _record(pytester, private_server).assert_outcomes(passed=3)
    _suite(pytester, ["a", "changed"])
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "*pytest-llm: no recorded answer for a request of fixture 'docs_index' "
            "(session scope, conftest.py) (replay mode).",
            "*request:  POST /v1/embeddings*",
            "*cassette: cassettes/conftest/fixture-docs_index.yaml (2 recorded, 0 replayed so far)",
            "*nearest recording: #1 POST /v1/embeddings, which differs in:",
            '*input[[]1[]]: now "changed", recorded "b"',
            "*To record it: pytest --llm-record 'test_app.py::test_uses[[]0[]]'",
        ]
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.usefixtures("clean_environment")
def test_a_teardown_miss_fails_the_teardown(
    pytester: pytest.Pytester, private_server: LocalOpenAIServer
) -> None:
    _suite(pytester, ["a", "b"])
    _record(pytester, private_server).assert_outcomes(passed=3)
    pytester.makepyfile(
        test_app=textwrap.dedent(MODULE).replace('ask("module teardown")', 'ask("new teardown")')
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_uses[[]2[]]*",
            "*no recorded answer for a request of fixture 'greeting' (module scope, test_app.py)*",
        ]
    )


@pytest.mark.usefixtures("clean_environment")
def test_a_fixture_without_llm_case_users_gets_no_cassette(
    pytester: pytest.Pytester, private_server: LocalOpenAIServer
) -> None:
    pytester.makepyfile(
        test_plain="""
        import pytest
        from pytest_llm import llm_case

        @pytest.fixture(scope="session")
        def settings():
            return {"model": "gpt-4o-mini"}

        @llm_case
        def test_case(settings):
            assert settings["model"]
        """
    )
    _record(pytester, private_server).assert_outcomes(passed=1)
    folder = pytester.path / "cassettes" / "test_plain"
    assert sorted(path.name for path in folder.iterdir()) == [".verified.json", "test_case.yaml"]


@pytest.mark.usefixtures("clean_environment")
def test_prune_keeps_fixture_cassettes(
    pytester: pytest.Pytester, private_server: LocalOpenAIServer
) -> None:
    _suite(pytester, ["a", "b"])
    _record(pytester, private_server).assert_outcomes(passed=3)
    stale = pytester.path / "cassettes" / "test_app" / "test_gone.yaml"
    stale.write_text("format: pytest-llm\nversion: 1\ninteractions: []\n", encoding="utf-8")
    result = pytester.runpytest("-p", "no:randomly", "--llm-prune")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*1 cassette(s) used by no collected case, deleted:*"])
    assert not stale.exists()
    session_cassette, module_cassette = _cassettes(pytester.path)
    assert session_cassette.exists() and module_cassette.exists()
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("workers", ["0", "2"])
def test_record_and_replay_under_xdist(
    pytester: pytest.Pytester, private_server: LocalOpenAIServer, workers: str
) -> None:
    _suite(pytester, ["a", "b"])
    result = _record(pytester, private_server, "-n", workers)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["recorded 3 cases and 2 fixture cassettes; 0 cases and 0 fixture cassettes replayed"]
    )
    for cassette in _cassettes(pytester.path):
        text = cassette.read_text(encoding="utf-8")
        assert "format: pytest-llm" in text and "teardown" in text
    assert not list(pytester.path.rglob("*.tmp"))
    private_server.stop()
    pytester.runpytest("-p", "no:randomly", "-n", workers).assert_outcomes(passed=3)


FUNCTION_FIXTURE = """
    import openai
    import pytest
    from pytest_llm import llm_case


    def ask(text):
        reply = openai.OpenAI().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
        return reply.choices[0].message.content


    @pytest.fixture
    def profile():
        yield ask("SETUP_TEXT")
        ask("function teardown")


    @llm_case
    def test_case(profile):
        assert profile == "Echo: SETUP_TEXT"
        assert ask("body") == "Echo: body"
"""


def _function_suite(pytester: pytest.Pytester, setup_text: str) -> None:
    pytester.makepyfile(test_fn=textwrap.dedent(FUNCTION_FIXTURE).replace("SETUP_TEXT", setup_text))


@pytest.mark.usefixtures("clean_environment")
def test_function_fixtures_belong_to_the_case_cassette(
    pytester: pytest.Pytester, private_server: LocalOpenAIServer
) -> None:
    _function_suite(pytester, "function setup")
    _record(pytester, private_server).assert_outcomes(passed=1)
    assert len(private_server.requests) == 3
    cassette = pytester.path / "cassettes" / "test_fn" / "test_case.yaml"
    text = cassette.read_text(encoding="utf-8")
    assert text.index("phase: setup") < text.index("content: function setup")
    assert text.index("content: function setup") < text.index("content: body")
    assert text.index("content: body") < text.index("phase: teardown")
    assert text.index("phase: teardown") < text.index("content: function teardown")
    assert sorted(path.name for path in cassette.parent.iterdir()) == [
        ".verified.json",
        "test_case.yaml",
    ]
    # a changed setup request: --llm-record records the case again, setup included
    _function_suite(pytester, "changed setup")
    result = _record(pytester, private_server)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["recorded 1 case; 0 cases replayed"])
    text = cassette.read_text(encoding="utf-8")
    assert "changed setup" in text and "content: function setup" not in text
    assert "function teardown" in text
    private_server.stop()
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)


@pytest.mark.usefixtures("clean_environment")
def test_a_miss_in_a_function_fixture_names_the_case(
    pytester: pytest.Pytester, private_server: LocalOpenAIServer
) -> None:
    _function_suite(pytester, "function setup")
    _record(pytester, private_server).assert_outcomes(passed=1)
    _function_suite(pytester, "changed setup")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_case*",
            "pytest-llm: no recorded answer for a request of test_fn.py::test_case (replay mode).",
            '*request:  POST /v1/chat/completions model=gpt-4o-mini: "changed setup"',
            "*cassette: cassettes/test_fn/test_case.yaml (1 recorded, 0 replayed so far)",
            "*To record it: pytest --llm-record 'test_fn.py::test_case'",
        ]
    )


@pytest.mark.usefixtures("clean_environment")
def test_a_bad_phase_in_a_cassette_is_a_clear_error(
    pytester: pytest.Pytester, private_server: LocalOpenAIServer
) -> None:
    _function_suite(pytester, "function setup")
    _record(pytester, private_server).assert_outcomes(passed=1)
    cassette = pytester.path / "cassettes" / "test_fn" / "test_case.yaml"
    text = cassette.read_text(encoding="utf-8")
    cassette.write_text(text.replace("phase: setup", "phase: bogus", 1), encoding="utf-8")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*cassettes/test_fn/test_case.yaml: interaction #1 is incomplete or malformed "
            "(phase 'bogus' is neither 'setup' nor 'teardown')*"
        ]
    )
    assert "Traceback" not in result.stdout.str() and "INTERNALERROR" not in result.stdout.str()


@pytest.mark.usefixtures("clean_environment")
def test_class_and_parametrized_fixtures_get_cassettes_of_their_own(
    pytester: pytest.Pytester, private_server: LocalOpenAIServer
) -> None:
    pytester.makepyfile(
        test_cls="""
        import openai
        import pytest
        from pytest_llm import llm_case

        def ask(text):
            reply = openai.OpenAI().chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
            )
            return reply.choices[0].message.content

        @pytest.fixture(scope="module", params=["en", "de"])
        def language(request):
            return ask(f"language {request.param}")

        class TestShop:
            @pytest.fixture(scope="class")
            def catalogue(self):
                return ask("catalogue")

            @llm_case
            def test_case(self, catalogue, language):
                assert catalogue == "Echo: catalogue"
                assert language.startswith("Echo: language ")
        """
    )
    _record(pytester, private_server).assert_outcomes(passed=2)
    folder = pytester.path / "cassettes" / "test_cls"
    cassettes = [
        "TestShop.test_case[de].yaml",
        "TestShop.test_case[en].yaml",
        "fixture-TestShop.catalogue.yaml",
        "fixture-language[0].yaml",
        "fixture-language[1].yaml",
    ]
    assert sorted(path.name for path in folder.iterdir()) == [".verified.json", *cassettes]
    # fixture cassettes are verified against the live API when recorded, as cases' are
    assert sorted(verification.read_sidecar(folder / ".verified.json")) == cassettes
    assert "language de" in (folder / "fixture-language[1].yaml").read_text(encoding="utf-8")
    private_server.stop()
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


TOOL_FIXTURE = """
    import openai
    import pytest
    from pytest_llm import llm_case, llm_tool

    RUNS = []


    def ask(text):
        reply = openai.OpenAI().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
        return reply.choices[0].message.content


    @llm_tool
    def lookup(city):
        RUNS.append(city)
        return {"city": city, "weather": "sunny"}


    @pytest.fixture
    def profile():
        yield ask("function setup")
        ask("TEARDOWN_TEXT")


    @llm_case
    def test_case(profile):
        assert lookup("Oslo") == {"city": "Oslo", "weather": "sunny"}
        assert ask("body") == "Echo: body"
        if RAISE == "error":
            raise RuntimeError("half-way")
        assert not RAISE, "a verdict"
"""


def _tool_suite(pytester: pytest.Pytester, teardown: str, raise_: object = False) -> None:
    text = textwrap.dedent(TOOL_FIXTURE).replace("TEARDOWN_TEXT", teardown)
    pytester.makepyfile(test_tools=text.replace("RAISE", repr(raise_)))


@pytest.mark.usefixtures("clean_environment")
def test_function_fixture_phases_keep_the_cases_tools_and_its_verdict_rule(
    pytester: pytest.Pytester, private_server: LocalOpenAIServer
) -> None:
    """The case's save step writes the phases with the body's ``tools:`` list and marks the
    cassette verified; a teardown re-written later keeps the tools; a body stopped by a
    non-verdict exception saves nothing, its fixture's setup calls included."""
    cassette = pytester.path / "cassettes" / "test_tools" / "test_case.yaml"
    _tool_suite(pytester, "function teardown", raise_="error")
    _record(pytester, private_server).assert_outcomes(failed=1)
    assert not cassette.exists()
    _tool_suite(pytester, "function teardown")
    _record(pytester, private_server).assert_outcomes(passed=1)
    text = cassette.read_text(encoding="utf-8")
    assert "phase: setup" in text and "phase: teardown" in text and "tools:" in text
    assert "test_case.yaml" in verification.read_sidecar(cassette.parent / ".verified.json")
    # the body replays, only the teardown changed: the cassette is written again, tools kept
    _tool_suite(pytester, "changed teardown")
    _record(pytester, private_server).assert_outcomes(passed=1)
    text = cassette.read_text(encoding="utf-8")
    assert "changed teardown" in text and "tools:" in text and "Oslo" in text
    # a failed assertion is a verdict: the recording is saved
    before = cassette.read_text(encoding="utf-8")
    _tool_suite(pytester, "changed teardown", raise_=True)
    _rerecord(pytester, private_server).assert_outcomes(failed=1)
    assert cassette.read_text(encoding="utf-8") == before
    private_server.stop()
    _tool_suite(pytester, "changed teardown")
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)
