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
_TRUE = frozenset({"yes", "true", "on"})


class _NeedsConstructor(Exception):
    """The document holds a node this module does not build; PyYAML's constructor will."""


def load(text: str) -> Any:
    """``yaml.load(text, Loader=YAML_LOADER)``, faster on plain data; raises like it."""
    node = yaml.compose(text, Loader=YAML_LOADER)
    if node is None:
        return None
    try:
        return _build(node)
    except (_NeedsConstructor, RecursionError):
        return yaml.load(text, Loader=YAML_LOADER)


def _build(node: yaml.Node) -> Any:
    tag = node.tag
    if isinstance(node, yaml.ScalarNode):
        value: str = node.value
        if tag == _STR:
            return value
        if tag == _INT and _PLAIN_INT.fullmatch(value):
            return int(value)
        if tag == _FLOAT and _PLAIN_FLOAT.fullmatch(value):
            return float(value)
        if tag == _BOOL:
            return value.lower() in _TRUE
        if tag == _NULL:
            return None
        raise _NeedsConstructor(tag)
    if isinstance(node, yaml.MappingNode) and tag == _MAP:
        built = {}
        for key_node, value_node in node.value:
            key = _build(key_node)
            if isinstance(key, (dict, list)):  # unhashable: the constructor's error says so
                raise _NeedsConstructor(key_node.tag)
            built[key] = _build(value_node)
        return built
    if isinstance(node, yaml.SequenceNode) and tag == _SEQ:
        return [_build(item) for item in node.value]
    raise _NeedsConstructor(tag)
