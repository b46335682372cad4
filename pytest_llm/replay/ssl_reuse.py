"""One default SSL context for all the HTTP clients an LLM case builds.

Application code often builds a new ``OpenAI()`` per call; each construction makes an httpx
transport, which loads the system's CA certificates into a new SSL context (about 27 ms on a
small machine). While a case runs, the default context (``verify=True``, no client
certificate) is built once and shared: the clients behave the same (an SSL context can serve
many connections), and in replay no TLS handshake happens at all.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Iterator, Sequence
from typing import Any


def shared_context_patches() -> list[tuple[Any, str, Any]]:
    """(object, attribute, replacement) triples for the transports of httpx2 and httpx."""
    patches: list[tuple[Any, str, Any]] = []
    for name in ("httpx2", "httpx"):
        if importlib.util.find_spec(name) is None:
            continue
        transports = importlib.import_module(f"{name}._transports.default")
        original = getattr(transports, "create_ssl_context", None)
        if original is not None:
            patches.append((transports, "create_ssl_context", _memoized_default(original)))
    return patches


def _memoized_default(original: Any) -> Any:
    built: dict[bool, Any] = {}

    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        if verify is not True or cert is not None:
            return original(verify=verify, cert=cert, trust_env=trust_env)
        if trust_env not in built:
            built[trust_env] = original(verify=verify, cert=cert, trust_env=trust_env)
        return built[trust_env]

    return create_ssl_context


@contextlib.contextmanager
def applied(patches: Sequence[tuple[Any, str, Any]]) -> Iterator[None]:
    """``patches`` (from :func:`shared_context_patches`) in place while the block runs: the
    plugin's own clients are built under them. (In replay the proxy variables point at the
    refusing proxy, and httpx builds a transport, and an SSL context, for each of them: four
    contexts, about 0.1 s, for every client otherwise.)"""
    saved = [(target, attribute, getattr(target, attribute)) for target, attribute, _ in patches]
    for target, attribute, replacement in patches:
        setattr(target, attribute, replacement)
    try:
        yield
    finally:
        for target, attribute, original in reversed(saved):
            setattr(target, attribute, original)
