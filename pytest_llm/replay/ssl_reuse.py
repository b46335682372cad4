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
import os
import threading
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
    built: dict[tuple[bool, str | None, str | None], Any] = {}

    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        if verify is not True or cert is not None:
            return original(verify=verify, cert=cert, trust_env=trust_env)
        # the trust store the default context loads: SSL_CERT_FILE / SSL_CERT_DIR when trusted
        key = (
            trust_env,
            os.environ.get("SSL_CERT_FILE") if trust_env else None,
            os.environ.get("SSL_CERT_DIR") if trust_env else None,
        )
        if key not in built:
            built[key] = original(verify=verify, cert=cert, trust_env=trust_env)
        return built[key]

    return create_ssl_context


@contextlib.contextmanager
def applied(patches: Sequence[tuple[Any, str, Any]]) -> Iterator[None]:
    """``patches`` (from :func:`shared_context_patches`) in place while the block runs: the
    plugin's own clients are built under them. (In replay the proxy variables point at the
    refusing proxy, and httpx builds a transport, and an SSL context, for each of them: four
    contexts, about 0.1 s, for every client otherwise.)"""
    with _APPLYING:  # one build at a time: two threads' undo could otherwise leave it patched
        saved = [
            (target, attribute, getattr(target, attribute)) for target, attribute, _ in patches
        ]
        try:
            for target, attribute, replacement in patches:
                setattr(target, attribute, replacement)
            yield
        finally:
            for target, attribute, original in reversed(saved):
                setattr(target, attribute, original)


_APPLYING = threading.Lock()
