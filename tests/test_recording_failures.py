"""Recording that cannot be trusted stores nothing and says why; the old cassette survives."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

CHAT_TEST = """
    from pytest_llm import llm_case

    @llm_case
    def test_chat(llm_client, llm_model):
        reply = llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": "hello"}])
        assert reply.choices[0].message.content
"""


@pytest.mark.parametrize("status", [429, 500, 503])
def test_error_status_while_recording_keeps_old_cassette(inner, status):
    inner.server.script(replies=[{"text": "fine"}])
    inner.write(CHAT_TEST)
    inner.record().assert_outcomes(passed=1)
    old = inner.cassette("test_chat").read_bytes()
    inner.server.script(replies=[{"status": status}])
    result = inner.rerecord()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*recording test_app.py::test_chat failed: POST /v1/chat/completions model=gpt-4o-mini: "
            f'"hello": the API answered {status}: *nothing was saved (the old cassette cassettes/test_app/test_chat.yaml is unchanged)*',
        ]
    )
    assert inner.cassette("test_chat").read_bytes() == old
    inner.replay().assert_outcomes(passed=1)


def test_error_status_on_first_recording_writes_nothing(inner):
    inner.server.script(replies=[{"status": 429}])
    inner.write(CHAT_TEST)
    result = inner.record()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*the API answered 429*nothing was saved (no cassette was written)*"]
    )
    assert not inner.cassette("test_chat").exists()


def test_unreachable_endpoint_while_recording(inner):
    inner.write(CHAT_TEST)
    result = inner.pytester.runpytest("--llm-record", "--llm-base-url=http://127.0.0.1:9/v1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*recording test_app.py::test_chat failed: POST /v1/chat/completions*got no response*Connect*"
        ]
    )
    assert not inner.cassette("test_chat").exists()


@pytest.mark.parametrize("fault", ["drop", "truncate"])
def test_broken_stream_while_recording_stores_nothing(inner, fault):
    inner.server.script(replies=[{"text": "one two three four", "fault": fault}])
    inner.write(
        """
        from pytest_llm import llm_case

        @llm_case
        def test_stream(llm_client, llm_model):
            stream = llm_client.chat.completions.create(
                model=llm_model, stream=True, messages=[{"role": "user", "content": "hello"}])
            text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
            assert text == "one two three four"
        """
    )
    result = inner.record()
    result.assert_outcomes(failed=1)
    expected = "*got no response*" if fault == "drop" else "*event stream was cut off*"
    result.stdout.fnmatch_lines([expected + "nothing was saved (no cassette was written)*"])
    assert not inner.cassette("test_stream").exists()


def test_missing_key_when_recording_against_the_real_api(inner):
    inner.write(CHAT_TEST)
    result = inner.pytester.runpytest("--llm-record", "--llm-base-url=https://api.openai.com/v1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*recording needs an API key: set OPENAI_API_KEY*"])
    assert not inner.cassette("test_chat").exists()


@pytest.mark.parametrize("workers", [None, "2"], ids=["no-n", "n2"])
@pytest.mark.parametrize("mode", ["--llm-record", "--llm-rerecord"])
@pytest.mark.parametrize(
    "signal_number", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"]
)
def test_killed_recording_keeps_old_cassette(inner, signal_number, mode, workers):
    inner.server.script(replies=[{"text": "fine"}])
    inner.write(CHAT_TEST)
    inner.record().assert_outcomes(passed=1)
    old = inner.cassette("test_chat").read_bytes()
    if mode == "--llm-record":  # a changed prompt: --llm-record records this case afresh
        inner.write(CHAT_TEST.replace('"hello"', '"hello again"'))
    # the answer never comes while the test waits: no race with a slow start on a loaded machine
    inner.server.script(replies=[{"text": "a new answer", "latency_s": 900}])
    command = [sys.executable, "-m", "pytest", mode, f"--llm-base-url={inner.server.base_url}"]
    if workers:
        command += ["-n", workers]
    # its own process group, signalled whole: what Ctrl-C in a terminal or a CI cancel does
    # SIGINT at its default in the child: a run started in the background by a script (or by
    # nohup) inherits it ignored, and the SIGINT case then waited 600 s for nothing
    process = subprocess.Popen(
        command, cwd=inner.pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 600  # generous: only a hung start ends the wait
    while not inner.server.requests[1:] and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until the live request is in flight
    assert inner.server.requests[1:], "the inner run never reached the server"
    os.killpg(process.pid, signal_number)
    process.communicate(timeout=600)
    if signal_number == signal.SIGINT:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # leftover workers
    assert inner.cassette("test_chat").read_bytes() == old
    assert sorted(path.name for path in inner.cassette("test_chat").parent.iterdir()) == [
        ".verified.json",  # the first recording's date, untouched
        "test_chat.yaml",
    ]
    inner.write(CHAT_TEST)
    inner.replay().assert_outcomes(passed=1)


def test_failing_assertion_still_stores_a_complete_recording(inner):
    inner.server.script(replies=[{"text": "wrong answer"}])
    inner.write(
        CHAT_TEST.replace(
            "assert reply.choices[0].message.content",
            'assert reply.choices[0].message.content == "right"',
        )
    )
    inner.record().assert_outcomes(failed=1)
    assert "wrong answer" in inner.cassette("test_chat").read_text()
    inner.replay().assert_outcomes(failed=1)


def test_duplicate_cassette_names_are_refused_when_recording(inner):
    inner.write(
        """
        import pytest
        from pytest_llm import llm_case

        @llm_case(cassette="shared")
        def test_one():
            pass

        @llm_case(cassette="shared")
        def test_two():
            pass
        """
    )
    result = inner.record()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*test_app.py::test_one and test_app.py::test_two would both record cassettes/test_app/shared.yaml*"
        ]
    )


def test_malformed_json_answer_is_not_stored(inner):
    inner.server.script(replies=[{"text": "x", "fault": "malformed"}])
    inner.write(CHAT_TEST)
    result = inner.record()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*recording test_app.py::test_chat failed: *the answer is not valid JSON although its content-type says so*nothing was saved*"
        ]
    )
    assert not inner.cassette("test_chat").exists()


def test_unwritable_cassette_folder_is_a_clear_error(inner):
    inner.server.script(replies=[{"text": "fine"}])
    inner.write(CHAT_TEST)
    (inner.pytester.path / "cassettes").mkdir()
    (inner.pytester.path / "cassettes" / "test_app").write_text("a file where the folder should be")
    result = inner.record()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*recording test_app.py::test_chat could not be saved to cassettes/test_app/test_chat.yaml: *(no cassette was written).*"
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_colliding_cassette_names_under_xdist(inner):
    inner.write(
        """
        import pytest
        from pytest_llm import llm_case

        @llm_case
        @pytest.mark.parametrize("text", ["a/b", "a_b"])
        def test_collide(text, llm_client, llm_model):
            llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": text}])
        """
    )
    result = inner.record("-n", "2")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*test_collide?a/b? and test_app.py::test_collide?a_b? would both record cassettes/test_app/test_collide?a_b?.yaml*"
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str()
    assert not (inner.pytester.path / "cassettes").exists()


def test_recording_against_a_client_pointed_at_the_local_server_needs_no_key(inner):
    """No --llm-base-url: the clients may point anywhere, so no key is demanded up front."""
    inner.write(
        f"""
        import openai
        from pytest_llm import llm_case

        @llm_case
        def test_local():
            client = openai.OpenAI(base_url="{inner.server.base_url}", api_key="unused")
            reply = client.chat.completions.create(
                model="m", messages=[{{"role": "user", "content": "hi"}}])
            assert reply.choices[0].message.content == "Echo: hi"
        """
    )
    inner.pytester.runpytest("--llm-record").assert_outcomes(passed=1)


def test_a_401_while_recording_names_the_key_variable(inner):
    inner.server.script(replies=[{"status": 401}])
    inner.write(CHAT_TEST)
    result = inner.record()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the API answered 401*(is OPENAI_API_KEY set to a valid key?)*"])


TWO_TURN_TEST = """
    import os

    from pytest_llm import llm_case

    @llm_case
    def test_chat(llm_client, llm_model):
        first = llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": "hello"}])
        if os.environ.get("BREAK_TURN_TWO"):
            raise ValueError("the booking service is down")
        llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": first.choices[0].message.content}])
"""


@pytest.mark.parametrize("mode", ["--llm-record", "--llm-rerecord"])
def test_an_exception_half_way_keeps_the_old_cassette(inner, monkeypatch, mode):
    """A body stopped by an exception other than a failed assertion did not run to its end:
    its partial recording never replaces a complete cassette."""
    inner.server.script(replies=[{"text": "one"}, {"text": "two"}])
    inner.write(TWO_TURN_TEST)
    inner.record().assert_outcomes(passed=1)
    old = inner.cassette("test_chat").read_bytes()
    assert old.count(b"- request:") == 2
    if mode == "--llm-record":  # a changed prompt: --llm-record records this case afresh
        inner.write(TWO_TURN_TEST.replace('"hello"', '"hello again"'))
    monkeypatch.setenv("BREAK_TURN_TWO", "1")
    result = inner.pytester.runpytest(mode, f"--llm-base-url={inner.server.base_url}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*recording test_app.py::test_chat failed: the test raised ValueError: the booking "
            "service is down before it finished; nothing was saved (the old cassette "
            "cassettes/test_app/test_chat.yaml is unchanged)*"
        ]
    )
    assert inner.cassette("test_chat").read_bytes() == old


def test_an_exception_before_any_request_writes_no_cassette(inner):
    inner.write(
        """
        from pytest_llm import llm_case

        @llm_case
        def test_chat(llm_client):
            raise TypeError("create() missing 1 required keyword-only argument: 'model'")
        """
    )
    result = inner.record()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*the test raised TypeError*nothing was saved (no cassette was written)*"]
    )
    assert not inner.cassette("test_chat").exists()
