"""The GitHub Actions workflows of examples/ci: inputs reach the shell only through env, and the
pytest-llm commands they run exist with the options they use."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_llm.cli import main

CI_FOLDER = Path(__file__).parent.parent / "examples" / "ci"
WORKFLOWS = sorted(CI_FOLDER.glob("*.yml"))


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _commands(script: str) -> list[list[str]]:
    """The ``pytest-llm ...`` command lines of a shell script (continuations joined), split as
    the shell splits them, up to a shell operator."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["pytest-llm"]:
            cut = next(
                (i for i, word in enumerate(words) if word in ("||", "&&", "|", ">", ";")),
                len(words),
            )
            found.append(words[1:cut])
    return found


def test_there_are_workflows():
    assert {path.name for path in WORKFLOWS} >= {"replay.yml", "rerecord.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_no_run_script_interpolates_an_expression(path):
    workflow = yaml.safe_load(path.read_text())
    scripts = [step["run"] for step in _steps(workflow) if "run" in step]
    assert scripts, f"{path.name} runs nothing"
    for script in scripts:
        assert "${{" not in script, f"{path.name}: pass it through env: instead:\n{script}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_pytest_llm_command_of_a_workflow_parses(path):
    workflow = yaml.safe_load(path.read_text())
    parser = main.build_parser()
    for step in _steps(workflow):
        for words in _commands(step.get("run", "")):
            arguments = parser.parse_args(words)  # SystemExit (a failure) for unknown options
            assert callable(arguments.run)


def test_the_sharded_rerecord_merges_the_shards_reports_and_edits_one_comment():
    workflow = yaml.safe_load((CI_FOLDER / "rerecord.yml").read_text())
    jobs = workflow["jobs"]
    assert jobs["rerecord"]["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    assert jobs["merge"]["needs"] == "rerecord"
    merge_commands = [
        words
        for step in jobs["merge"]["steps"]
        for words in _commands(step.get("run", ""))
        if words[:2] == ["report", "merge"]
    ]
    assert merge_commands, "the final job runs pytest-llm report merge"
    assert main.build_parser().parse_args(merge_commands[0]).run is main.run_report_merge
    comment = next(
        step for step in jobs["merge"]["steps"] if "comments/$existing" in step.get("run", "")
    )
    assert "<!-- pytest-llm-rerecord-report -->" in comment["run"]
    assert comment["run"].index("llm-report.md") < comment["run"].index("<details>")
    assert "${{" in str(comment["env"])  # the expressions live in env:, not in the script
