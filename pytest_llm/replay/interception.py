"""Route every HTTP request of a test through a :class:`CassetteRecorder` (vcrpy's patchers),
and in replay refuse any connection that escaped them."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from typing import Any

from pytest_llm.replay.network_guard import NO_ALLOWED_HOSTS, AllowedHosts, NetworkGuard
from pytest_llm.replay.recorder import CassetteRecorder

#: vcrpy patcher group -> the module whose presence makes it useful.
_PATCHER_MODULES = {
    "requests": "requests",
    "boto3": "botocore",
    "urllib3": "urllib3",
    "httplib2": "httplib2",
    "tornado": "tornado",
    "aiohttp": "aiohttp",
    "httpx": "httpx",
    "httpx2": "httpx2",
}


def unneeded_patchers() -> tuple[str, ...]:
    """vcrpy patcher groups whose library is not installed (vcrpy would retry their imports
    on every cassette); computed once per session."""
    from vcr import patch

    known = set(getattr(patch, "PATCHER_NAMES", ()))
    return tuple(
        name
        for name, module in _PATCHER_MODULES.items()
        if name in known and importlib.util.find_spec(module) is None
    )


class _Router:
    """The one cassette object vcrpy's patchers are built for, once per session; while a case
    runs it forwards every question of vcrpy's stubs to the case's recorder. (Building vcrpy's
    patchers costs more than a replayed call; entering built ones costs little.)"""

    _path = "pytest-llm"
    custom_patches: tuple[tuple[Any, str, Any], ...] = ()

    def __init__(self, skip_patchers: tuple[str, ...]) -> None:
        self.skip_patchers = skip_patchers
        self.current: CassetteRecorder | None = None

    def __getattr__(self, name: str) -> Any:
        current = self.__dict__.get("current")
        if current is None:
            raise AttributeError(name)
        return getattr(current, name)

    def __len__(self) -> int:
        """vcrpy's error messages ask ``len(cassette)``: special methods skip ``__getattr__``."""
        return 0 if self.current is None else len(self.current)


class Interceptor:
    """Enters vcrpy's patchers (built once) around one run of a case (or one phase of a
    fixture's cassette)."""

    def __init__(
        self, skip_patchers: tuple[str, ...], timing_patches: tuple[tuple[Any, str, Any], ...]
    ) -> None:
        self._router = _Router(skip_patchers)
        self._timing_patches = timing_patches
        self._patchers: list[Any] | None = None
        self._timing_patchers: list[Any] | None = None

    def _built(self) -> tuple[list[Any], list[Any]]:
        if self._patchers is None or self._timing_patchers is None:
            from unittest import mock

            from vcr.patch import CassettePatcherBuilder

            from pytest_llm.replay.ssl_reuse import shared_context_patches

            self._patchers = list(CassettePatcherBuilder(self._router).build())
            self._patchers += [
                mock.patch.object(target, attribute, replacement)
                for target, attribute, replacement in shared_context_patches()
            ]
            self._timing_patchers = [
                mock.patch.object(target, attribute, replacement)
                for target, attribute, replacement in self._timing_patches
            ]
        return self._patchers, self._timing_patchers

    @property
    def busy(self) -> bool:
        """Whether a recorder is being intercepted now (a case's body, a fixture's phase)."""
        return self._router.current is not None

    @contextlib.contextmanager
    def intercepting(
        self,
        recorder: CassetteRecorder,
        *,
        block_network: bool,
        allowed_hosts: AllowedHosts = NO_ALLOWED_HOSTS,
        where: str | None = None,
    ) -> Iterator[None]:
        """``where``: what runs, as a refused connection names it (default: the case's body)."""
        patchers, timing_patchers = self._built()
        if self._router.current is not None:
            raise RuntimeError("pytest-llm: a case is already being intercepted in this process")
        self._router.current = recorder
        try:
            with contextlib.ExitStack() as stack:
                for patcher in patchers:
                    stack.enter_context(patcher)
                if recorder.recording:
                    for patcher in timing_patchers:
                        stack.enter_context(patcher)
                if block_network:
                    stack.enter_context(
                        NetworkGuard(
                            allowed_hosts,
                            record_command=recorder.miss_context.record_command,
                            where=where or f"{recorder.miss_context.nodeid} (test body)",
                            on_refused=recorder.misses.append,
                        )
                    )
                yield
        finally:
            self._router.current = None
