"""Read the YAML that the plugin itself writes, line by line, several times faster than
building it from the parser's events; give up on anything else.

A replayed case spends more time loading its cassette than on anything else the plugin does,
and the cassettes the plugin writes use a small part of YAML: block mappings and sequences
indented by two, plain or single-quoted one-line scalars, literal blocks (``|``, ``|-``,
``|+``) and one-line flow lists of numbers. :func:`load` reads exactly that part and returns
:data:`NOT_PLAIN` on the first line outside it (a comment after data, a tab, a double-quoted or
folded scalar, an anchor, a tag, a flow mapping, an indentation indicator, a character YAML
refuses...), and the caller loads the text with the full loader instead. What it does return
is what ``yaml.load(text, Loader=CSafeLoader)`` gives: ``tests/test_plain_lines.py`` checks that
on every document the plugin writes and on mutations of them, where PyYAML's verdict (a value
or an error) must be matched or the text given up.
"""

from __future__ import annotations

import re
from typing import Any, Final

import yaml

#: What :func:`load` returns for a text outside the subset it reads.
NOT_PLAIN: Final = object()

PLAIN_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
#: Plain decimals PyYAML's resolver makes floats (its exponent needs a sign).
RESOLVED_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")
BOOLS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}
NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_RESOLVER: Any = yaml.resolver.Resolver()
#: First characters of the plain scalars the resolver may give a tag other than str.
RESOLVED_FIRST_CHARACTERS = frozenset(yaml.resolver.Resolver.yaml_implicit_resolvers)
_STR, _BOOL, _NULL = ("tag:yaml.org,2002:" + name for name in ("str", "bool", "null"))

#: Characters YAML does not allow in a stream (libyaml refuses them), and the line breaks
#: other than ``\n`` (NEL, LS, PS, CR) that would make lines differ from ``split("\n")``'s.
_OUTSIDE = re.compile(
    "[^\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
#: A plain scalar's first character must not be an indicator; ``-`` may start a number or
#: a word. Inside, no ``: `` and no `` #``; no space or colon at the end; no tab anywhere.
_PLAIN_START = frozenset("-?:,[]{}#&*!|>'\"%@` ")
_DASH_WORD = re.compile(r"-[0-9A-Za-z.]")
#: Depth past which the full loader (and its limits) takes over.
MAX_DEPTH = 64


class _NotPlain(Exception):
    """Internal: the text is outside the subset."""


def load(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """The document of ``text`` if it is written in the plain subset (ending with a line
    break, nesting at most ``max_depth``), else :data:`NOT_PLAIN`."""
    if not text.endswith("\n") or "\t" in text or not _inside(text):
        return NOT_PLAIN
    lines = text.split("\n")
    lines.pop()  # after the last line break
    if lines and lines[-1] == "...":
        lines.pop()  # the document's end, written after a block that keeps its last lines
    try:
        return _read(lines, max_depth)
    except (_NotPlain, ValueError):  # ValueError: an integer past int()'s digit limit
        return NOT_PLAIN


def _inside(text: str) -> bool:
    """No character of ``text`` is one of :data:`_OUTSIDE` (tabs are checked before)."""
    if text.isascii():  # then only the controls are outside: four times faster than the search
        return text.replace("\n", "").isprintable()
    return _OUTSIDE.search(text) is None


def plain_scalar(value: str) -> Any:
    """A plain scalar as PyYAML resolves and builds it (``_NotPlain`` for a tag it would
    build otherwise: a timestamp, an octal or sexagesimal number, ``.inf``, a merge key...)."""
    if value[0] not in RESOLVED_FIRST_CHARACTERS:
        return value
    if PLAIN_INT.fullmatch(value):
        return int(value)
    if RESOLVED_FLOAT.fullmatch(value):
        return float(value)
    tag = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))
    if tag == _STR:
        return value
    if tag == _BOOL:
        return BOOLS[value.lower()]
    if tag == _NULL and value in NULLS:
        return None
    raise _NotPlain


def _plain_text(value: str) -> str:
    """``value`` if PyYAML reads it as one plain scalar, unchanged."""
    first = value[0]
    if (first in _PLAIN_START and not (first == "-" and _DASH_WORD.match(value))) or (
        ": " in value or " #" in value or value.endswith((" ", ":"))
    ):
        raise _NotPlain
    return value


def _read(lines: list[str], max_depth: int) -> Any:
    """The document of ``lines``: one pass, a stack of the open collections."""
    count = len(lines)
    at = 0
    while at < count and (not lines[at] or lines[at][0] == "#"):
        at += 1  # the header comment
    if at == count or lines[at][0] == " ":
        raise _NotPlain
    root: Any = [] if lines[at] == "-" or lines[at].startswith("- ") else {}
    # the open collections, innermost last, as (indent, container, is a list); the innermost
    # one's also in locals
    stack: list[tuple[int, Any, bool]] = [(0, root, type(root) is list)]
    top_indent, container, in_list = stack[-1]
    pending: Any = _NOTHING  # the key of a "key:" line whose value is on the lines below
    scalars = _SCALARS
    while at < count:
        line = lines[at]
        text = line.lstrip(" ")
        if not text:
            at += 1
            continue
        indent = len(line) - len(text)
        is_item = text[0] == "-" and text[1:2] == " "
        if (not indent and text.startswith(("---", "..."))) or text == "-":
            raise _NotPlain  # a document marker; an empty item
        if pending is not _NOTHING:
            if indent > top_indent or (indent == top_indent and is_item):
                if len(stack) >= max_depth:
                    raise _NotPlain
                value: Any = [] if is_item else {}
                container[pending] = value
                top_indent, container, in_list = indent, value, is_item
                stack.append((indent, value, is_item))
            else:
                container[pending] = None
            pending = _NOTHING
        while indent < top_indent or (
            indent == top_indent and in_list and not is_item and len(stack) > 1
        ):
            stack.pop()
            top_indent, container, in_list = stack[-1]
        if indent != top_indent:
            raise _NotPlain
        at += 1
        if in_list:  # this line must be an item
            if not is_item:
                raise _NotPlain
            text = text[2:]
            if not text or text[0] == " ":
                raise _NotPlain
            colon = _key_end(text)
            if colon < 0:
                value, at = _inline(text, indent, lines, at)
                container.append(value)
                continue
            if len(stack) >= max_depth:
                raise _NotPlain
            indent += 2  # "- key: value": a mapping under the dash
            container.append(container := {})
            top_indent, in_list = indent, False
            stack.append((indent, container, False))
        else:
            if is_item:
                raise _NotPlain
            colon = _key_end(text)
            if colon < 0:
                raise _NotPlain
        key_text = text[:colon]
        key = scalars.get(key_text, _NOTHING)
        if key is _NOTHING:
            key = _plain_key(key_text)
        if colon + 1 == len(text):
            pending = key
            continue
        if text[colon + 2 : colon + 3] in ("", " "):
            raise _NotPlain
        value_text = text[colon + 2 :]
        value = scalars.get(value_text, _NOTHING)
        if value is _NOTHING:
            value, at = _inline(value_text, indent, lines, at)
        container[key] = value
    if pending is not _NOTHING:
        container[pending] = None
    return root


#: Marks "no value" where None is a value.
_NOTHING: Final = object()
#: Plain scalars read before, as built (strings, numbers, booleans, None: immutable, so
#: shared): a cassette repeats its keys and short values, and so do the cassettes of a run.
_SCALARS: dict[str, Any] = {}
_SCALARS_KEPT = 50_000
_SCALAR_KEPT_LENGTH = 64


def _remembered(text: str, value: Any) -> Any:
    if len(text) <= _SCALAR_KEPT_LENGTH:
        if len(_SCALARS) >= _SCALARS_KEPT:
            _SCALARS.clear()
        _SCALARS[text] = value
    return value


def _plain_key(text: str) -> Any:
    """A mapping key (YAML's implicit keys are at most 1024 characters: longer ones, and
    those near the limit, are left to the full loader)."""
    if len(text) > 1000:
        raise _NotPlain
    if text[0] == "'":
        return _remembered(text, _single_quoted(text))
    return _remembered(text, plain_scalar(_plain_text(text)))


def _single_quoted(text: str) -> str:
    """A one-line single-quoted scalar (``''`` is a quote)."""
    if len(text) < 2 or text[-1] != "'":
        raise _NotPlain
    inner = text[1:-1]
    if "'" in inner.replace("''", ""):
        raise _NotPlain
    return inner.replace("''", "'")


def _inline(value: str, indent: int, lines: list[str], at: int) -> tuple[Any, int]:
    """A value on the rest of a line: a scalar, a flow list of numbers, ``[]``, ``{}``, or
    the header of a literal block on the lines from ``at`` (``indent``: its parent's); and
    the line after it."""
    first = value[0]
    if first == "|":
        return _literal(value, indent, lines, at)
    if first == "'":
        return _single_quoted(value), at
    if first == "[":
        return _numbers(value), at
    if value == "{}":
        return {}, at
    return _remembered(value, plain_scalar(_plain_text(value))), at


def _literal(header: str, indent: int, lines: list[str], at: int) -> tuple[str, int]:
    """A literal block scalar: its content lines are indented deeper than ``indent``."""
    chomping = header[1:]
    if chomping not in ("", "-", "+"):
        raise _NotPlain  # an indentation indicator, a comment, ...
    body: list[str] = []
    block_indent = 0
    count = len(lines)
    while at < count:
        line = lines[at]
        if not line:
            if not block_indent:
                raise _NotPlain  # blank lines before the first: their indent matters
            body.append("")
            at += 1
            continue
        text = line.lstrip(" ")
        spaces = len(line) - len(text)
        if not text:
            raise _NotPlain  # a line of spaces: content or not depends on its length
        if not block_indent:
            if spaces <= indent:
                raise _NotPlain  # an empty block
            block_indent = spaces
        elif spaces < block_indent:
            break
        body.append(line[block_indent:])
        at += 1
    if not block_indent:
        raise _NotPlain
    trailing = 0
    while body and not body[-1]:
        body.pop()
        trailing += 1
    content = "\n".join(body)
    if chomping == "-":
        return content, at
    if chomping == "+":
        return content + "\n" * (1 + trailing), at
    return content + "\n", at


def _key_end(text: str) -> int:
    """Where the key of ``key: value`` or ``key:`` ends, or -1 for a line without one."""
    first = text[0]
    if first == "'":  # a single-quoted key: up to the first quote followed by a colon
        closing = text.find("':", 1)
        if closing < 0 or text[closing + 2 : closing + 3] not in ("", " "):
            return -1
        return closing + 1
    if first in '"[{|>&*!?':
        return -1
    colon = text.find(": ")
    if colon > 0:
        return colon
    if text[-1] == ":" and len(text) > 1:
        return len(text) - 1
    return -1


def _numbers(value: str) -> list[Any]:
    """A one-line flow list of plain integers and decimals (``[]`` included)."""
    if not value.endswith("]"):
        raise _NotPlain
    inner = value[1:-1]
    if not inner:
        return []
    numbers: list[Any] = []
    for item in inner.split(", "):
        if PLAIN_INT.fullmatch(item):
            numbers.append(int(item))
        elif RESOLVED_FLOAT.fullmatch(item):
            numbers.append(float(item))
        else:
            raise _NotPlain
    return numbers
