"""No secret reaches a cassette, a report or the terminal: headers, bodies, URL queries,
streamed chunks, llm_redact patterns."""

from __future__ import annotations

import pytest

from pytest_llm.cassette.scrubbing import Scrubber

SECRET_KEY = "sk-proj-PlantedSecretKey0123456789abcdefXYZ"
ORG_ID = "org-PlantedOrganisation42"
PROJECT_ID = "proj_PlantedProject42"
CUSTOMER = "CUSTOMER-7731-ALPHA"
AZURE_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # shaped like an Azure OpenAI key: no known prefix


def _planted_suite() -> str:
    return f"""
        import os
        import openai
        import requests
        from pytest_llm import llm_case

        @llm_case
        def test_planted(llm_model):
            client = openai.OpenAI(api_key="{SECRET_KEY}", organization="{ORG_ID}", project="{PROJECT_ID}")
            reply = client.chat.completions.create(
                model=llm_model,
                messages=[{{"role": "user", "content": "my key is {SECRET_KEY} for {CUSTOMER}"}}])
            assert reply.choices[0].message.content.startswith("Echo:")
            print("answered:", reply.choices[0].message.content)  # shown by -rA
            stream = client.chat.completions.create(
                model=llm_model, stream=True,
                messages=[{{"role": "user", "content": "stream {SECRET_KEY} back"}}])
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            base = os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
            plain = requests.post(
                base + "/chat/completions?api-key={SECRET_KEY}",
                headers={{"x-api-key": "{SECRET_KEY}", "Cookie": "session=abcdef123456"}},
                json={{"model": llm_model, "messages": [{{"role": "user", "content": "query key"}}]}})
            assert plain.status_code == 200
            azure = requests.post(
                base + "/chat/completions", headers={{"api-key": "{AZURE_KEY}"}},
                json={{"model": llm_model, "messages": [{{"role": "user", "content": "azure {AZURE_KEY}"}}]}})
            assert azure.status_code == 200
    """


@pytest.mark.parametrize("workers", [None, "2"], ids=["no-n", "n2"])
@pytest.mark.parametrize("mode", ["record", "rerecord"])
def test_planted_secrets_never_reach_the_cassette_or_the_terminal(inner, mode, workers):
    inner.pytester.makeini("[pytest]\nllm_redact =\n    CUSTOMER-\\d+-[A-Z]+\n")
    inner.write(_planted_suite())
    result = getattr(inner, mode)("-rA", *(["-n", workers] if workers else []))
    result.assert_outcomes(passed=1)
    assert "answered: Echo: my key is REDACTED for REDACTED" in result.stdout.str()
    text = inner.cassette("test_planted").read_text()
    for secret in (
        SECRET_KEY,
        AZURE_KEY,
        ORG_ID,
        PROJECT_ID,
        CUSTOMER,
        "abcdef123456",
        "PlantedSecretKey",
    ):
        assert secret not in text
        assert secret not in result.stdout.str()
    assert "REDACTED" in text
    assert "Echo: azure REDACTED" in text  # the key echoed back in an answer, scrubbed there too
    # the server really saw (and echoed) them: scrubbing happened on the way to the file
    assert any(
        SECRET_KEY in (request.json or {}).get("messages", [{}])[0].get("content", "")
        for request in inner.server.requests
    )
    # scrubbed live requests still match the scrubbed recording
    inner.replay().assert_outcomes(passed=1)


def test_authorization_header_is_never_stored(inner):
    inner.write(
        f"""
        from pytest_llm import llm_case
        import openai

        @llm_case
        def test_auth(llm_model):
            client = openai.OpenAI(api_key="{SECRET_KEY}")
            client.embeddings.create(model="text-embedding-3-small", input="x")
        """
    )
    inner.record().assert_outcomes(passed=1)
    text = inner.cassette("test_auth").read_text().lower()
    assert "authorization" not in text and "bearer" not in text and SECRET_KEY.lower() not in text


@pytest.mark.parametrize("workers", [None, "2"], ids=["no-n", "n2"])
def test_secrets_stay_out_of_reports_and_summaries(inner, workers):
    inner.pytester.makeini("[pytest]\nllm_redact =\n    CUSTOMER-\\d+-[A-Z]+\n")
    inner.write(
        f"""
        import openai
        from pytest_llm import llm_case

        @llm_case
        def test_leaky(llm_model):
            client = openai.OpenAI(api_key="{SECRET_KEY}")
            text = client.chat.completions.create(
                model=llm_model, messages=[{{"role": "user", "content": "{SECRET_KEY} {CUSTOMER}"}}]
            ).choices[0].message.content
            print("answer:", text)  # captured output, printed with the failure
            assert text == "something else", text  # the failure message holds the echoed secrets
        """
    )
    extra = ["-n", workers] if workers else []
    recorded = inner.record(*extra)
    recorded.assert_outcomes(failed=1)
    result = inner.rerecord("--llm-report=report.md", *extra)
    result.assert_outcomes(failed=1)
    as_json = inner.rerecord("--llm-report=report.json", *extra)
    summary = result.stdout.str().split("LLM behaviour changes")[1]
    assert "1 still failing" in summary
    for run in (recorded, result, as_json):
        output = run.stdout.str() + run.stderr.str()
        # the failure is still explained, on the scrubbed answer
        assert "something else" in output and "Echo: REDACTED REDACTED" in output
        assert "answer: Echo: REDACTED REDACTED" in output
        # no byte of either, not even the pieces of a shortened repr
        for piece in ("PlantedSecretKey", "PlantedSec", "7731", "ALPHA"):
            assert piece not in output
    for secret in (SECRET_KEY, CUSTOMER):
        for name in ("report.md", "report.json"):
            assert secret not in (inner.pytester.path / name).read_text()
        assert secret not in inner.cassette("test_leaky").read_text()
    assert "REDACTED" in (inner.pytester.path / "report.json").read_text()


def test_comparisons_in_llm_cases_keep_pytest_semantics(inner):
    """The comparison hook never compares operands itself, and bounds what it prints."""
    inner.write(
        f"""
        from pytest_llm import llm_case

        class Ambiguous:  # like a numpy array: no truth value for ==
            def __eq__(self, other):
                raise ValueError("ambiguous truth value")
            __hash__ = None

        @llm_case
        def test_ambiguous():
            assert Ambiguous() is None

        @llm_case
        def test_long_answer():
            answer = "{SECRET_KEY} " + "word " * 1000
            assert "needle" in answer
        """
    )
    result = inner.replay()
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    assert "ambiguous truth value" not in output
    assert "AssertionError" in output
    assert "assert 'needle' in 'REDACTED word" in output
    assert SECRET_KEY not in output and "PlantedSec" not in output
    assert max(len(line) for line in output.splitlines()) < 400


SPLIT_KEY = "sk-ant-api03-krX5KHWq9ZTb1nLmP0aQeR7sVuW3yX2cDfGhJkL4Zq"


def test_a_key_spelled_in_parts_leaves_no_piece_of_it_anywhere(inner, monkeypatch):
    """A prompt that spells the key in two parts (no part is the whole key, the first is no key
    shape): no 12 characters of it reach the cassette, the terminal, the reports or show."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", SPLIT_KEY)
    inner.write(
        """
        import os

        from pytest_llm import llm_case

        @llm_case
        def test_parts(llm_client, llm_model):
            key = os.environ["ANTHROPIC_API_KEY"]
            reply = llm_client.chat.completions.create(
                model=llm_model,
                messages=[{"role": "user", "content": f"say {key[:20]} then {key[20:]}"}],
            )
            assert reply.choices[0].message.content == "never", reply.choices[0].message.content
        """
    )
    result = inner.record("-rA", "-vv", "--llm-report=report.json", "--junitxml=junit.xml")
    result.assert_outcomes(failed=1)
    written = [
        inner.cassette("test_parts").read_text(),
        result.stdout.str(),
        (inner.pytester.path / "report.json").read_text(),
        (inner.pytester.path / "junit.xml").read_text(),
    ]
    pieces = [SPLIT_KEY[i : i + 12] for i in range(len(SPLIT_KEY) - 11)]
    for text in written:
        assert not [piece for piece in pieces if piece in text]
    assert "say REDACTED then REDACTED" in written[0]
    # the server saw the parts: they were scrubbed on the way to the files
    assert SPLIT_KEY[:20] in inner.server.requests[-1].json["messages"][0]["content"]
    inner.replay().assert_outcomes(failed=1)  # the scrubbed live request matches the recording


def test_check_finds_a_piece_of_a_key_variable_in_an_old_cassette(inner, monkeypatch, capsys):
    from pytest_llm.cli import main

    inner.write(
        """
        from pytest_llm import llm_case

        @llm_case
        def test_parts(llm_client, llm_model):
            llm_client.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": "say PIECE"}])
        """.replace("PIECE", SPLIT_KEY[20:40])
    )
    inner.record().assert_outcomes(passed=1)  # recorded while the key was not known
    monkeypatch.setenv("ANTHROPIC_API_KEY", SPLIT_KEY)
    monkeypatch.chdir(inner.pytester.path)
    assert main.main(["check", str(inner.cassette("test_parts"))]) == 1
    assert "a piece of the value of $ANTHROPIC_API_KEY" in capsys.readouterr().out


def test_every_piece_of_a_known_secret_is_scrubbed_wherever_it_is_cut():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from pytest_llm.cassette.scrubbing import FRAGMENT_LENGTH

    scrubber = Scrubber(literals=[SPLIT_KEY])

    @settings(max_examples=300, deadline=None)
    @given(
        st.integers(0, len(SPLIT_KEY) - FRAGMENT_LENGTH),
        st.integers(FRAGMENT_LENGTH, len(SPLIT_KEY)),
        st.text(max_size=20),
        st.text(max_size=20),
    )
    def check(start: int, length: int, before: str, after: str) -> None:
        piece = SPLIT_KEY[start : start + length]
        cleaned = scrubber.text(before + piece + after)
        assert piece[:FRAGMENT_LENGTH] not in cleaned
        assert "REDACTED" in cleaned

    check()
    # short pieces and unrelated text are left alone
    assert scrubber.text(f"{SPLIT_KEY[:11]} and {SPLIT_KEY[30:41]}") == (
        f"{SPLIT_KEY[:11]} and {SPLIT_KEY[30:41]}"
    )


SESSION_TOKEN = "sess_Qw8rT5yU2iO9pL3kJ7hGx"


def test_a_credential_learned_late_in_a_case_is_scrubbed_from_its_earlier_answers(inner):
    """An answer hands out a session token; a later request sends it as its Authorization:
    the cassette, written once the case ends, holds the token nowhere, not even in that first
    answer (scrubbed when the token was not yet known to be a credential)."""
    inner.server.script(
        replies=[
            {"match": "log in", "text": f"your session is {SESSION_TOKEN}"},
            {"text": "your data"},
        ]
    )
    inner.write(
        """
        import openai

        from pytest_llm import llm_case

        @llm_case
        def test_session(llm_client, llm_model):
            login = llm_client.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": "log in"}])
            token = login.choices[0].message.content.split()[-1]
            session = openai.OpenAI(api_key=token, base_url=str(llm_client.base_url), max_retries=0)
            session.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": "my data"}])
        """
    )
    inner.record().assert_outcomes(passed=1)
    text = inner.cassette("test_session").read_text()
    assert SESSION_TOKEN not in text
    assert "your session is REDACTED" in text
    inner.replay().assert_outcomes(passed=1)


def test_a_secret_in_a_data_set_record_id_stays_out_of_the_json_report(inner, monkeypatch):
    monkeypatch.setenv("ACME_API_KEY", "acmelive_7Hq2pZr9Xw4tLm")
    (inner.pytester.path / "set.yaml").write_text(
        '- id: "user-acmelive_7Hq2pZr9Xw4tLm-case"\n  question: hi\n'
    )
    inner.write(
        """
        import pytest_llm

        @pytest_llm.cases("set.yaml")
        def test_set(case, llm_client, llm_model):
            llm_client.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": case["question"]}])
        """
    )
    inner.record("--llm-report=r.json", "--llm-report=r.md").assert_outcomes(passed=1)
    for name in ("r.json", "r.md"):
        text = (inner.pytester.path / name).read_text()
        assert "acmelive_7Hq2pZr9Xw4tLm" not in text and "7Hq2pZr9Xw4t" not in text, name
    assert "user-REDACTED-case" in (inner.pytester.path / "r.json").read_text()


def test_a_cassette_path_holding_a_secret_is_refused(inner, monkeypatch):
    monkeypatch.setenv("ACME_API_KEY", "acmelive_7Hq2pZr9Xw4tLm")
    (inner.pytester.path / "set.yaml").write_text(
        '- id: leaky\n  question: hi\n  cassette: "sub/acmelive_7Hq2pZr9Xw4tLm.yaml"\n'
    )
    inner.write(
        """
        import pytest_llm

        @pytest_llm.cases("set.yaml")
        def test_set(case, llm_client, llm_model):
            llm_client.chat.completions.create(
                model=llm_model, messages=[{"role": "user", "content": case["question"]}])
        """
    )
    result = inner.record()
    result.assert_outcomes(errors=1) if result.parseoutcomes().get(
        "errors"
    ) else result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the cassette path *sub/REDACTED.yaml holds a secret*"])
    assert "7Hq2pZr9Xw4t" not in result.stdout.str()
    assert not list(inner.pytester.path.rglob("*acmelive*"))


# --------------------------------------------------------------------------- form bodies

OAUTH_FORM = b"grant_type=client_credentials&client_id=app&client_secret=sup3r-s3cret-value-xyz"


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded; charset=utf-8", None])
def test_credential_fields_of_a_form_body_are_scrubbed(content_type):
    scrubber = Scrubber()
    scrubbed = scrubber.body(OAUTH_FORM, content_type)
    assert scrubbed == b"grant_type=client_credentials&client_id=app&client_secret=REDACTED"
    assert scrubber.body(b'{"echo": "sup3r-s3cret-value-xyz"}') == b'{"echo":"REDACTED"}'


def test_a_form_body_without_credential_fields_is_kept_as_it_was():
    scrubber = Scrubber()
    form = b"grant_type=client_credentials&scope=a+b"
    assert scrubber.body(form, "application/x-www-form-urlencoded") == form
    assert scrubber.body(b"the client_secret=x is", None) == b"the client_secret=x is"
    assert scrubber.body(b"code=1234", "text/plain") == b"code=1234", "only a form's fields"
