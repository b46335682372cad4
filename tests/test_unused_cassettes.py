"""Cassettes no collected case uses are listed after a full run and pruned on request."""

from __future__ import annotations

import pytest

SUITE = """
    from pytest_llm import llm_case

    @llm_case
    def test_kept(llm_client, llm_model):
        llm_client.chat.completions.create(model=llm_model, messages=[{"role": "user", "content": "x"}])
"""


@pytest.fixture
def orphaned(inner):
    inner.write(SUITE + SUITE.replace("test_kept", "test_renamed_later"))
    inner.record().assert_outcomes(passed=2)
    inner.write(SUITE)  # test_renamed_later is gone; its cassette stays behind
    return inner.cassette("test_renamed_later")


@pytest.mark.parametrize("workers", [None, "0", "2"], ids=["no-n", "n0", "n2"])
def test_unused_cassettes_are_listed_after_a_full_run(inner, orphaned, workers):
    result = inner.replay(*(["-n", workers] if workers else []))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= LLM unused cassettes =*",
            "1 cassette(s) used by no collected case (delete them with pytest --llm-prune):",
            "  cassettes/test_app/test_renamed_later.yaml",
        ]
    )
    assert orphaned.exists()


def test_filtered_runs_list_nothing(inner, orphaned):
    result = inner.replay("-k", "kept")
    result.assert_outcomes(passed=1)
    assert "unused cassettes" not in result.stdout.str()


@pytest.mark.parametrize("workers", [None, "2"], ids=["no-n", "n2"])
def test_prune_deletes_them(inner, orphaned, workers):
    result = inner.replay("--llm-prune", *(["-n", workers] if workers else []))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "1 cassette(s) used by no collected case, deleted:",
            "  cassettes/test_app/test_renamed_later.yaml",
        ]
    )
    assert not orphaned.exists()
    assert inner.cassette("test_kept").exists()
    inner.replay().assert_outcomes(passed=1)


@pytest.mark.parametrize("selection", [["-k", "kept"], ["test_app.py::test_kept"], ["test_app.py"]])
def test_prune_refuses_a_filtered_run(inner, orphaned, selection):
    result = inner.replay("--llm-prune", *selection)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-prune needs a run of the whole suite, but *"])
    assert orphaned.exists()


def test_prune_keeps_the_target_of_a_symlinked_cassette(inner):
    """A case's cassette may be a symlink to a shared file: that file is in use, not unused."""
    inner.write(SUITE)
    inner.record().assert_outcomes(passed=1)
    used = inner.cassette("test_kept")
    shared = used.parent.parent / "shared" / "common.yaml"
    shared.parent.mkdir()
    used.rename(shared)
    used.symlink_to(shared)
    result = inner.replay("--llm-prune")
    result.assert_outcomes(passed=1)
    assert "unused cassettes" not in result.stdout.str()
    assert shared.exists() and used.exists()
    inner.replay().assert_outcomes(passed=1)
