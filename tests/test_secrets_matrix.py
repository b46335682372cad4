"""The secrets matrix: every secret shape the plugin knows, planted every way a run can carry
it, looked for in every channel a reader sees — not even a 12-character fragment may show.

Shapes: credential environment variables of several providers, key shapes that no variable
holds, ``llm_redact`` patterns (non-ASCII and ``/`` included), credential headers, query
parameters, cookies, a ``"token"`` JSON field, JSON ``\\u`` and ``\\/`` escapes, a parametrize
id, tool-call arguments, a body that is not UTF-8. Answers stream three characters per chunk,
so every secret an answer echoes is split across chunks.

Channels: cassette file names and contents (bodies decoded), the Markdown and JSON reports, the
JUnit XML, the terminal (``-rA -vv``; ``-s`` and ``--capture=tee-sys`` while recording),
``pytest-llm show``, ``diff`` and ``convert``; in record and re-record, with and without
``-n 2``.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from pytest_llm.cassette.file_format import read_cassette
from pytest_llm.testing import Reply, Script

# Delivered through environment variables (the plugin knows every credential variable).
ENVIRONMENT = {
    "OPENAI_API_KEY": "sk-proj-MatrixOpenAIKey0123456789abcdefZ",
    "ANTHROPIC_API_KEY": "sk-ant-api03-MatrixAnthropicKey0123456789xyz",
    "GEMINI_API_KEY": "AIzaSyMatrixGeminiKey0123456789abcdefgh",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIK7MDENGbPxRfiCYMATRIXSECRET1",
    "MYAPP_SERVICE_TOKEN": "plainTokenValue4242MatrixCustom",
    # JSON, repr and pytest's ids escape these: a quote, a backslash, newlines, a non-ASCII letter
    "MYAPP_PASSWORD": "Correct\\Horse\"Battery'Staple99",
    "MYAPP_SECRET": "MultiLineSecret\nAAAA1111BBBB\nEnd",
    "MYAPP_API_KEY": "Pässwort-GeheimWert-12345678",
}
# Known by their shape only.
SHAPED = {
    "aws_access_key": "AKIAMATRIXKEY0123456",
    "github_token": "ghp_MatrixGithubToken0123456789abcdefghij",
    "slack_token": "xoxb-1234567890-MatrixSlackToken",
    "bearer": "Bearer MatrixBearerToken0123456789",
    "sk_shape": "sk-MatrixShapedKey0123456789abcdef",
}
# Known by the project's llm_redact patterns.
REDACT_PATTERNS = [r"CUSTOMER-\d+-[A-Z]+", r"Geheimnis-\S+-\d+", r"ACCT/\d+/PRIV"]
PATTERNED = {
    "customer": "CUSTOMER-9917-ZETA",
    "non_ascii": "Geheimnis-Müller-7788",  # sent \u00fc-escaped
    "slash": "ACCT/991177/PRIV",  # sent \/-escaped
    "param_id": "CUSTOMER-5150-OMEGA",  # a parametrize id
}
# Known because the run sends them as credentials: headers, query parameters, cookies, fields.
SENT = {
    "api_key_header": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "api_key_query": "qparamSecretValue99887766",
    "key_query": "keyParamSecret55443322",
    "amz_token": "FwoGZXIvYXdzEMatrixSessionToken0123",
    "amz_signature": "deadbeefcafebabe0123456789abcdef0123456789abcdef0123456789abcd",
    "cookie": "cookieSecretValue77665544",
    "token_field": "jsonTokenFieldValue0123456789",
    "escaped_dash": "sk-proj-MatrixEscapedDash0123456789ab",  # sent sk\u002dproj\u002d...
}
SECRETS = {**ENVIRONMENT, **SHAPED, **PATTERNED, **SENT}
FRAGMENT = 12

# What answers echo: every secret known before a request is sent (those the run sends as
# credentials are known from the request that carries them, and echoed by that request).
ECHOED = " ".join(
    [*ENVIRONMENT.values(), *SHAPED.values(), *(PATTERNED[n] for n in ("customer", "non_ascii"))]
)

SUITE = f"""
    import json
    import os
    import sys

    import openai
    import pytest
    import requests
    from pytest_llm import llm_case

    SECRETS = json.loads({json.dumps(json.dumps(SECRETS))})
    ECHOED = {ECHOED!r}


    @llm_case
    def test_chat(llm_model):
        client = openai.OpenAI()
        reply = client.chat.completions.create(
            model=llm_model, messages=[{{"role": "user", "content": "say " + ECHOED}}])
        print("ANSWER:", reply.choices[0].message.content)
        stream = client.chat.completions.create(
            model=llm_model, stream=True,
            messages=[{{"role": "user", "content": "stream " + ECHOED}}])
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        print("STREAMED:", streamed)
        sys.stderr.write("STDERR: " + streamed + "\\n")
        assert streamed == "something else"


    @llm_case
    def test_responses_stream(llm_model):
        client = openai.OpenAI()
        with client.responses.stream(model=llm_model, input="respond " + ECHOED) as stream:
            text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        print("RESPONSES:", text)


    @llm_case
    def test_tool_stream(llm_model):
        client = openai.OpenAI()
        stream = client.chat.completions.create(
            model=llm_model, stream=True,
            messages=[{{"role": "user", "content": "call the tool"}}],
            tools=[{{"type": "function", "function": {{"name": "store", "parameters": {{}}}}}}])
        arguments = "".join(
            c.choices[0].delta.tool_calls[0].function.arguments or ""
            for c in stream if c.choices and c.choices[0].delta.tool_calls)
        print("ARGUMENTS:", arguments)


    @llm_case
    def test_raw_requests(llm_model):
        base = os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        body = {{"model": llm_model, "messages": [{{"role": "user", "content": "query"}}]}}
        answered = requests.post(
            base + "/chat/completions?api-key=" + SECRETS["api_key_query"]
            + "&key=" + SECRETS["key_query"] + "&X-Amz-Signature=" + SECRETS["amz_signature"],
            headers={{"api-key": SECRETS["api_key_header"],
                     "X-Amz-Security-Token": SECRETS["amz_token"]}},
            cookies={{"session": SECRETS["cookie"]}},
            json={{**body, "token": SECRETS["token_field"], "messages": [{{"role": "user",
                  "content": " ".join([SECRETS["api_key_query"], SECRETS["key_query"],
                  SECRETS["amz_signature"], SECRETS["api_key_header"], SECRETS["amz_token"],
                  SECRETS["cookie"], SECRETS["token_field"]])}}]}})
        assert answered.status_code == 200
        escaped = json.dumps({{**body, "messages": [{{"role": "user", "content": " ".join([
            SECRETS["non_ascii"], SECRETS["slash"], SECRETS["escaped_dash"]])}}]}})
        escaped = escaped.replace("/", "\\\\/").replace("sk-proj-", "sk\\\\u002dproj\\\\u002d")
        assert "\\\\u00fc" in escaped and "\\\\/" in escaped
        answered = requests.post(base + "/chat/completions", data=escaped,
                                 headers={{"content-type": "application/json"}})
        assert answered.status_code == 200
        binary = b"\\xff\\xfe\\x00RIFF" + SECRETS["customer"].encode() + b"\\x80\\x81"
        requests.post(base + "/chat/completions", data=binary,
                      headers={{"content-type": "audio/wav"}})


    @llm_case
    def test_escapes(llm_model, record_property):
        import warnings
        client = openai.OpenAI()
        secret = SECRETS["MYAPP_SECRET"]
        stream = client.chat.completions.create(
            model=llm_model, stream=True,
            messages=[{{"role": "system", "content": "quote " + SECRETS["MYAPP_PASSWORD"]}},
                      {{"role": "user", "content": "escape " + secret}}])
        answer = ""
        for chunk in stream:
            piece = chunk.choices[0].delta.content or "" if chunk.choices else ""
            print(piece, end="", flush=True)  # a stream shown as it comes
            answer += piece
        print()
        record_property("answer", answer)
        warnings.warn("the answer was " + answer)
        assert answer.endswith("nope")


    @llm_case
    @pytest.mark.parametrize(
        "tenant", [SECRETS["param_id"], SECRETS["MYAPP_API_KEY"], SECRETS["MYAPP_SECRET"]])
    def test_tenant(llm_model, tenant):
        client = openai.OpenAI()
        reply = client.chat.completions.create(
            model=llm_model, messages=[{{"role": "user", "content": "tenant"}}])
        assert reply.choices[0].message.content
"""


def _script(answer_prefix: str = "") -> Script:
    arguments = json.dumps({"key": SECRETS["OPENAI_API_KEY"], "customer": SECRETS["customer"]})
    return Script(
        chunk_chars=3,
        replies=[
            Reply(match="call the tool", tool_calls=[{"name": "store", "arguments": arguments}]),
            Reply(match="respond", text=f"{answer_prefix}Sure: {ECHOED}"),
        ],
    )


def _forms(secret: str) -> set[str]:
    """A secret as written, and as JSON, repr, pytest's ids and file names escape it."""
    escaped = secret.encode("unicode_escape").decode("ascii")
    return {
        secret,
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
        escaped,
        re.sub(r"[^\w.-]", "_", escaped),
    }


def _hits(text: str) -> list[str]:
    """Which secrets (or 12-character fragments of them, in any escaped form) `text` holds."""
    found = []
    for name, secret in SECRETS.items():
        fragments = {
            form[i : i + FRAGMENT]
            for form in _forms(secret)
            for i in range(len(form) - FRAGMENT + 1)
        }
        if any(fragment in text for fragment in fragments):
            found.append(name)
    return found


def _cassette_channels(folder: Path) -> dict[str, str]:
    """Every cassette's name, raw text, and decoded bodies (base64 ones included)."""
    channels = {}
    for path in sorted(folder.rglob("*")):
        channels[f"file name {path.relative_to(folder)}"] = str(path.relative_to(folder))
        if not path.is_file():
            continue
        if path.name == ".verified.json":  # the verification dates: names and dates only
            channels[f"verification dates {path.relative_to(folder)}"] = path.read_text()
            continue
        channels[f"cassette {path.name}"] = path.read_text(encoding="utf-8")
        bodies = []
        for interaction in read_cassette(path):
            for body in (interaction.request_body, interaction.response_body):
                bodies.append(body.decode("latin-1"))
                bodies.append(body.decode("utf-8", "replace"))
        channels[f"bodies of {path.name}"] = "\n".join(bodies)
    return channels


def _run_cli(pytester: pytest.Pytester, *args: str) -> str:
    result = pytester.run(
        sys.executable,
        "-c",
        "from pytest_llm.cli.main import main; raise SystemExit(main())",
        *args,
    )
    return result.stdout.str() + result.stderr.str()


def _assert_clean(channels: dict[str, str]) -> None:
    leaks = {name: hits for name, text in channels.items() if (hits := _hits(text))}
    assert not leaks, "\n".join(
        f"{name}: {hits}\n{channels[name][:3000]}" for name, hits in leaks.items()
    )


@pytest.fixture
def matrix(inner, monkeypatch):
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    inner.pytester.makeini(
        "[pytest]\nllm_redact =\n" + "".join(f"    {p}\n" for p in REDACT_PATTERNS)
    )
    inner.write(SUITE)
    inner.server.script(_script())
    return inner


def _run_channels(result: pytest.RunResult, root: Path) -> dict[str, str]:
    channels = {
        "terminal": result.stdout.str() + result.stderr.str(),
        "junit": (root / "junit.xml").read_text(encoding="utf-8"),
    }
    for report in root.glob("report.*"):
        channels[report.name] = report.read_text(encoding="utf-8")
    channels.update(_cassette_channels(root / "cassettes"))
    return channels


def _check_the_secrets_were_sent(inner) -> None:
    """The planted secrets really went out: scrubbing, not a broken plant, keeps them out."""
    sent = "\n".join(
        str(request.headers)
        + request.path
        + request.body.decode("utf-8", "replace")
        + json.dumps(request.json, ensure_ascii=False)
        for request in inner.server.requests
    )
    missing = [name for name in SECRETS if name not in _hits(sent) and name != "param_id"]
    assert missing == []


@pytest.mark.parametrize("workers", [None, "2"], ids=["no-n", "n2"])
def test_recording_leaks_no_secret(matrix, workers):
    report = "report.md" if workers is None else "report.json"
    flags = ["-rA", "-vv", f"--llm-report={report}", "--junitxml=junit.xml"]
    result = matrix.record(*flags, *(["-n", workers] if workers else []))
    result.assert_outcomes(passed=6, failed=2)
    _check_the_secrets_were_sent(matrix)
    channels = _run_channels(result, matrix.pytester.path)
    for cassette in (matrix.pytester.path / "cassettes").rglob("*.yaml"):
        channels[f"show {cassette.name}"] = _run_cli(matrix.pytester, "show", str(cassette))
    _assert_clean(channels)
    assert "REDACTED" in channels["terminal"]
    assert "test_tenant[REDACTED]" in channels["terminal"]
    # the scrubbed recordings still replay (the failing case fails on its assertion again)
    matrix.replay().assert_outcomes(passed=6, failed=2)


@pytest.mark.parametrize("workers", [None, "2"], ids=["no-n", "n2"])
def test_rerecording_and_diff_leak_no_secret(matrix, workers):
    matrix.record().assert_outcomes(passed=6, failed=2)
    root = matrix.pytester.path
    shutil.copytree(root / "cassettes", root / "before")
    matrix.server.script(_script(answer_prefix="Changed. "))
    report = "report.json" if workers is None else "report.md"
    flags = ["-rA", "-vv", f"--llm-report={report}", "--junitxml=junit.xml"]
    result = matrix.rerecord(*flags, *(["-n", workers] if workers else []))
    assert "INTERNALERROR" not in result.stdout.str()
    channels = _run_channels(result, root)
    for form in ("text", "markdown", "json"):
        channels[f"diff --format {form}"] = _run_cli(
            matrix.pytester, "diff", "--format", form, str(root / "before"), str(root / "cassettes")
        )
    assert "Changed." in channels["diff --format text"]  # the diff did show the answers
    _assert_clean(channels)


@pytest.mark.parametrize("capture", ["-s", "--capture=tee-sys"])
def test_live_output_leaks_no_secret(matrix, capture):
    result = matrix.record(capture, "-rA")
    result.assert_outcomes(passed=6, failed=2)
    terminal = result.stdout.str() + result.stderr.str()
    assert "STREAMED: Echo: stream" in terminal  # printed live, and seen here
    assert _hits(terminal) == []


def test_convert_leaks_no_secret(matrix):
    """A vcrpy cassette holding the secrets (an Authorization header, the project's patterns,
    environment keys in bodies) converts to a clean one."""
    answer = {"choices": [{"message": {"role": "assistant", "content": ECHOED}}]}
    interaction = {
        "request": {
            "method": "POST",
            "uri": "https://api.openai.com/v1/chat/completions?key=" + SECRETS["key_query"],
            "body": json.dumps({"model": "m", "messages": [{"role": "user", "content": ECHOED}]}),
            "headers": {
                "Authorization": ["Bearer " + SECRETS["api_key_header"]],
                "X-Amz-Security-Token": [SECRETS["amz_token"]],
            },
        },
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {
                "Content-Type": ["application/json"],
                "Location": ["https://x.example/next?token=" + SECRETS["token_field"]],
            },
            "body": {"string": json.dumps(answer)},
        },
    }
    source = matrix.pytester.path / "vcr" / "chat.yaml"
    source.parent.mkdir()
    source.write_text(yaml.safe_dump({"version": 1, "interactions": [interaction]}))
    printed = _run_cli(matrix.pytester, "convert", "--out", "converted", str(source.parent))
    converted = matrix.pytester.path / "converted"
    channels = {"convert output": printed, **_cassette_channels(converted)}
    assert len(channels) > 2, printed
    _assert_clean(channels)


def test_the_matrix_has_twenty_distinct_shapes_and_its_detector_sees_fragments():
    assert len(set(SECRETS.values())) == len(SECRETS) >= 20
    assert _hits("a " + SECRETS["cookie"][3 : 3 + FRAGMENT] + " b") == ["cookie"]
    assert _hits("a " + SECRETS["cookie"][3 : 3 + FRAGMENT - 1] + " b") == []
