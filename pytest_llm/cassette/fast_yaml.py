"""Load cassette and data-set YAML fast, with PyYAML's own semantics, within loader limits.

Every replayed case loads its cassette, and PyYAML's composer and safe constructor (pure
Python, even over libyaml's parser) take most of that. Cassettes hold plain data: mappings,
sequences, strings, plain integers and decimals, booleans and nulls. :func:`load` reads the
parser's events (libyaml's when PyYAML was built with it) and builds those values directly,
with no node tree in between; a scalar of any other kind (binary, timestamp, octal or
sexagesimal number...) is built by PyYAML's own constructor, and a document with a collection
of another kind (merge keys, ``!!set``, ``!!omap``, a local tag) is loaded again by PyYAML
whole, so the result is always what ``yaml.load(text, Loader=YAML_LOADER)`` gives.

Cassettes and data sets are hostile input (they arrive in pull requests, and ``git diff``
renders them through ``pytest-llm show``), so loading is bounded (:class:`LoadLimits`): the
size of the text, the nesting depth, the number of aliases and what they expand to; a
recursive alias is refused. A document over a limit raises :class:`RefusedDocument` as soon
as the parser reaches the offending line, before anything large is built. Aliases share the
anchored value, as PyYAML's constructor does; the expansion limit bounds what a consumer that
copies them (``json.dumps``, a renderer) can be made to produce.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from pytest_llm.cassette import plain_lines
from pytest_llm.errors import PytestLLMError

#: The fastest safe YAML loader available (libyaml's when PyYAML was built with it).
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Where the limits are explained; every refusal's message points there.
LIMITS_HELP = "see 'Hostile cassettes: loader limits' in docs/cassettes.md"

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
#: Scalars PyYAML's constructor builds on their own (the others need the whole document).
_CONSTRUCTED_SCALARS = frozenset(
    {_INT, _FLOAT, _BOOL, _NULL, "tag:yaml.org,2002:binary", "tag:yaml.org,2002:timestamp"}
)
_PLAIN_INT = plain_lines.PLAIN_INT
_PLAIN_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_RESOLVED_FLOAT = plain_lines.RESOLVED_FLOAT
_BOOLS = plain_lines.BOOLS
_NULLS = plain_lines.NULLS
#: First characters of the plain scalars the loader's resolver may give a tag other than str.
_RESOLVED_FIRST_CHARACTERS = frozenset(YAML_LOADER.yaml_implicit_resolvers)
_ALWAYS_RESOLVE = None in _RESOLVED_FIRST_CHARACTERS


@dataclasses.dataclass(frozen=True)
class LoadLimits:
    """What one YAML document may cost to load. "Size" counts one per node (scalar, sequence,
    mapping) plus the characters of every scalar, aliases expanded."""

    #: The text itself: 64 MiB (the largest real cassettes, batches of embeddings, are a few MB).
    max_bytes: int = 64 * 2**20
    #: Nesting of sequences and mappings, aliases expanded (LLM request and response bodies
    #: nest about 10 deep; the plugin's readers and renderers recurse through them).
    max_depth: int = 200
    #: Alias uses (``*name``): pytest-llm and vcrpy write none.
    max_aliases: int = 10_000
    #: What the aliases add to the document's size, all of them together.
    max_alias_expansion: int = 1_000_000
    #: Nodes of a document that must be loaded by PyYAML's slower constructor (merge keys,
    #: ``!!set``, ``!!omap``, ``!!pairs``, local tags on collections).
    max_constructor_nodes: int = 100_000


LIMITS = LoadLimits()
#: The largest file size ``llm_max_cassette_size`` may allow. Rendering a cassette for git's
#: textconv (``pytest-llm show``) holds about nine times its size in memory, so a hostile
#: cassette at this limit costs about 2 GB; 256 MiB hold about 370 000 one-call interactions.
MAX_CONFIGURABLE_BYTES = 256 * 2**20
#: The limits as the messages and the option's help spell them.
MAX_CONFIGURABLE_SHOWN = f"{MAX_CONFIGURABLE_BYTES // 2**20}MiB"
DEFAULT_SHOWN = f"{LIMITS.max_bytes // 2**20}MiB"
#: The limits of the sessions (and commands) that set their own, innermost last; each is
#: removed by its own token, whatever order they end in.
_set_limits: list[tuple[object, LoadLimits]] = []


def current_limits() -> LoadLimits:
    """The limits of this process: :data:`LIMITS`, with ``llm_max_cassette_size`` applied."""
    return _set_limits[-1][1] if _set_limits else LIMITS


def use_max_bytes(max_bytes: int | None) -> Callable[[], None]:
    """Apply a project's ``llm_max_cassette_size`` (None: the default) to every cassette and
    data set this process reads from now on; returns what removes it again (a pytest session
    removes its own at the end: pytester runs sessions in one process)."""
    if max_bytes is not None and not 0 < max_bytes <= MAX_CONFIGURABLE_BYTES:
        raise ValueError(f"{max_bytes} bytes is outside 1 .. {MAX_CONFIGURABLE_BYTES}")
    token = object()
    limits = LIMITS if max_bytes is None else dataclasses.replace(LIMITS, max_bytes=max_bytes)
    _set_limits.append((token, limits))

    def restore() -> None:
        _set_limits[:] = [entry for entry in _set_limits if entry[0] is not token]

    return restore


def max_bytes_setting(value: str) -> int | None:
    """``llm_max_cassette_size`` (``200MiB``, ``100MB``, bytes) in bytes, None when unset;
    ``ValueError`` saying what is wrong otherwise."""
    if not value.strip():
        return None
    size = parse_size(value)
    if not 0 < size <= MAX_CONFIGURABLE_BYTES:
        raise ValueError(
            f"{value.strip()[:60]!r}: give a size from 1 byte to {MAX_CONFIGURABLE_SHOWN} (the "
            f"default is {DEFAULT_SHOWN}); a larger limit would let a hostile cassette in a "
            "pull request take gigabytes of memory when git diff renders it"
        )
    return size


_SIZE = re.compile(
    r"\s*([0-9]{1,12}(?:\.[0-9]{1,12})?)\s*([KMG]i?B|B)?\s*", re.IGNORECASE | re.ASCII
)
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}


def parse_size(text: str) -> int:
    """``64MiB``, ``200MB``, ``1.5GiB``, ``5000000`` (bytes) as a whole number of bytes;
    ``ValueError`` otherwise."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text.strip()[:60]!r} is not a size such as 200MiB, 100MB or 5000000")
    number, unit = match.group(1), (match.group(2) or "").lower()
    whole, _, fraction = number.partition(".")
    denominator = int(10 ** len(fraction))
    size, remainder = divmod(
        (int(whole) * denominator + int(fraction or "0")) * _UNITS[unit], denominator
    )
    if remainder:
        raise ValueError(f"{text.strip()[:60]!r} is not a whole number of bytes")
    return int(size)


class RefusedDocument(PytestLLMError, yaml.MarkedYAMLError):
    """A document over a :class:`LoadLimits` limit, or with a recursive alias; ``problem`` says
    which, ``problem_mark`` (None for the text's size) where the parser was."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


def read_bounded(path: Path, limits: LoadLimits | None = None) -> bytes:
    """The bytes of ``path``, refused (:class:`RefusedDocument`) above ``limits.max_bytes``
    without reading more than that; ``OSError`` as ``open`` raises it."""
    limits = limits or current_limits()
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limits.max_bytes:
            raise RefusedDocument(_too_large(limits))
        # read(n) allocates n bytes first: ask for the size stat gives (one more, to see a
        # file that grew), the limit only where stat cannot tell (0: a pipe, /proc)
        data = handle.read((size or limits.max_bytes) + 1)
        if size and len(data) > size:  # it grew while being read: the rest, up to the limit
            data += handle.read(limits.max_bytes + 1 - len(data))
    if len(data) > limits.max_bytes:
        raise RefusedDocument(_too_large(limits))
    return data


def _too_large(limits: LoadLimits) -> str:
    return (
        f"larger than {limits.max_bytes} bytes, the limit for a cassette or data set "
        f"(ini llm_max_cassette_size sets it, up to {MAX_CONFIGURABLE_SHOWN})"
    )


def load(text: str, limits: LoadLimits | None = None) -> Any:
    """``yaml.load(text, Loader=YAML_LOADER)``, faster on plain data, within ``limits``.

    Raises :class:`RefusedDocument` for a document over a limit and ``yaml.YAMLError`` for
    every document PyYAML refuses, including those where PyYAML itself would let a
    ``ValueError`` or ``KeyError`` escape.
    """
    limits = limits or current_limits()
    if len(text) > limits.max_bytes:  # characters: at least as many bytes
        raise RefusedDocument(_too_large(limits))
    if YAML_LOADER is not yaml.SafeLoader:  # libyaml's verdicts are the ones matched
        plain = plain_lines.load(text, max_depth=min(plain_lines.MAX_DEPTH, limits.max_depth))
        if plain is not plain_lines.NOT_PLAIN:
            return plain
    loader = YAML_LOADER(text)
    try:
        builder = _Builder(loader, limits)
        document = _guarded(builder.document)
    finally:
        loader.dispose()
    if not builder.needs_constructor:
        return document
    if builder.nodes > limits.max_constructor_nodes:
        raise RefusedDocument(
            f"{builder.needs_constructor} makes PyYAML's slower constructor load the document, "
            f"which pytest-llm allows for at most {limits.max_constructor_nodes} nodes; this one "
            f"has {builder.nodes}"
        )
    return _guarded(lambda: yaml.load(text, Loader=YAML_LOADER))


def _guarded(load_document: Any) -> Any:
    try:
        return load_document()
    except (ValueError, KeyError, AttributeError, TypeError, RecursionError) as error:
        # PyYAML's constructors let these through for a bad explicit tag ("!!int abc",
        # "!!bool maybe", "!!timestamp x") or a long chain of merge keys: a YAML error like
        # any other malformed document
        raise yaml.constructor.ConstructorError(
            None, None, f"a tagged value cannot be built ({type(error).__name__}: {error})", None
        ) from None


class _Anchored:
    """An anchored value, its size and height once its end event has been read."""

    __slots__ = ("done", "height", "size", "value")

    def __init__(self, value: Any) -> None:
        self.value, self.size, self.height, self.done = value, 0, 0, False


class _Builder:
    """Builds one document from the parser's events. A frame per open collection:
    ``[container, size, height, anchored, pending key, has key, start mark]``; a mapping
    alternates key and value. Aliases share the anchored value, as PyYAML's constructor does.
    """

    def __init__(self, loader: Any, limits: LoadLimits) -> None:
        self.loader, self.limits = loader, limits
        self.anchors: dict[str, _Anchored] = {}
        self.aliases = 0
        self.expansion = 0
        self.nodes = 0
        #: What made the document need PyYAML's constructor ("" while nothing did).
        self.needs_constructor = ""

    def document(self) -> Any:
        get_event = self.loader.get_event
        get_event()  # stream start
        event = get_event()
        if isinstance(event, StreamEndEvent):
            return None
        value = self._node_tree(get_event)
        end = get_event()  # the document's end
        following = get_event()
        if not isinstance(following, StreamEndEvent):
            raise yaml.composer.ComposerError(
                "expected a single document in the stream",
                end.start_mark,
                "but found another document",
                following.start_mark,
            )
        return value

    def _node_tree(self, get_event: Any) -> Any:
        """The document's value. One frame per open collection: ``[container, is a list,
        pending key, has a key, start mark, anchored, size before, deepest before]``. ``size``
        and ``deepest`` run over the whole document, aliases expanded; an anchored collection's
        own size and height are their growth while it is open."""
        limits = self.limits
        max_depth = limits.max_depth
        resolved_first = _RESOLVED_FIRST_CHARACTERS
        stack: list[list[Any]] = []
        nodes = size = deepest = 0
        frame: list[Any] = [None, True, None, False, None, None, 0, 0]
        while True:
            event = get_event()
            kind = type(event)
            if kind is ScalarEvent:
                nodes += 1
                value = event.value
                size += 1 + len(value)
                if event.tag is not None or (
                    event.implicit[0] and (_ALWAYS_RESOLVE or value[:1] in resolved_first)
                ):
                    if (
                        event.tag is None
                        and value.isdigit()
                        and value.isascii()
                        and (value[0] != "0" or len(value) == 1)
                    ):
                        value = int(value)  # a plain decimal integer: what _scalar gives
                    else:
                        value = self._scalar(event)
                if event.anchor is not None:
                    anchored = self._anchor(event)
                    anchored.value, anchored.size, anchored.done = value, 1 + len(event.value), True
            elif kind is AliasEvent:
                target = self.anchors.get(event.anchor or "")
                if target is None:
                    raise yaml.composer.ComposerError(
                        None, None, f"found undefined alias {event.anchor!r}", event.start_mark
                    )
                self._count_alias(event, target, len(stack))
                value = target.value
                size += target.size
                deepest = max(deepest, len(stack) + target.height)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                nodes += 1
                size += 1
                if len(stack) >= max_depth:
                    raise RefusedDocument(self._too_deep(), event.start_mark)
                is_list = kind is SequenceStartEvent
                tag = event.tag
                if tag is not None and tag != "!" and tag != (_SEQ if is_list else _MAP):
                    self.needs_constructor = self.needs_constructor or f"the tag {tag!r}"
                container: Any = [] if is_list else {}
                opened = None if event.anchor is None else self._anchor(event, container)
                stack.append(frame)
                frame = [container, is_list, None, False, event.start_mark, opened, size - 1, 0]
                if len(stack) > deepest:
                    deepest = len(stack)
                if opened is not None:
                    frame[7], deepest = deepest, len(stack)
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                value, anchored = frame[0], frame[5]
                if anchored is not None:
                    anchored.size = size - frame[6]
                    anchored.height = deepest - len(stack) + 1
                    anchored.done = True
                    deepest = max(deepest, frame[7])
                frame = stack.pop()
            else:  # the parser yields node events only here
                raise yaml.composer.ComposerError(
                    None, None, f"unexpected {kind.__name__}", event.start_mark
                )
            if not stack:
                self.nodes = nodes
                return value
            container = frame[0]
            if frame[1]:
                container.append(value)
            elif frame[3]:
                container[frame[2]] = value
                frame[3] = False
            else:
                if type(value) is dict or type(value) is list:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        frame[4],
                        "found unhashable key",
                        event.start_mark,
                    )
                frame[2], frame[3] = value, True

    def _scalar(self, event: ScalarEvent) -> Any:
        """A scalar that may not be a plain string."""
        value: str = event.value
        tag = event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return value
            if not _ALWAYS_RESOLVE and value[:1] not in _RESOLVED_FIRST_CHARACTERS:
                return value
            if _PLAIN_INT.fullmatch(value):  # what the resolver makes an int or float too
                return int(value)
            if _RESOLVED_FLOAT.fullmatch(value):
                return float(value)
            tag = self.loader.resolve(yaml.ScalarNode, value, event.implicit)
        if tag == _STR:
            return value
        if tag == _INT and _PLAIN_INT.fullmatch(value):
            return int(value)
        if tag == _FLOAT and _PLAIN_FLOAT.fullmatch(value):
            return float(value)
        if tag == _BOOL and value.lower() in _BOOLS:
            return _BOOLS[value.lower()]
        if tag == _NULL and value in _NULLS:
            return None
        if tag in _CONSTRUCTED_SCALARS:
            start: Any = event.start_mark
            end: Any = event.end_mark
            node = yaml.ScalarNode(tag, value, start, end, event.style)
            return self.loader.construct_object(node)
        # a merge key ("<<"), a value key ("="), a collection's tag on a scalar, a local tag:
        # PyYAML's constructor builds (or refuses) the whole document
        self.needs_constructor = self.needs_constructor or f"the scalar {value!r} ({tag})"
        return value

    def _anchor(self, event: Any, value: Any = None) -> _Anchored:
        known = self.anchors.get(event.anchor)
        if known is not None:
            raise yaml.composer.ComposerError(
                f"found duplicate anchor {event.anchor!r}; first occurrence",
                None,
                "second occurrence",
                event.start_mark,
            )
        anchored = self.anchors[event.anchor] = _Anchored(value)
        return anchored

    def _count_alias(self, event: AliasEvent, anchored: _Anchored, depth: int) -> None:
        limits = self.limits
        if not anchored.done:
            raise RefusedDocument(
                f"the alias *{event.anchor} is recursive (it refers to a collection that "
                "contains it)",
                event.start_mark,
            )
        self.aliases += 1
        self.expansion += anchored.size
        if self.aliases > limits.max_aliases:
            raise RefusedDocument(
                f"more than {limits.max_aliases} aliases (*name); a YAML alias bomb?",
                event.start_mark,
            )
        if self.expansion > limits.max_alias_expansion:
            raise RefusedDocument(
                f"its aliases expand to more than {limits.max_alias_expansion} nodes and "
                f"characters (here *{event.anchor}); a YAML alias bomb?",
                event.start_mark,
            )
        if depth + anchored.height > limits.max_depth:
            raise RefusedDocument(self._too_deep(), event.start_mark)

    def _too_deep(self) -> str:
        return f"nested more than {self.limits.max_depth} levels deep (aliases expanded)"
