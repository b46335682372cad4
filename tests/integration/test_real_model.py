"""Record, replay and re-record a small suite against a real OpenAI-compatible server running a
real model (llama.cpp + SmolLM2-135M, CPU, one thread, temperature 0). The model's answers are
poor: the suite checks the plugin, not the model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

SUITE = """
import json, pathlib
from pytest_llm import assert_schema, assert_similar, llm_case, similarity

SYSTEM = "You are a helpful assistant. Answer briefly."
TICKET_SCHEMA = {
    "type": "object",
    "properties": {"category": {"enum": ["refund", "shipping", "other"]}, "urgent": {"type": "boolean"}},
    "required": ["category", "urgent"],
}


def log_calls(name, calls):
    pathlib.Path(f"calls-{name}.json").write_text(json.dumps(
        [[c.endpoint, c.text, c.latency_s, c.ttft_s, c.prompt_tokens, c.completion_tokens] for c in calls]))


@llm_case
def test_plain(llm_client, llm_model, llm_calls):
    reply = llm_client.chat.completions.create(
        model=llm_model, temperature=0, max_tokens=24,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "What is the capital of France?"}])
    assert reply.choices[0].message.content
    log_calls("plain", llm_calls)


@llm_case
def test_streamed(llm_client, llm_model, llm_calls):
    stream = llm_client.chat.completions.create(
        model=llm_model, temperature=0, max_tokens=24, stream=True,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Name three colours."}])
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text and llm_calls[0].text == text
    log_calls("streamed", llm_calls)


@llm_case
def test_json_schema_output(llm_client, llm_model, llm_calls):
    # llama-cpp-python constrains the output with a JSON schema given in a json_object format
    reply = llm_client.chat.completions.create(
        model=llm_model, temperature=0, max_tokens=48,
        response_format={"type": "json_object", "schema": TICKET_SCHEMA},
        messages=[{"role": "system", "content": "Classify the ticket as JSON."},
                  {"role": "user", "content": "My parcel arrived broken, I want a refund."}])
    ticket = assert_schema(reply.choices[0].message.content, TICKET_SCHEMA)
    assert ticket["category"] in ("refund", "shipping", "other")
    log_calls("json", llm_calls)


TEXTS = ["The parcel arrived broken.", "The parcel arrived broken!", "Quantum chromodynamics"]


@llm_case
def test_embeddings(llm_calls):
    # llama-cpp-python 0.3.36 embeds the 2nd and later inputs of one request in the context of
    # the previous ones; embedding each text alone first (similarity(x, x) sends [x]) fills the
    # case's cache, so the assertions below send nothing more.
    for text in TEXTS:
        similarity(text, text)
    same = assert_similar(TEXTS[0], TEXTS[1], threshold=0.9)
    other = assert_similar(TEXTS[0], TEXTS[2], threshold=0.0)
    assert same > other
    assert [call.endpoint for call in llm_calls] == ["embeddings"] * 3
    log_calls("embeddings", llm_calls)
"""


def _git(folder, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=folder, check=True, capture_output=True, text=True
    ).stdout


def test_record_replay_rerecord_against_llama_cpp(inner, llama):
    folder = inner.pytester.path
    inner.pytester.makeini("[pytest]\nllm_model = smollm2\nllm_embedding_model = smollm2\n")
    inner.write(SUITE)
    live = f"--llm-base-url={llama.base_url}"

    # 1. record against the real server
    inner.pytester.runpytest("--llm-record", live).assert_outcomes(passed=4)
    recorded = {
        name: json.loads((folder / f"calls-{name}.json").read_text())
        for name in ("plain", "streamed", "json", "embeddings")
    }
    [(_, streamed_text, latency, ttft, _, _)] = recorded["streamed"]
    assert 0 < ttft < latency, "time to first token is measured before the last chunk"
    assert recorded["plain"][0][4] > 0 and recorded["plain"][0][5] > 0  # usage of plain calls
    cassette = yaml.safe_load(
        (folder / "cassettes" / "test_app" / "test_streamed.yaml").read_text()
    )
    response = cassette["interactions"][0]["response"]
    assert response["text"] == streamed_text and response["sse"].rstrip().endswith("data: [DONE]")
    assert "date" not in response["headers"] and "x-request-id" not in response["headers"]

    # 2. replay with the server stopped: same answers, recorded figures
    llama.stop()
    inner.pytester.runpytest(live).assert_outcomes(passed=4)
    for name, calls in recorded.items():
        replayed = json.loads((folder / f"calls-{name}.json").read_text())
        assert [call[1] for call in replayed] == [call[1] for call in calls]
        assert [call[2:4] for call in replayed] == [
            [round(call[2], 3), None if call[3] is None else round(call[3], 3)] for call in calls
        ]

    # 3. commit, re-record with a changed system prompt, read the report and the cassette diff
    _git(folder, "init", "-q")
    _git(folder, "-c", "user.email=ci@example.com", "-c", "user.name=ci", "add", "-A")
    _git(
        folder,
        "-c",
        "user.email=ci@example.com",
        "-c",
        "user.name=ci",
        "commit",
        "-q",
        "-m",
        "recorded",
    )
    llama.start()
    inner.write(
        SUITE.replace(
            "You are a helpful assistant. Answer briefly.",
            "You are a pirate. Answer like a pirate.",
        )
    )
    result = inner.pytester.runpytest("--llm-rerecord", live, "--llm-report=report.json")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*= LLM behaviour changes =*",
            "4 cases: 0 regressed, 0 fixed, 0 noisy, 4 still passing, 0 still failing, 0 new",
        ]
    )
    report = json.loads((folder / "report.json").read_text())
    drifts = {case["id"].split("::")[1]: case["drift"] for case in report["cases"]}
    assert drifts["test_embeddings"] is None  # no chat answer to compare
    assert min(drifts["test_plain"], drifts["test_streamed"]) < 1.0, (
        drifts
    )  # the new prompt changed answers
    pytest_llm = shutil.which("pytest-llm", path=str(Path(sys.executable).parent))
    assert pytest_llm, "the pytest-llm console script is installed with the package"
    diff = subprocess.run([pytest_llm, "diff"], cwd=folder, capture_output=True, text=True)
    assert diff.returncode == 1, diff.stderr
    assert "test_plain.yaml" in diff.stdout and "test_streamed.yaml" in diff.stdout
