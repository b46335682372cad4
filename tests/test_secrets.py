"""No secret reaches a cassette, a report or the terminal: headers, bodies, URL queries,
streamed chunks, llm_redact patterns."""

from __future__ import annotations

import pytest

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
