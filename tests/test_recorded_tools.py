"""@llm_tool: tool functions whose calls are recorded in the case's cassette and replayed.

Inner sessions drive a small tool-calling agent with the real openai SDK against the local
server; the tool writes a line to ``tool_runs.log`` each time it really runs, and reads the
temperatures it answers from ``world.json`` (changed between runs to tell old results from new).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import pytest_llm
from pytest_llm.cassette import file_format
from pytest_llm.cassette.tool_calls import ToolCall, stable_order
from pytest_llm.cli import main

AGENT = """
    import asyncio
    import json
    import pathlib

    from pytest_llm import llm_case, llm_tool

    HERE = pathlib.Path(__file__).parent
    TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]

    def _look_up(city):
        with (HERE / "tool_runs.log").open("a") as log:
            log.write(f"get_weather {city}\\n")
        world = json.loads((HERE / "world.json").read_text())
        return {"city": city, "temperature_c": world.get(city, 0)}

    @llm_tool
    def get_weather(city: str) -> dict:
        return _look_up(city)

    @llm_tool(name="get_weather")
    async def get_weather_async(city: str) -> dict:
        await asyncio.sleep(0)
        return _look_up(city)

    def agent(client, model, question):
        messages = [{"role": "user", "content": question}]
        for _ in range(4):
            reply = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
            message = reply.choices[0].message
            if not message.tool_calls:
                return message.content
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                result = get_weather(**json.loads(call.function.arguments))
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
                )
        raise AssertionError("no final answer")

    async def async_agent(client, model, question):
        messages = [{"role": "user", "content": question}]
        for _ in range(4):
            reply = await client.chat.completions.create(
                model=model, messages=messages, tools=TOOLS
            )
            message = reply.choices[0].message
            if not message.tool_calls:
                return message.content
            messages.append(message.model_dump(exclude_none=True))
            results = await asyncio.gather(*(
                get_weather_async(**json.loads(call.function.arguments))
                for call in message.tool_calls
            ))
            for call, result in zip(message.tool_calls, results):
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
                )
        raise AssertionError("no final answer")

    @llm_case
    def test_weather(llm_client, llm_model):
        assert "sunny" in agent(llm_client, llm_model, "Weather in Paris?")

    @llm_case
    def test_weather_async(llm_async_client, llm_model):
        answer = asyncio.run(async_agent(llm_async_client, llm_model, "Paris weather (async)?"))
        assert "sunny" in answer
"""


REPORT_SCHEMA = json.loads(
    (Path(pytest_llm.__file__).parent / "report" / "schema.json").read_text()
)


def _script(
    *tool_calls: tuple[str, dict[str, object]], match: str = "weather"
) -> dict[str, object]:
    """Turn 1 calls the tools, turn 2 answers (for questions holding ``match``)."""
    return {
        "replies": [
            {
                "match": match,
                "times": 1,
                "tool_calls": [
                    {"name": name, "arguments": arguments} for name, arguments in tool_calls
                ],
            },
            {"match": match, "text": "It is sunny."},
        ]
    }


@pytest.fixture
def agent(inner):
    inner.write(AGENT)
    (inner.pytester.path / "world.json").write_text(json.dumps({"Paris": 21, "Oslo": 4}))
    return inner


def _runs(inner) -> list[str]:
    log = inner.pytester.path / "tool_runs.log"
    return log.read_text().splitlines() if log.exists() else []


def _tools(inner, test: str) -> list[dict[str, object]]:
    return yaml.safe_load(inner.cassette(test).read_text())["tools"]


@pytest.mark.parametrize("test", ["test_weather", "test_weather_async"])
def test_record_replay_rerecord_with_old_tool_results(agent, test):
    inner = agent
    inner.server.script(**_script(("get_weather", {"city": "Paris"})))
    inner.record(f"test_app.py::{test}").assert_outcomes(passed=1)
    assert _runs(inner) == ["get_weather Paris"]
    assert _tools(inner, test) == [
        {
            "name": "get_weather",
            "arguments": {"city": "Paris"},
            "result": {"city": "Paris", "temperature_c": 21},
        }
    ]

    inner.replay(f"test_app.py::{test}").assert_outcomes(passed=1)
    assert _runs(inner) == ["get_weather Paris"], "in replay the tool must not run"
    inner.replay(f"test_app.py::{test}", "--llm-tools", "replay").assert_outcomes(passed=1)
    assert len(_runs(inner)) == 1, "--llm-tools changes nothing in replay mode"

    # the world changed; the new model asks for Paris and Oslo
    (inner.pytester.path / "world.json").write_text(json.dumps({"Paris": 30, "Oslo": 5}))
    inner.server.script(
        **_script(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"}))
    )
    result = inner.rerecord(
        f"test_app.py::{test}",
        "--llm-tools",
        "replay",
        "--llm-report",
        "report.json",
        "--llm-report",
        "report.md",
    )
    result.assert_outcomes(passed=1)
    assert _runs(inner) == ["get_weather Paris", "get_weather Oslo"], "only Oslo runs live"
    markdown = (inner.pytester.path / "report.md").read_text()
    assert "### Tool calls run live (`--llm-tools replay`)" in markdown
    assert f'- `test_app.py::{test}`: `get_weather({{"city": "Oslo"}})`' in markdown
    tools = _tools(inner, test)
    assert [call["result"] for call in tools] == [
        {"city": "Paris", "temperature_c": 21},  # the old world
        {"city": "Oslo", "temperature_c": 5},
    ]
    result.stdout.fnmatch_lines(["*tool calls run live*", f"*{test}*get_weather*Oslo*"])
    report = json.loads((inner.pytester.path / "report.json").read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    [case] = report["cases"]
    assert case["live_tool_calls"] == [{"name": "get_weather", "arguments": {"city": "Oslo"}}]

    inner.replay(f"test_app.py::{test}").assert_outcomes(passed=1)
    assert len(_runs(inner)) == 2


def test_rerecord_with_live_tools_runs_every_call(agent):
    inner = agent
    inner.server.script(**_script(("get_weather", {"city": "Paris"})))
    inner.record("test_app.py::test_weather").assert_outcomes(passed=1)
    (inner.pytester.path / "world.json").write_text(json.dumps({"Paris": 30}))
    inner.server.script(**_script(("get_weather", {"city": "Paris"})))
    result = inner.rerecord("test_app.py::test_weather", "--llm-report", "report.json")
    result.assert_outcomes(passed=1)
    assert _runs(inner) == ["get_weather Paris", "get_weather Paris"]
    assert _tools(inner, "test_weather")[0]["result"]["temperature_c"] == 30
    assert (
        json.loads((inner.pytester.path / "report.json").read_text())["cases"][0]["live_tool_calls"]
        is None
    )


def test_a_call_with_new_arguments_is_a_replay_miss(agent):
    inner = agent
    inner.server.script(**_script(("get_weather", {"city": "Paris"})))
    inner.record("test_app.py::test_weather").assert_outcomes(passed=1)
    cassette = inner.cassette("test_weather")
    cassette.write_text(cassette.read_text().replace("city: Paris", "city: Lyon", 1))
    result = inner.replay("test_app.py::test_weather")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*no recorded result for a tool call of test_app.py::test_weather (replay mode).",
            '*tool call: get_weather({"city": "Paris"})',
            "*cassette: cassettes/test_app/test_weather.yaml (1 tool calls recorded, 0 replayed*",
            '*nearest recorded call: #1 get_weather({"city": "Lyon"}), which differs in:',
            '*city: now "Paris", recorded "Lyon"',
            "*To record it: pytest --llm-record 'test_app.py::test_weather'",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert _runs(inner) == ["get_weather Paris"], "a miss never runs the tool"
    # --llm-record records the case afresh: the tool runs, the cassette is replaced
    inner.server.script(**_script(("get_weather", {"city": "Paris"})))
    inner.record("test_app.py::test_weather").assert_outcomes(passed=1)
    assert _tools(inner, "test_weather")[0]["arguments"] == {"city": "Paris"}
    inner.replay("test_app.py::test_weather").assert_outcomes(passed=1)


def test_identical_calls_replay_in_order_and_a_repeat_beyond_them_misses(inner):
    inner.write(
        """
        import itertools
        from pytest_llm import llm_case, llm_tool

        counter = itertools.count(1)

        @llm_tool
        def next_ticket(queue):
            return {"queue": queue, "ticket": next(counter)}

        @llm_case
        def test_tickets():
            calls = 2
            tickets = [next_ticket("support")["ticket"] for _ in range(calls)]
            assert tickets == [1, 2]
        """
    )
    inner.record().assert_outcomes(passed=1)
    inner.replay().assert_outcomes(passed=1)  # fresh counter: 1, 2 only because they replay
    test = inner.pytester.path / "test_app.py"
    test.write_text(test.read_text().replace("range(calls)", "range(calls + 1)"))
    result = inner.replay()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*tool call: next_ticket*", "*were all replayed already*more often than when*"]
    )


HOSTILE_TOOLS = [
    ("tools: {name: x}", "'tools' is not a list of tool calls"),
    ("tools:\n- just text", "tool call #1 is malformed: expected a mapping"),
    ("tools:\n- {name: '', arguments: {}, result: 1}", "its name '' is not a tool name"),
    ("tools:\n- {name: t, arguments: [1], result: 1}", "the arguments of 't' are not a mapping"),
    ("tools:\n- {name: t, arguments: {}}", "'t' has no result"),
    ("tools:\n- {name: t, arguments: {}, result: 2024-01-01}", "not JSON data (a date value)"),
    ("tools:\n- {name: t, arguments: {1: 2}, result: 1}", "key 1 is not a string"),
    (
        "tools:\n- {name: t, arguments: {}, result: .nan}",
        "not JSON data (nan is not a JSON number)",
    ),
    ("tools:\n- {name: t, arguments: {}, result: 1, extra: 2}", "unknown key(s) extra"),
    (
        "tools:\n- {name: t, arguments: {}, result: 1, raised: {type: a, message: b}}",
        "'t' has both a result and an exception it raised",
    ),
    (
        "tools:\n- {name: t, arguments: {}, raised: {type: a}}",
        "the exception 't' raised is not a mapping of a type and a message",
    ),
]


@pytest.mark.parametrize(("section", "problem"), HOSTILE_TOOLS)
def test_a_hostile_tools_section_is_a_clear_error_naming_the_file(agent, section, problem):
    inner = agent
    cassette = inner.cassette("test_weather")
    cassette.parent.mkdir(parents=True)
    cassette.write_text(f"format: pytest-llm\nversion: 1\ninteractions: []\n{section}\n")
    result = inner.replay("test_app.py::test_weather")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "cassettes/test_app/test_weather.yaml" in output
    assert problem in output, output
    assert "Traceback" not in output and "INTERNALERROR" not in output


SECRET = "sk-proj-PlantedToolSecret0123456789abcdefXYZ"


def test_secrets_in_tool_arguments_and_results_are_scrubbed(inner):
    inner.write(
        f"""
        from pytest_llm import llm_case, llm_tool

        @llm_tool
        def call_crm(customer, api_key):
            return {{"customer": customer, "note": "token {SECRET} works", "password": "hunter2-long"}}

        @llm_case
        def test_crm():
            result = call_crm("ACME-42", api_key="{SECRET}")
            assert result["customer"] == "ACME-42"
        """
    )
    inner.pytester.makeini("[pytest]\nllm_redact =\n    ACME-\\d+\n")
    inner.record("--llm-report", "report.json").assert_outcomes(passed=1)
    text = inner.cassette("test_crm").read_text()
    assert SECRET not in text and "ACME-42" not in text and "hunter2-long" not in text
    assert "call_crm" in text and "customer: REDACTED" in text
    result = inner.replay()  # the live call is scrubbed before it is matched: it replays
    result.assert_outcomes(failed=1)  # the scrubbed customer comes back: the assertion says so
    assert SECRET not in result.stdout.str() and "ACME-42" not in result.stdout.str()
    assert "no recorded result" not in result.stdout.str()


def test_a_result_that_is_not_json_fails_the_recording_naming_the_tool(inner):
    inner.write(
        """
        import datetime
        from pytest_llm import llm_case, llm_tool

        @llm_tool
        def today():
            return datetime.date(2026, 1, 1)

        @llm_case
        def test_today():
            try:
                today()
            except Exception:
                pass  # the application swallows it: the recording still fails
        """
    )
    result = inner.record()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*recording test_app.py::test_today failed: the result of the recorded tool 'today' is not JSON data*"
        ]
    )
    assert not inner.cassette("test_today").exists()
    assert "Traceback" not in result.stdout.str()


def test_an_exception_of_the_tool_is_stored_and_raised_again_in_replay(inner):
    inner.write(
        """
        import pathlib
        import pytest
        from pytest_llm import llm_case, llm_tool
        from pytest_llm.errors import RecordedToolException

        HERE = pathlib.Path(__file__).parent

        class CityNotFound(LookupError):
            pass

        class Picky(Exception):
            def __init__(self, code, detail):
                super().__init__(f"{code}: {detail}")

        @llm_tool
        def lookup(city):
            with (HERE / "tool_runs.log").open("a") as log:
                log.write(f"lookup {city}\\n")
            if city == "Atlantis":
                raise CityNotFound(f"no such city: {city}")
            if city == "Nowhere":
                raise Picky(404, "nowhere")
            return {"city": city}

        @llm_case
        def test_lookup():
            with pytest.raises(CityNotFound, match="no such city: Atlantis"):
                lookup("Atlantis")
            with pytest.raises((Picky, RecordedToolException), match="404: nowhere"):
                lookup("Nowhere")
            assert lookup("Paris") == {"city": "Paris"}
        """
    )
    inner.record().assert_outcomes(passed=1)
    tools = yaml.safe_load(inner.cassette("test_lookup").read_text())["tools"]
    assert tools == [
        {
            "name": "lookup",
            "arguments": {"city": "Atlantis"},
            "raised": {"type": "test_app:CityNotFound", "message": "no such city: Atlantis"},
        },
        {
            "name": "lookup",
            "arguments": {"city": "Nowhere"},
            "raised": {"type": "test_app:Picky", "message": "404: nowhere"},
        },
        {"name": "lookup", "arguments": {"city": "Paris"}, "result": {"city": "Paris"}},
    ]
    inner.replay().assert_outcomes(passed=1)
    assert len(_runs(inner)) == 3, "replayed: the tool did not run, its exceptions came back"


def test_a_recorded_exception_whose_class_is_gone_is_a_recorded_tool_exception():
    from pytest_llm.errors import RecordedToolException
    from pytest_llm.replay.recorded_tools import rebuilt_exception

    error = rebuilt_exception("t", {"type": "builtins:KeyError", "message": "k"})
    assert type(error) is KeyError
    for kind in ("not_imported_module:Error", "builtins:SystemExit", "builtins:len", "x"):
        error = rebuilt_exception("t", {"type": kind, "message": "m"})
        assert isinstance(error, RecordedToolException)
        assert f"the recorded tool 't' raised {kind}: m" in str(error)


def test_outside_an_llm_case_the_function_is_unchanged(inner):
    inner.write(
        """
        import asyncio
        import inspect

        import pytest
        from pytest_llm import llm_tool

        RUNS = []

        @llm_tool
        def add(a: int, b: int = 2) -> int:
            "Add two numbers."
            RUNS.append((a, b))
            return a + b

        @llm_tool(name="slow_add")
        async def add_async(a: int, b: int = 2) -> int:
            return a + b

        class Service:
            @llm_tool
            def double(self, value):
                return value * 2

        def test_plain():
            assert add(1) == 3 and add(1, b=5) == 6
            assert RUNS == [(1, 2), (1, 5)]
            assert add.__name__ == "add" and add.__doc__ == "Add two numbers."
            assert str(inspect.signature(add)) == "(a: int, b: int = 2) -> int"
            assert inspect.iscoroutinefunction(add_async)
            assert asyncio.run(add_async(1, 1)) == 2
            assert Service().double(4) == 8
            with pytest.raises(TypeError):
                add()
            with pytest.raises(TypeError, match="not str 'weather'; to name the tool, write @llm_tool"):
                llm_tool("weather")
            with pytest.raises(ValueError, match="non-empty string"):
                llm_tool(name="")
        """
    )
    inner.replay().assert_outcomes(passed=1)


def test_methods_and_keyword_arguments_are_recorded_by_parameter_name(inner):
    inner.write(
        """
        from pytest_llm import llm_case, llm_tool

        class Shop:
            @llm_tool
            def price(self, item, *, currency="EUR", **options):
                return {"item": item, "currency": currency, **options}

        @llm_case
        def test_price():
            assert Shop().price("book", currency="USD", gift=True)["gift"] is True
        """
    )
    inner.record().assert_outcomes(passed=1)
    [call] = yaml.safe_load(inner.cassette("test_price").read_text())["tools"]
    assert call["arguments"] == {"item": "book", "currency": "USD", "gift": True}
    inner.replay().assert_outcomes(passed=1)


def test_bad_llm_tools_values_are_rejected(inner):
    inner.write("def test_nothing(): pass\n")
    result = inner.replay("--llm-tools", "sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-tools: invalid choice: 'sometimes'*"])
    result = inner.pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--llm-tools*"])


def _both(*tool_calls: tuple[str, dict[str, object]]) -> list[object]:
    """A script for both tests at once (xdist runs them side by side)."""
    replies = _script(*tool_calls, match="(async)")["replies"]
    return [*replies, *_script(*tool_calls, match="weather in")["replies"]]  # type: ignore[misc]


def test_tools_under_xdist(agent):
    inner = agent
    inner.server.script(replies=_both(("get_weather", {"city": "Paris"})))
    inner.record("-n", "2", "-p", "no:randomly").assert_outcomes(passed=2)
    assert sorted(_runs(inner)) == ["get_weather Paris"] * 2
    (inner.pytester.path / "world.json").write_text(json.dumps({"Paris": 30, "Oslo": 5}))
    inner.server.script(
        replies=_both(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"}))
    )
    result = inner.rerecord("-n", "2", "--llm-tools", "replay", "--llm-report", "report.json")
    result.assert_outcomes(passed=2)
    report = json.loads((inner.pytester.path / "report.json").read_text())
    assert sorted(case["id"] for case in report["cases"] if case["live_tool_calls"]) == [
        "test_app.py::test_weather",
        "test_app.py::test_weather_async",
    ]
    result.stdout.fnmatch_lines(["*tool calls run live*"])
    inner.replay("-n", "2").assert_outcomes(passed=2)
    assert sorted(_runs(inner)).count("get_weather Oslo") == 2


def test_an_unchanged_rerecord_changes_no_line(agent):
    inner = agent
    inner.server.script(**_script(("get_weather", {"city": "Paris"})))
    inner.record("test_app.py::test_weather").assert_outcomes(passed=1)
    before = inner.cassette("test_weather").read_text()
    inner.server.script(**_script(("get_weather", {"city": "Paris"})))
    inner.rerecord("test_app.py::test_weather").assert_outcomes(passed=1)
    assert inner.cassette("test_weather").read_text() == before


def _cassette(path: Path, *calls: ToolCall) -> Path:
    path.write_text(file_format.render_cassette([], calls), encoding="utf-8")
    return path


def test_show_renders_the_recorded_tool_calls(tmp_path, capsys):
    path = _cassette(
        tmp_path / "case.yaml",
        ToolCall("get_weather", {"city": "Bergen"}, {"summary": "rain"}),
        ToolCall("lookup", {}, "plain text"),
        ToolCall("lookup", {"q": 1}, None, {"type": "app:NotFound", "message": "gone"}),
    )
    assert file_format.read_cassette_file(path).tool_calls[1].result == "plain text"
    assert file_format.read_cassette_file(path).tool_calls[2].raised == {
        "type": "app:NotFound",
        "message": "gone",
    }
    assert main.main(["show", str(path)]) == 0
    assert capsys.readouterr().out == (
        "0 interactions, 3 recorded tool calls\n\n"
        "tool #1 get_weather\n"
        '  arguments: {"city": "Bergen"}\n'
        '  result: {"summary": "rain"}\n\n'
        "tool #2 lookup\n"
        "  arguments: {}\n"
        "  result: plain text\n\n"
        "tool #3 lookup\n"
        '  arguments: {"q": 1}\n'
        "  raised: app:NotFound: gone\n"
    )


def test_diff_lists_changed_added_and_removed_tool_calls(tmp_path, capsys):
    old = _cassette(
        tmp_path / "old.yaml",
        ToolCall("get_weather", {"city": "Bergen"}, {"summary": "rain"}),
        ToolCall("book", {"table": 4}, {"ok": True}),
    )
    new = _cassette(
        tmp_path / "new.yaml",
        ToolCall("get_weather", {"city": "Bergen"}, {"summary": "sun"}),
        ToolCall("get_weather", {"city": "Oslo"}, {"summary": "snow"}),
    )
    assert main.main(["diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "2 of 2 interactions" not in out
    assert 'tool #1 changed: get_weather({"city": "Bergen"})' in out
    assert (
        'old result:\n      {"summary": "rain"}\n    new result:\n      {"summary": "sun"}' in out
    )
    assert 'tool #2 added: get_weather({"city": "Oslo"})' in out
    assert 'tool #2 removed: book({"table": 4})' in out
    assert main.main(["diff", "--format", "json", str(old), str(new)]) == 1
    [cassette] = json.loads(capsys.readouterr().out)["cassettes"]
    assert {item["kind"] for item in cassette["interactions"]} == {"tool"}
    assert main.main(["diff", str(old), str(old)]) == 0


def test_check_reports_a_malformed_tools_list(tmp_path, capsys):
    path = tmp_path / "case.yaml"
    path.write_text("format: pytest-llm\nversion: 1\ninteractions: []\ntools: [{name: t}]\n")
    assert main.main(["check", str(path)]) == 1
    assert "tool call #1 is malformed: the arguments of 't' are not a mapping" in (
        capsys.readouterr().out
    )


def test_llm_record_of_a_stale_tool_only_case_with_llm_tools_replay(inner):
    inner.write(
        """
        import json, pathlib
        from pytest_llm import llm_case, llm_tool

        HERE = pathlib.Path(__file__).parent
        CITIES = ["Paris"]

        @llm_tool
        def lookup(city):
            with (HERE / "tool_runs.log").open("a") as log:
                log.write(f"lookup {city}\\n")
            return {"city": city, "t": json.loads((HERE / "world.json").read_text())[city]}

        @llm_case
        def test_cities():
            assert [lookup(city)["city"] for city in CITIES] == CITIES
        """
    )
    world = inner.pytester.path / "world.json"
    world.write_text(json.dumps({"Paris": 21, "Oslo": 4}))
    inner.record().assert_outcomes(passed=1)
    world.write_text(json.dumps({"Paris": 30, "Oslo": 5}))
    test = inner.pytester.path / "test_app.py"
    test.write_text(test.read_text().replace('["Paris"]', '["Paris", "Oslo"]'))
    inner.replay().assert_outcomes(failed=1)  # Oslo was never recorded
    result = inner.record("--llm-tools", "replay", "--llm-report", "report.json")
    result.assert_outcomes(passed=1)
    assert _runs(inner) == ["lookup Paris", "lookup Oslo"]
    assert [call["result"]["t"] for call in _tools(inner, "test_cities")] == [21, 5]
    result.stdout.fnmatch_lines(["*tool calls run live*", '*test_cities: lookup({"city": "Oslo"})'])
    inner.replay().assert_outcomes(passed=1)


def test_calls_from_threads_without_the_context_are_recorded_and_replayed(inner):
    inner.write(
        """
        import pathlib
        from concurrent.futures import ThreadPoolExecutor
        from pytest_llm import llm_case, llm_tool

        HERE = pathlib.Path(__file__).parent

        @llm_tool
        def square(n):
            with (HERE / "tool_runs.log").open("a") as log:
                log.write(f"square {n}\\n")
            return n * n

        @llm_case
        def test_pool():
            with ThreadPoolExecutor(max_workers=4) as pool:
                assert list(pool.map(square, range(6))) == [0, 1, 4, 9, 16, 25]
        """
    )
    inner.record().assert_outcomes(passed=1)
    assert sorted(_runs(inner)) == [f"square {n}" for n in range(6)]
    before = inner.cassette("test_pool").read_text()
    inner.replay().assert_outcomes(passed=1)
    assert len(_runs(inner)) == 6, "replayed from threads: the tool did not run"
    for _ in range(2):  # the threads start in any order: the same calls keep the old order
        inner.rerecord().assert_outcomes(passed=1)
        assert inner.cassette("test_pool").read_text() == before


def test_stable_order_keeps_the_old_order_of_the_same_calls_only():
    old = [ToolCall("t", {"n": 1}, 1), ToolCall("t", {"n": 2}, 4)]
    assert stable_order(list(reversed(old)), old) == old
    changed = [ToolCall("t", {"n": 2}, 5), ToolCall("t", {"n": 1}, 1)]
    assert stable_order(changed, old) == changed
    assert stable_order(old[:1], old) == old[:1]
