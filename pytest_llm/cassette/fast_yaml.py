"""Load cassette YAML fast, with PyYAML's own semantics.

Every replayed case loads its cassette, and PyYAML's safe constructor (pure Python, even over
libyaml's parser) takes about half of that. Cassettes hold plain data: mappings, sequences,
strings, plain integers and decimals, booleans and nulls. :func:`load` composes the node tree
with the fastest safe loader and builds those few kinds of node directly; a document holding
anything else (binary, timestamps, merge keys, octal or sexagesimal numbers, a recursive
alias...) is loaded again by PyYAML's constructor, so the result is always what
``yaml.load(text, Loader=YAML_LOADER)`` gives.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

#: The fastest safe YAML loader available (libyaml's when PyYAML was built with it).
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_PLAIN_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_PLAIN_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_BOOLS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})


class _NeedsConstructor(Exception):
    """The document holds a node this module does not build; PyYAML's constructor will."""


def load(text: str) -> Any:
    """``yaml.load(text, Loader=YAML_LOADER)``, faster on plain data.

    Raises ``yaml.YAMLError`` for every document PyYAML refuses, including those where PyYAML
    itself would let a ``ValueError`` or ``KeyError`` escape.
    """
    node = yaml.compose(text, Loader=YAML_LOADER)
    if node is None:
        return None
    try:
        return _Builder().build(node)
    except (_NeedsConstructor, RecursionError):
        pass
    try:
        return yaml.load(text, Loader=YAML_LOADER)
    except (ValueError, KeyError, AttributeError, TypeError) as error:
        # PyYAML's constructors let these through for a bad explicit tag ("!!int abc",
        # "!!bool maybe", "!!timestamp x"): a YAML error like any other malformed document
        raise yaml.constructor.ConstructorError(
            None, None, f"a tagged value cannot be built ({type(error).__name__}: {error})", None
        ) from None


class _Builder:
    """Builds each node once: an alias shares the anchored value, as PyYAML's constructor
    does (copying it at every alias would make nested aliases explode)."""

    def __init__(self) -> None:
        self._built: dict[int, Any] = {}

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        known = self._built.get(id(node))
        if known is not None:
            return known
        tag = node.tag
        if isinstance(node, yaml.MappingNode) and tag == _MAP:
            mapping: dict[Any, Any] = {}
            self._built[id(node)] = mapping  # before the children: a recursive alias finds it
            for key_node, value_node in node.value:
                key = self.build(key_node)
                if isinstance(key, (dict, list)):  # unhashable: the constructor's error says so
                    raise _NeedsConstructor(key_node.tag)
                mapping[key] = self.build(value_node)
            return mapping
        if isinstance(node, yaml.SequenceNode) and tag == _SEQ:
            sequence: list[Any] = []
            self._built[id(node)] = sequence
            sequence.extend(self.build(item) for item in node.value)
            return sequence
        raise _NeedsConstructor(tag)


def _scalar(node: yaml.ScalarNode) -> Any:
    tag, value = node.tag, node.value
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
    raise _NeedsConstructor(tag)
