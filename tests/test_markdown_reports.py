"""Markdown reports quote what they show: a model answer, a request, a test id, a failure
message or a path holding Markdown or HTML of its own stays inside its block.

Each report is parsed with a CommonMark parser (markdown-it-py, with GitHub's tables) and
checked node by node: the only headings, HTML and table cells are the report's own, there is
no link or image at all, and the hostile text comes back verbatim inside its code block or
code span."""

from __future__ import annotations

import html
import json
import re
import shutil

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from pytest_llm.cli import main
from pytest_llm.report.markdown import code_span, fenced, html_text, table_cell

#: An answer that tries every way out of a report's block.
HOSTILE = (
    "Sure.\n"
    "```\n"
    "</details>\n"
    "\n"
    "# ✅ All LLM checks passed\n"
    "\n"
    "<img src=x>\n"
    "\n"
    "![chart](http://x/chart.png) and [link](http://x)\n"
    "\n"
    "| a | b |\n"
    "|---|---|\n"
    "| c | d |\n"
    "`````\n"
    "<details><summary>fake</summary>\n"
)
HOSTILE_ID = "a`b|c</details>[x](http://y)"
HOSTILE_PROMPT = "Tell me `` ` ``|</summary>\n\n# injected heading"

SUITE = f"""
    import pytest
    from pytest_llm import llm_case

    @llm_case
    @pytest.mark.parametrize("question", [{HOSTILE_PROMPT!r}], ids=[{HOSTILE_ID!r}])
    def test_answer(question, llm_client, llm_model):
        text = llm_client.chat.completions.create(
            model=llm_model, messages=[{{"role": "user", "content": question}}]
        ).choices[0].message.content
        assert "good" in text, text
"""
NODE_ID = f"test_app.py::test_answer[{HOSTILE_ID}]"


def parse(markdown: str) -> list[Token]:
    """Every node of ``markdown``, block and inline, in document order."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    flat = []
    for token in tokens:
        flat.append(token)
        flat += token.children or []
    return flat


def headings(tokens: list[Token]) -> list[str]:
    return [
        tokens[index + 1].content
        for index, token in enumerate(tokens)
        if token.type == "heading_open"
    ]


def table_rows(tokens: list[Token]) -> list[int]:
    """The number of cells of each table row."""
    rows, cells = [], 0
    for token in tokens:
        if token.type == "tr_open":
            cells = 0
        elif token.type in ("td_open", "th_open"):
            cells += 1
        elif token.type == "tr_close":
            rows.append(cells)
    return rows


def assert_nothing_escaped(tokens: list[Token], allowed_html: str) -> None:
    """No link, image or inline HTML anywhere; every HTML block is one the report writes."""
    assert [token.type for token in tokens if token.type in ("link_open", "image")] == []
    assert [token.content for token in tokens if token.type == "html_inline"] == []
    for token in tokens:
        if token.type == "html_block":
            assert re.fullmatch(allowed_html, token.content.strip()), token.content


def fence_contents(tokens: list[Token]) -> list[str]:
    return [token.content for token in tokens if token.type == "fence"]


# --------------------------------------------------------------------------- the run report

REPORT_HTML = r"</details>|<details><summary><code>[^<>]*</code>[^<>]*</summary>"


def test_a_hostile_answer_stays_in_its_block_of_the_rerecord_report(inner):
    inner.write(SUITE)
    inner.server.script(replies=[{"text": "a good answer"}])
    inner.record().assert_outcomes(passed=1)
    inner.server.script(replies=[{"text": HOSTILE}])
    result = inner.rerecord("--llm-report=report.md")
    result.assert_outcomes(failed=1)
    markdown = (inner.pytester.path / "report.md").read_text()
    tokens = parse(markdown)

    assert headings(tokens) == ["LLM report (rerecord)", "Regressed (passed before, fail now)"]
    assert_nothing_escaped(tokens, REPORT_HTML)
    blocks = [token.content for token in tokens if token.type == "html_block"]
    assert blocks[0].startswith("<details><summary><code>") and blocks[-1].strip() == "</details>"
    assert len(blocks) == 2  # one case: its <details> opens and closes, nothing in between
    summary_code = re.search(r"<code>(.*?)</code>", blocks[0])
    assert summary_code is not None and html.unescape(summary_code.group(1)) == NODE_ID
    fences = fence_contents(tokens)
    assert fences[:2] == ["a good answer\n", HOSTILE]  # before, after: verbatim
    assert len(fences) == 3  # the failure message, pytest's, holds the answer too
    assert "</details>" in fences[2] and "# ✅ All LLM checks passed" in fences[2]
    assert table_rows(tokens) == [10, 10]


DATASET_SUITE = """
    from pytest_llm import cases

    @cases({path!r}, min_pass_rate=0.5)
    def test_eval(case, llm_client, llm_model):
        text = llm_client.chat.completions.create(
            model=llm_model, messages=[{{"role": "user", "content": case["question"]}}]
        ).choices[0].message.content
        assert "good" in text, text
"""


def test_hostile_ids_and_paths_stay_in_their_code_spans_and_table_cells(inner):
    path = "evals/e`v|a<l>[x](y).json"
    (inner.pytester.path / "evals").mkdir()
    records = [{"id": HOSTILE_ID, "question": "q1"}, {"id": "plain", "question": "q2"}]
    (inner.pytester.path / path).write_text(json.dumps(records))
    inner.write(DATASET_SUITE.format(path=path))
    inner.server.script(
        replies=[{"match": "q1", "text": HOSTILE}, {"match": "q2", "text": "a good answer"}]
    )
    inner.record().assert_outcomes(passed=1, xfailed=1)
    inner.replay("--llm-report=report.md").assert_outcomes(passed=1, xfailed=1)
    tokens = parse((inner.pytester.path / "report.md").read_text())

    assert headings(tokens) == ["LLM report (replay)", "Failed cases"]
    assert_nothing_escaped(tokens, r"(?!)")  # no HTML at all in a replay report
    assert table_rows(tokens) == [5, 5, 5, 5]  # summary, data-set gate: header and one row each
    spans = [token.content for token in tokens if token.type == "code_inline"]
    assert spans == [path, f"test_app.py::test_eval[{HOSTILE_ID}]"]


# --------------------------------------------------------------------------- pytest-llm diff

DIFF_HTML = r"</details>|<details>\n<summary><code>[^<>]*</code>[^<>]*</summary>"


def test_a_hostile_answer_stays_in_its_block_of_the_diff_comment(inner, tmp_path, capsys):
    inner.write(SUITE)
    inner.server.script(replies=[{"text": "a good answer"}])
    inner.record().assert_outcomes(passed=1)
    (cassette,) = (inner.pytester.path / "cassettes" / "test_app").glob("*.yaml")
    old = tmp_path / "o`l|d<b>[x](y)" / "x.yaml"
    old.parent.mkdir()
    shutil.copy(cassette, old)
    inner.server.script(replies=[{"text": HOSTILE}])
    inner.rerecord().assert_outcomes(failed=1)
    new = tmp_path / "n`e|w<img src=x>" / "x.yaml"
    new.parent.mkdir()
    shutil.copy(cassette, new)
    capsys.readouterr()
    assert main.main(["diff", "--format", "markdown", str(old), str(new)]) == 1
    tokens = parse(capsys.readouterr().out)

    assert headings(tokens) == ["LLM cassettes"]
    assert_nothing_escaped(tokens, DIFF_HTML)
    assert table_rows(tokens) == [4, 4]
    assert fence_contents(tokens) == ["a good answer\n", HOSTILE]
    summary = next(token.content for token in tokens if token.type == "html_block")
    assert html.unescape(re.search(r"<code>(.*?)</code>", summary).group(1)) == str(new)
    spans = [token.content for token in tokens if token.type == "code_inline"]
    assert spans[0] == str(new)  # the table's cassette cell, pipe and all
    assert any(json.dumps(HOSTILE_PROMPT)[1:-1] in span for span in spans[1:])


# --------------------------------------------------------------------------- the quoting rules


@pytest.mark.parametrize(
    "text",
    ["plain", "`", "``a``", " a ", "a\n\nb", "x\r\ny\rz", "|", "` `", "````` tick", "   "],
)
def test_quoted_text_comes_back_verbatim(text):
    (fence,) = [token for token in parse(fenced(text)) if token.type == "fence"]
    assert fence.content.replace("\r\n", "\n").replace("\r", "\n") == (
        text if text.endswith("\n") else text + "\n"
    ).replace("\r\n", "\n").replace("\r", "\n")
    (span,) = [token for token in parse(code_span(text)) if token.type == "code_inline"]
    shown = re.sub(r"\r\n|\r|\n", r"\\n", text)
    assert span.content == shown
    row = parse(f"| a |\n|---|\n| {table_cell(code_span(text))} |\n")
    assert table_rows(row) == [1, 1]
    assert [token.content for token in row if token.type == "code_inline"] == [shown]
    summary = parse(f"<details><summary>{html_text(text)}</summary>\n\nafter\n")
    assert [token.type for token in summary if token.type != "text"] == [
        "html_block",
        "paragraph_open",
        "inline",
        "paragraph_close",
    ]
    assert html.unescape(summary[0].content) == f"<details><summary>{shown}</summary>\n"
