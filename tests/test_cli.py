"""The ``pytest-llm`` command: diff, show, convert and check, on recorded and real-world cassettes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_llm.cassette.file_format import read_cassette, render_cassette
from pytest_llm.cassette.interaction import Interaction, Timing
from pytest_llm.cli import main
from pytest_llm.providers import llm_call

REALWORLD = Path(__file__).parent / "data" / "realworld"
REALWORLD_FILES = sorted(REALWORLD.glob("*.yaml"))
HOOKS_FILE = Path(__file__).parent.parent / ".pre-commit-hooks.yaml"

REFUND_CASE = """
    from pytest_llm import llm_case

    @llm_case
    def test_refund(llm_client, llm_model):
        llm_client.chat.completions.create(
            model=llm_model, messages=[{"role": "user", "content": "How do I return an item?"}]
        )
"""

WEATHER_CASE = """
    from pytest_llm import llm_case

    TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]

    @llm_case
    def test_weather(llm_client, llm_model):
        llm_client.chat.completions.create(
            model=llm_model,
            tools=TOOLS,
            messages=[
                {"role": "system", "content": "You are a weather bot."},
                {"role": "user", "content": "Weather in Paris?"},
            ],
        )
        stream = llm_client.chat.completions.create(
            model=llm_model,
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "Tell me a joke"}],
        )
        "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
"""

OLD_ANSWER = "You can return it within 30 days for a full refund."
NEW_ANSWER = "Returns are accepted for two weeks, store credit only."

#: Where each real-world cassette's known answer shows in ``pytest-llm show``.
REALWORLD_ANSWERS = {
    "DataDog__moderation.yaml": ["input: i want to kill them.", "flagged: true (", "violence"],
    "open-telemetry__test_chat_completion_with_content.yaml": [
        "user: Say this is a test",
        "This is a test.",
        "tokens 12 prompt + 5 completion",
    ],
    "open-telemetry__test_embeddings_with_content.yaml": [
        "input: This is a test for embeddings",
        "embedding #0: 1536 dimensions",
    ],
    "traceloop__test_chat.yaml": [
        "4 interactions",
        "Why did Opentelemetry break up with Tracing?",
        "Because he couldn't track his expenses!",
    ],
    "traceloop__test_chat_streaming.yaml": [
        "answer (streamed):",
        "Why did the opentelemetry developer go broke?",
        "Because they kept trying to trace their steps back too far!",
    ],
}


# --------------------------------------------------------------------------- helpers


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # drop what came before (inner pytest sessions)
    status = main.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def chat_interaction(
    answer: str,
    *,
    question: str = "How do I return an item?",
    latency_s: float = 0.5,
    response_id: str = "chatcmpl-1",
    status: int = 200,
) -> Interaction:
    body = {
        "id": response_id,
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": len(answer.split())},
    }
    return Interaction(
        method="POST",
        path="/v1/chat/completions",
        request_body=json.dumps(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]}
        ).encode(),
        status=status,
        response_headers={"content-type": ["application/json"]},
        response_body=json.dumps(body).encode(),
        timing=Timing(latency_s=latency_s),
    )


def write_cassette(path: Path, *interactions: Interaction) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_cassette(interactions), encoding="utf-8")
    return path


def git(repo: Path, *arguments: str) -> str:
    completed = subprocess.run(
        ["git", *arguments], cwd=repo, capture_output=True, text=True, check=True
    )
    return completed.stdout


def init_repository(repo: Path) -> None:
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "tests@example.com")
    git(repo, "config", "user.name", "Tests")


@pytest.fixture
def console_script() -> str:
    found = shutil.which("pytest-llm", path=str(Path(sys.executable).parent)) or shutil.which(
        "pytest-llm"
    )
    assert found, "the pytest-llm console script is missing: pip install -e ."
    return found


@pytest.fixture
def rerecorded(inner, tmp_path):
    """(old, new): a real recording of the refund case, and its re-recording with a new answer."""
    inner.server.script(replies=[{"text": OLD_ANSWER}])
    inner.write(REFUND_CASE)
    inner.record().assert_outcomes(passed=1)
    old = tmp_path / "old" / "test_refund.yaml"
    old.parent.mkdir()
    shutil.copy(inner.cassette("test_refund"), old)
    inner.server.script(replies=[{"text": NEW_ANSWER}])
    inner.rerecord().assert_outcomes(passed=1)
    return old, inner.cassette("test_refund")


# --------------------------------------------------------------------------- diff


def test_diff_of_two_files_shows_both_answers_and_their_similarity(rerecorded, capsys):
    old, new = rerecorded
    status, out, _ = run(capsys, "diff", str(old), str(new))
    assert status == 1
    assert f"changed: {new} (1 of 1 interactions changed, lowest similarity 0." in out
    assert (
        '#1 changed: POST /v1/chat/completions model=gpt-4o-mini: "How do I return an item?"' in out
    )
    old_at, new_at = out.index("old answer:"), out.index("new answer:")
    assert old_at < out.index(OLD_ANSWER) < new_at < out.index(NEW_ANSWER)
    similarity = float(re.search(r"similarity (\d\.\d\d)\)", out).group(1))
    assert 0.0 < similarity < 0.6
    assert re.search(r"tokens (\d+)\+\d+ -> \1\+\d+, cost \$0\.\d{6} -> \$0\.\d{6} \(-\d+%\)", out)


def test_diff_markdown_is_a_pull_request_comment(rerecorded, capsys):
    old, new = rerecorded
    status, out, _ = run(capsys, "diff", "--format", "markdown", str(old), str(new))
    assert status == 1
    assert "| cassette | status | interactions changed | lowest similarity |" in out
    assert re.search(rf"\| `{re.escape(str(new))}` \| changed \| 1 of 1 \| 0\.\d\d \|", out)
    details = out[out.index("<details>") : out.index("</details>")]
    assert f"<summary><code>{new}</code>: 1 of 1 interactions changed" in details
    assert f"Before:\n\n```text\n{OLD_ANSWER}\n```" in details
    assert f"After:\n\n```text\n{NEW_ANSWER}\n```" in details


def test_diff_json_has_answers_similarity_and_figures(rerecorded, capsys):
    old, new = rerecorded
    status, out, _ = run(capsys, "diff", "--format", "json", str(old), str(new))
    assert status == 1
    document = json.loads(out)
    assert document["summary"] == {"changed": 1, "added": 0, "deleted": 0, "unreadable": 0}
    [cassette] = document["cassettes"]
    [interaction] = cassette["interactions"]
    assert (cassette["name"], cassette["status"]) == (str(new), "changed")
    assert (interaction["old_answer"], interaction["new_answer"]) == (OLD_ANSWER, NEW_ANSWER)
    assert interaction["similarity"] == cassette["lowest_similarity"] < 0.6
    assert interaction["old"]["completion_tokens"] > interaction["new"]["completion_tokens"]
    assert interaction["new"]["cost_usd"] > 0


def test_rerecord_with_the_same_answer_is_not_a_change(inner, tmp_path, capsys):
    inner.server.script(replies=[{"text": OLD_ANSWER}])
    inner.write(REFUND_CASE)
    inner.record().assert_outcomes(passed=1)
    old = shutil.copy(inner.cassette("test_refund"), tmp_path / "before.yaml")
    inner.rerecord().assert_outcomes(passed=1)
    status, out, err = run(capsys, "diff", str(old), str(inner.cassette("test_refund")))
    assert status == 0
    assert out == "No cassette changed.\n" and err == ""


def test_volatile_ids_and_small_timing_moves_are_not_changes(tmp_path, capsys):
    old = write_cassette(tmp_path / "old.yaml", chat_interaction(OLD_ANSWER, latency_s=0.50))
    same = write_cassette(
        tmp_path / "same.yaml",
        chat_interaction(OLD_ANSWER, latency_s=0.54, response_id="chatcmpl-2"),
    )
    slower = write_cassette(tmp_path / "slower.yaml", chat_interaction(OLD_ANSWER, latency_s=0.9))
    assert run(capsys, "diff", str(old), str(same))[0] == 0
    status, out, _ = run(capsys, "diff", str(old), str(slower))
    assert status == 1
    assert "(similarity 1.00)" in out
    assert "latency 0.500 s -> 0.900 s (+80%)" in out


def test_added_and_removed_interactions_are_listed(tmp_path, capsys):
    embedding = Interaction(
        method="POST",
        path="/v1/embeddings",
        request_body=b'{"model": "text-embedding-3-small", "input": "refund"}',
        status=200,
        response_headers={"content-type": ["application/json"]},
        response_body=b'{"data": [{"embedding": [0.1, 0.2]}], "model": "text-embedding-3-small"}',
    )
    old = write_cassette(tmp_path / "old.yaml", chat_interaction("one"), embedding)
    new = write_cassette(
        tmp_path / "new.yaml", chat_interaction("one"), chat_interaction("two", question="More?")
    )
    status, out, _ = run(capsys, "diff", str(old), str(new))
    assert status == 1
    assert "2 of 2 interactions changed" in out
    assert '#2 added: POST /v1/chat/completions model=gpt-4o-mini: "More?"' in out
    assert "#2 removed: POST /v1/embeddings model=text-embedding-3-small" in out
    assert "embedding #0: 2 dimensions [0.1, 0.2]" in out


def _embedding(body: bytes) -> Interaction:
    return Interaction(
        method="POST",
        path="/v1/embeddings",
        request_body=b'{"model": "smollm2", "input": "refund"}',
        status=200,
        response_headers={"content-type": ["application/json"]},
        response_body=body,
    )


@pytest.mark.parametrize(
    ("old_body", "new_body", "expected"),
    [
        # llama.cpp without a pooling layer answers one vector per token: mean-pooled
        (
            b'{"data": [{"embedding": [[1.0, 0.0], [1.0, 0.0]]}]}',
            b'{"data": [{"embedding": [[0.0, 1.0], [0.0, 1.0]]}]}',
            "embedding #0: 2 dimensions [0, 1]",
        ),
        # hostile: ragged rows, strings, booleans; none of them is a vector
        (
            b'{"data": [{"embedding": [[1.0], [1.0, 2.0]]}]}',
            b'{"data": [{"embedding": ["a", true]}]}',
            "(no embeddings)",
        ),
    ],
)
def test_diff_of_per_token_or_malformed_embeddings_never_crashes(
    tmp_path, capsys, old_body, new_body, expected
):
    old = write_cassette(tmp_path / "old.yaml", _embedding(old_body))
    new = write_cassette(tmp_path / "new.yaml", _embedding(new_body))
    status, out, err = run(capsys, "diff", str(old), str(new))
    assert status == 1, err
    assert "Traceback" not in err
    assert expected in out


def test_folder_diff_lists_added_and_deleted_cassettes(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    write_cassette(old / "kept.yaml", chat_interaction(OLD_ANSWER))
    write_cassette(new / "kept.yaml", chat_interaction(OLD_ANSWER))
    write_cassette(old / "gone" / "deleted.yaml", chat_interaction("a"), chat_interaction("b"))
    write_cassette(new / "fresh.yml", chat_interaction("c"))
    (new / "settings.yaml").write_text("retries: 3\n")  # not a cassette: ignored
    status, out, _ = run(capsys, "diff", str(old), str(new))
    assert status == 1
    assert out.splitlines() == [
        "added: fresh.yml (1 interaction)",
        "deleted: gone/deleted.yaml (2 interactions)",
        "2 cassettes: 1 added, 1 deleted.",
    ]


def test_corrupted_cassette_is_reported_and_the_others_still_compared(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    for name in ("a.yaml", "b.yaml", "c.yaml"):
        write_cassette(old / name, chat_interaction(OLD_ANSWER))
        write_cassette(new / name, chat_interaction(NEW_ANSWER))
    text = (new / "b.yaml").read_text()
    (new / "b.yaml").write_text(text[: text.index("response:")] + "response: {status: [\n")
    status, out, err = run(capsys, "diff", str(old), str(new))
    assert status == 2
    assert "changed: a.yaml" in out and "changed: c.yaml" in out
    assert "unreadable: b.yaml:" in out and "malformed cassette YAML" in out
    assert err.count("\n") == 1 and err.startswith("pytest-llm: b.yaml:")
    assert "Traceback" not in out + err


def test_diff_of_a_missing_path_is_one_clear_error(tmp_path, capsys):
    status, out, err = run(capsys, "diff", str(tmp_path / "nope.yaml"), str(tmp_path))
    assert (status, out) == (2, "")
    assert err == f"pytest-llm: {tmp_path / 'nope.yaml'}: no such file or folder\n"


def test_git_diff_shows_rerecorded_answers_and_untracked_cassettes(inner, capsys):
    repo = inner.pytester.path
    inner.server.script(replies=[{"text": OLD_ANSWER}])
    inner.write(REFUND_CASE)
    inner.record().assert_outcomes(passed=1)
    (repo / "docker-compose.yaml").write_text("services: {}\n")
    init_repository(repo)
    git(repo, "add", "cassettes", "docker-compose.yaml")
    git(repo, "commit", "-q", "-m", "recorded")
    inner.server.script(replies=[{"text": NEW_ANSWER}])
    inner.rerecord().assert_outcomes(passed=1)
    write_cassette(repo / "cassettes" / "test_app" / "test_new.yaml", chat_interaction("hi"))
    (repo / "docker-compose.yaml").write_text("services: {web: {}}\n")
    status, out, err = run(capsys, "diff")
    assert (status, err) == (1, "")
    assert "changed: cassettes/test_app/test_refund.yaml (1 of 1 interactions changed" in out
    assert out.index(OLD_ANSWER) < out.index(NEW_ANSWER)
    assert "added: cassettes/test_app/test_new.yaml (1 interaction)" in out
    assert "docker-compose" not in out


def test_git_diff_of_an_unknown_revision_is_one_clear_error(tmp_path, monkeypatch, capsys):
    init_repository(tmp_path)
    write_cassette(tmp_path / "cassettes" / "a.yaml", chat_interaction("hi"))
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "one")
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "diff", "HEAD~5")
    assert (status, out) == (2, "")
    assert err.startswith("pytest-llm: unknown revision 'HEAD~5': not a commit of the repository")
    assert err.count("\n") == 1


def test_git_diff_outside_a_repository_is_one_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "diff")
    assert (status, out) == (2, "")
    assert err.startswith(f"pytest-llm: not a git repository: {tmp_path}")
    assert "pytest-llm diff OLD NEW" in err and err.count("\n") == 1


def test_textconv_driver_makes_git_diff_readable(rerecorded, tmp_path, console_script):
    old, new = rerecorded
    repo = tmp_path / "repo"
    cassette = repo / "cassettes" / "test_app" / "test_refund.yaml"
    cassette.parent.mkdir(parents=True)
    shutil.copy(old, cassette)
    (repo / ".gitattributes").write_text("cassettes/**/*.yaml diff=llm-cassette\n")
    init_repository(repo)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "recorded")
    shutil.copy(new, cassette)
    shown = git(repo, "-c", f"diff.llm-cassette.textconv={console_script} show", "diff")
    assert f"-    {OLD_ANSWER}" in shown and f"+    {NEW_ANSWER}" in shown
    assert "     user: How do I return an item?" in shown  # context line, rendered
    assert "choices" not in shown  # no raw YAML
    with_flag = git(
        repo, "-c", f"diff.llm-cassette.textconv={console_script} show --textconv", "diff"
    )
    assert with_flag == shown


# --------------------------------------------------------------------------- show


@pytest.mark.parametrize("path", REALWORLD_FILES, ids=lambda path: path.stem)
def test_show_renders_real_world_vcrpy_cassettes(path, capsys):
    status, out, err = run(capsys, "show", str(path))
    assert (status, err) == (0, "")
    assert out.startswith("1 interaction\n\n#1 POST /v1/") or out.startswith("4 interactions")
    for expected in REALWORLD_ANSWERS[path.name]:
        assert expected in out
    assert run(capsys, "show", str(path))[1] == out, "deterministic"


def test_show_renders_messages_tool_calls_stream_and_timing(inner, capsys):
    inner.server.script(
        ttft_s=0.05,
        replies=[
            {
                "match": "Paris",
                "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
            },
            {"match": "joke", "text": "Why did the chicken cross the road?"},
        ],
    )
    inner.write(WEATHER_CASE)
    inner.record().assert_outcomes(passed=1)
    status, out, _ = run(capsys, "show", str(inner.cassette("test_weather")))
    assert status == 0
    first, second = out.split("\n\n")[1:]
    assert first.splitlines()[:4] == [
        "#1 POST /v1/chat/completions",
        "  model: gpt-4o-mini",
        "  status: 200 OK",
        "  request:",
    ]
    assert "    system: You are a weather bot.\n    user: Weather in Paris?" in first
    assert "    parameters: tools=[get_weather]" in first
    assert '    tool call get_weather({"city": "Paris"})' in first
    assert "  answer (streamed):\n    Why did the chicken cross the road?" in second
    assert re.search(r"latency \d\.\d{3} s, ttft 0\.\d{3} s, tokens \d+ prompt", second)


def test_show_prints_yaml_that_is_no_cassette_unchanged(tmp_path, capsys):
    path = tmp_path / "settings.yaml"
    path.write_text("retries: 3\nmodel: gpt-4o-mini\n")
    status, out, err = run(capsys, "show", str(path))
    assert (status, out) == (0, "retries: 3\nmodel: gpt-4o-mini\n")
    assert err == f"pytest-llm: {path}: not a cassette; printed as it is\n"


def test_show_of_a_malformed_cassette_prints_it_raw_and_fails(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("format: pytest-llm\nversion: 1\ninteractions: [{request: \n")
    status, out, err = run(capsys, "show", str(path))
    assert status == 2
    assert out == path.read_text()
    assert err.startswith(f"pytest-llm: {path}:") and "malformed cassette YAML" in err
    assert run(capsys, "show", "--textconv", str(path))[0] == 0, "git aborts on a failing textconv"
    status, out, err = run(capsys, "show", str(tmp_path / "missing.yaml"))
    assert (status, out) == (2, "")
    assert "missing.yaml: cannot be read" in err


# --------------------------------------------------------------------------- convert


@pytest.mark.parametrize("path", REALWORLD_FILES, ids=lambda path: path.stem)
def test_convert_keeps_what_each_real_world_cassette_says(path, tmp_path, capsys):
    status, out, _ = run(capsys, "convert", str(path), "--out", str(tmp_path))
    converted = tmp_path / path.name
    assert status == 0
    assert out.startswith(f"converted {path} -> {converted} (")
    assert converted.read_text().splitlines()[2] == "format: pytest-llm"
    before, after = read_cassette(path), read_cassette(converted)
    assert [(i.method, i.path, i.status) for i in after] == [
        (i.method, i.path, i.status) for i in before
    ]
    assert [llm_call.describe(i).text for i in after] == [llm_call.describe(i).text for i in before]
    assert run(capsys, "diff", str(path), str(converted))[:2] == (0, "No cassette changed.\n")
    assert run(capsys, "show", str(converted))[1] == run(capsys, "show", str(path))[1]
    assert run(capsys, "check", str(converted))[0] == 0, "credential headers are dropped"


def test_convert_in_place_leaves_own_format_files_untouched(tmp_path, capsys):
    folder = tmp_path / "cassettes"
    folder.mkdir()
    vcrpy_copy = shutil.copy(REALWORLD / "traceloop__test_chat.yaml", folder / "chat.yaml")
    own = write_cassette(folder / "own.yaml", chat_interaction("hi"))
    own_bytes = own.read_bytes()
    (folder / "notes.yaml").write_text("todo: []\n")
    status, out, _ = run(capsys, "convert", str(folder))
    assert status == 0
    assert out.splitlines() == [
        f"converted {vcrpy_copy} (4 interactions)",
        f"{folder / 'notes.yaml'}: not a cassette; skipped",
        f"{own}: already in the pytest-llm format; left untouched",
    ]
    assert own.read_bytes() == own_bytes
    assert "set-cookie" not in Path(vcrpy_copy).read_text().lower()
    assert len(read_cassette(Path(vcrpy_copy))) == 4


def test_convert_reports_a_bad_file_and_converts_the_others(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("interactions:\n- request: {method: POST}\n  response: [\nversion: 1\n")
    good = shutil.copy(REALWORLD / "DataDog__moderation.yaml", tmp_path / "moderation.yaml")
    status, out, err = run(capsys, "convert", str(broken), str(good))
    assert status == 2
    assert out == f"converted {good} (1 interaction)\n"
    assert err.startswith(f"pytest-llm: {broken}:") and err.count("\n") == 1


# --------------------------------------------------------------------------- check


def test_check_finds_a_planted_key_and_a_stored_rate_limit(tmp_path, capsys):
    leaky = write_cassette(
        tmp_path / "cassettes" / "leaky.yaml",
        chat_interaction("Your key is sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"),
    )
    limited = write_cassette(
        tmp_path / "cassettes" / "limited.yaml", chat_interaction("slow down", status=429)
    )
    clean = write_cassette(tmp_path / "cassettes" / "clean.yaml", chat_interaction("hi"))
    status, out, err = run(capsys, "check", str(tmp_path))
    assert status == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(rf"{re.escape(str(leaky))}:\d+: possible secret \(openai_key\).*", lines[0])
    assert "abcdefghijklmnop" not in out, "the key itself is not printed"
    assert lines[1] == (
        f"{limited}: interaction #1: stored error response 429 for POST /v1/chat/completions "
        "(re-record it when the API answers)"
    )
    assert str(clean) not in out
    assert err == "pytest-llm: 3 cassettes checked: 2 problems\n"


def test_check_passes_recorded_cassettes_and_flags_vcrpy_credential_headers(inner, capsys):
    inner.server.script(replies=[{"text": OLD_ANSWER}])
    inner.write(REFUND_CASE)
    inner.record().assert_outcomes(passed=1)
    status, out, _ = run(capsys, "check")  # the current folder: cassettes/**
    assert (status, out) == (0, "")
    vcrpy = REALWORLD / "open-telemetry__test_chat_completion_with_content.yaml"
    status, out, _ = run(capsys, "check", str(vcrpy))
    assert status == 1
    assert f"{vcrpy}: interaction #1: request header 'authorization' stored" in out
    assert f"{vcrpy}: interaction #1: response header 'set-cookie' stored" in out


def test_check_of_malformed_and_missing_files(tmp_path, capsys):
    future = tmp_path / "future.yaml"
    future.write_text("format: pytest-llm\nversion: 9\ninteractions: []\n")
    status, out, _ = run(capsys, "check", str(future))
    assert status == 1
    assert out.startswith(f"{future}: unknown cassette format 'pytest-llm' version 9")
    status, out, err = run(capsys, "check", str(future), str(tmp_path / "missing"))
    assert status == 2
    assert f"pytest-llm: {tmp_path / 'missing'}: no such file or folder" in err


def test_pre_commit_hook_runs_check_on_cassette_files():
    [hook] = yaml.safe_load(HOOKS_FILE.read_text())
    assert (hook["id"], hook["entry"], hook["language"]) == (
        "pytest-llm-check",
        "pytest-llm check",
        "python",
    )
    files = re.compile(hook["files"])
    assert files.search("tests/cassettes/test_app/test_refund.yaml")
    assert files.search("cassettes/a.yml")
    assert not files.search("config/settings.yaml")


# --------------------------------------------------------------------------- the command


def test_help_documents_every_command_and_the_exit_statuses(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for command in ("diff", "show", "convert", "check"):
        assert re.search(rf"^  {command} +\d", out, re.M), command
    assert 'git config diff.llm-cassette.textconv "pytest-llm show --textconv"' in out
    for command in ("diff", "show", "convert", "check"):
        assert run(capsys, command, "--help")[0] == 0
    status, _, err = run(capsys, "diff", "a", "b", "c")
    assert status == 2 and "diff takes a git revision, or two paths" in err
    assert run(capsys, "frobnicate")[0] == 2


def test_console_script_runs_in_a_subprocess(console_script, tmp_path):
    completed = subprocess.run(
        [console_script, "show", str(REALWORLD / "DataDog__moderation.yaml")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "flagged: true (harassment" in completed.stdout
    missing = subprocess.run(
        [console_script, "diff", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert missing.stderr == f"pytest-llm: {tmp_path / 'a.yaml'}: no such file or folder\n"


# --------------------------------------------------------------------------- project prices


def test_diff_prices_calls_with_the_projects_llm_prices(rerecorded, capsys, tmp_path, monkeypatch):
    old, new = rerecorded
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "tox.ini").write_text("[pytest]\nllm_prices =\n    gpt-4o-mini 1000 2000\n")
    monkeypatch.chdir(project / "sub")  # found upward, as pytest finds it
    status, out, _ = run(capsys, "diff", "--format", "json", str(old), str(new))
    assert status == 1
    [interaction] = json.loads(out)["cassettes"][0]["interactions"]
    figures = interaction["new"]
    expected = (figures["prompt_tokens"] * 1000 + figures["completion_tokens"] * 2000) / 1e6
    assert figures["cost_usd"] == pytest.approx(expected, rel=1e-3)


def test_diff_names_the_file_of_a_bad_llm_prices_line(rerecorded, capsys, tmp_path, monkeypatch):
    old, new = rerecorded
    (tmp_path / "pytest.ini").write_text("[pytest]\nllm_prices = gpt-4o-mini cheap\n")
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, "diff", str(old), str(new))
    assert status == 2
    assert f"{tmp_path / 'pytest.ini'}: llm_prices line 'gpt-4o-mini cheap'" in err


def test_project_config_is_found_the_way_pytest_finds_it(tmp_path):
    from pytest_llm.config.project_file import ini_lines

    root = tmp_path / "root"
    deep = root / "a" / "b"
    deep.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nllm_prices = ["m-1 1 2", "m-2 3 4"]\n'
    )
    (root / "a" / "setup.cfg").write_text("[metadata]\nname = x\n")  # no pytest section: skipped
    assert ini_lines(deep, "llm_prices") == (root / "pyproject.toml", ["m-1 1 2", "m-2 3 4"])
    (root / "a" / "setup.cfg").write_text("[tool:pytest]\nllm_prices =\n  m-3 5 6\n")
    assert ini_lines(deep, "llm_prices") == (root / "a" / "setup.cfg", ["m-3 5 6"])
    (deep / "pytest.ini").write_text("")  # pytest.ini wins even without a [pytest] section
    assert ini_lines(deep, "llm_prices") == (deep / "pytest.ini", [])


TRIP_CASE = """
    from pytest_llm import llm_case

    @llm_case
    def test_trip(llm_client, llm_model):
        llm_client.chat.completions.create(
            model=llm_model,
            response_format={"type": "json_object"},
            messages=[{"role": "user", "content": "Plan my trip"}],
        )
"""

OLD_TRIP = {
    "city": "Oslo",
    "budget_eur": 450,
    "days": [{"day": 1, "plan": "fjord"}, {"day": 2, "plan": "museum"}],
    "notes": "bring a coat",
}
NEW_TRIP = {
    "city": "Belém",
    "budget_eur": 420,
    "days": [
        {"day": 1, "plan": "fjord"},
        {"day": 2, "plan": "tower"},
        {"day": 3, "plan": "pastéis"},
    ],
    "extras": {"wifi": True},
}


@pytest.fixture
def rerecorded_json(inner, tmp_path):
    """A structured-output case recorded, then re-recorded with a changed JSON answer (the
    new one escaped the way json.dumps writes it: ``Bel\\u00e9m``)."""
    inner.server.script(replies=[{"text": json.dumps(OLD_TRIP)}])
    inner.write(TRIP_CASE)
    inner.record().assert_outcomes(passed=1)
    old = tmp_path / "old" / "test_trip.yaml"
    old.parent.mkdir()
    shutil.copy(inner.cassette("test_trip"), old)
    inner.server.script(replies=[{"text": "```json\n" + json.dumps(NEW_TRIP) + "\n```"}])
    inner.rerecord().assert_outcomes(passed=1)
    return old, inner.cassette("test_trip")


JSON_PATHS = [
    'city "Oslo" → "Belém"',
    "budget_eur 450 → 420",
    'days[1].plan "museum" → "tower"',
    'days[2] added: {"day": 3, "plan": "pastéis"}',
    'notes removed (was "bring a coat")',
    'extras added: {"wifi": true}',
]


def test_diff_of_json_answers_lists_the_changed_paths(rerecorded_json, capsys):
    old, new = rerecorded_json
    status, out, _ = run(capsys, "diff", str(old), str(new))
    assert status == 1
    assert "    JSON changes (6 paths):" in out
    listed = out[out.index("JSON changes") : out.index("old answer:")]
    assert [line.strip() for line in listed.splitlines()[1:] if line.strip()] == JSON_PATHS
    assert "\\u00e9" not in out

    status, out, _ = run(capsys, "diff", "--format", "markdown", str(old), str(new))
    assert "JSON changes (6 paths):\n\n- `budget_eur 450 → 420`" in out.replace(
        '- `city "Oslo" → "Belém"`\n', ""
    )
    assert out.index("JSON changes") < out.index("Before:")

    status, out, _ = run(capsys, "diff", "--format", "json", str(old), str(new))
    [interaction] = json.loads(out)["cassettes"][0]["interactions"]
    assert [change["text"] for change in interaction["json_changes"]] == JSON_PATHS
    assert interaction["json_changes"][1] == {
        "path": "budget_eur",
        "kind": "changed",
        "old": 450,
        "new": 420,
        "text": "budget_eur 450 → 420",
    }
    assert interaction["json_changes_more"] == 0


def test_json_changes_are_bounded_and_only_for_two_json_documents(tmp_path, capsys):
    old_document = {f"field_{n}": n for n in range(30)}
    new_document = {f"field_{n}": n + 1 for n in range(30)}
    pairs = [
        (json.dumps(old_document), json.dumps(new_document)),
        ("Plain prose, not JSON.", json.dumps(new_document)),
        ('The answer is {"a": 1} in prose.', 'The answer is {"a": 2} in prose.'),
    ]
    old = write_cassette(
        tmp_path / "old.yaml",
        *(chat_interaction(a, question=str(i)) for i, (a, _) in enumerate(pairs)),
    )
    new = write_cassette(
        tmp_path / "new.yaml",
        *(chat_interaction(b, question=str(i)) for i, (_, b) in enumerate(pairs)),
    )
    status, out, _ = run(capsys, "diff", str(old), str(new))
    assert status == 1
    assert out.count("JSON changes") == 1
    assert "    JSON changes (30 paths):" in out
    assert "      field_19 19 → 20" in out and "field_20 20" not in out
    assert "      ... and 10 more" in out
    status, out, _ = run(capsys, "diff", "--format", "json", str(old), str(new))
    first, prose, embedded = json.loads(out)["cassettes"][0]["interactions"]
    assert (len(first["json_changes"]), first["json_changes_more"]) == (20, 10)
    assert prose["json_changes"] is None and embedded["json_changes"] is None


def test_json_changes_name_paths_and_survive_hostile_documents():
    from pytest_llm.report import json_changes

    found = json_changes.compare_documents(
        {"a b": 1, "flag": True, "n": 1, "list": [1]}, {"a b": 2, "flag": 1, "n": 1.0, "list": []}
    )
    assert found.lines() == ['["a b"] 1 → 2', "flag true → 1", "list[0] removed (was 1)"]
    assert json_changes.compare_documents([1], {"a": 1}).lines() == ['$ [1] → {"a": 1}']
    deep = "[" * 100_000 + "]" * 100_000
    assert json_changes.json_document(deep) is None  # too deep to parse: no diff, no crash
    nested: list[object] = []
    for _ in range(5000):
        nested = [nested]
    assert json_changes.compare_documents(nested, [1]).lines() == [
        "[0] (nested too deeply to show) → 1"
    ]


@pytest.mark.parametrize("output_format", ["text", "markdown", "json"])
def test_diff_of_a_deeply_nested_json_answer_never_crashes(tmp_path, capsys, output_format):
    deep = "[" * 900 + "]" * 900
    old = write_cassette(tmp_path / "old.yaml", chat_interaction('{"a": 1}'))
    new = write_cassette(tmp_path / "new.yaml", chat_interaction('{"a": ' + deep + "}"))
    status, out, err = run(capsys, "diff", "--format", output_format, str(old), str(new))
    assert status == 1 and "Traceback" not in err
    assert "a 1 → [[[[" in out or '"path": "a"' in out
