"""Text quoted for Markdown (CommonMark and GitHub's tables) so that it cannot leave its block.

Model answers, request text, test ids, failure messages and file paths are hostile input
here: an answer holding a fence closer and ``</details>`` must not end the report's block and
add headings, images or links of its own. Each function quotes for one place:

- :func:`fenced`: a code block whose fence is longer than any backtick run of the text, so no
  line of the text can close it;
- :func:`code_span`: inline code, likewise delimited by a backtick run longer than any inside
  it, on one line (a blank line would end the paragraph it sits in);
- :func:`html_text`: text inside HTML (``<summary>``), escaped and on one line (a blank line
  would end the HTML block, and Markdown would start again);
- :func:`table_cell`: a cell of a table: ``|`` escaped (GitHub splits cells on it even inside
  code spans), on one line.
"""

from __future__ import annotations

import html
import re

_BACKTICKS = re.compile(r"`+")
_LINE_ENDINGS = re.compile(r"\r\n|\r|\n")


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def one_line(text: str) -> str:
    """``text`` with its line endings (CommonMark's: LF, CR, CRLF) shown as ``\\n``."""
    return _LINE_ENDINGS.sub(r"\\n", text)


def fenced(text: str, info: str = "text") -> str:
    """A fenced code block holding ``text`` verbatim."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    body = text if text.endswith(("\n", "\r")) else text + "\n"
    return f"{fence}{info}\n{body}{fence}"


def code_span(text: str) -> str:
    """Inline code showing ``text`` (line endings shown as ``\\n``)."""
    text = one_line(text)
    ticks = "`" * (_longest_backtick_run(text) + 1)
    # CommonMark strips one space from each end when both ends have one: pad where a backtick
    # would otherwise touch the delimiters, or where that stripping would eat the text's spaces
    padded = text.startswith("`") or text.endswith("`") or (text[:1] == text[-1:] == " ")
    padding = " " if padded and text.strip() else ""
    return f"{ticks}{padding}{text}{padding}{ticks}"


def html_text(text: str) -> str:
    """``text`` for inside an HTML element: escaped, on one line."""
    return html.escape(one_line(text))


def table_cell(markdown: str) -> str:
    """Markdown (say, a :func:`code_span`) made safe as one table cell."""
    return one_line(markdown).replace("|", "\\|")
