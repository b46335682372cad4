"""Route every HTTP request of a test through a :class:`CassetteRecorder` (vcrpy's patchers),
and in replay refuse any connection that escaped them."""

from __future__ import annotations

import contextlib
import importlib.util
import types
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


class _Patches:
    """Patchers entered around every case, cheaply: a plain ``mock.patch.object`` (a target
    with a ``__dict__``, an attribute it has, a replacement) is applied with ``setattr`` and
    undone in reverse order, as mock undoes it (mock's own enter and exit cost ten times as
    much, and vcrpy builds about 40 of them); any other patcher is entered as the context
    manager it is."""

    def __init__(self, patchers: list[Any]) -> None:
        from unittest import mock

        plain_type = type(mock.patch.object(_Patches, "__doc__", None))
        self._plain: list[tuple[Any, str, Any]] = []
        self._others: list[Any] = []
        for patcher in patchers:
            if type(patcher) is plain_type and _is_plain(patcher, mock.DEFAULT):
                self._plain.append((patcher.getter(), patcher.attribute, patcher.new))
            else:
                self._others.append(patcher)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        undo: list[tuple[Any, str, Any, bool]] = []
        try:
            for target, attribute, replacement in self._plain:
                own = vars(target)
                was_own = attribute in own
                if not was_own and not hasattr(target, attribute):
                    raise AttributeError(f"{target!r} does not have the attribute {attribute!r}")
                undo.append((target, attribute, own.get(attribute), was_own))
                setattr(target, attribute, replacement)
            with contextlib.ExitStack() as stack:
                for patcher in self._others:
                    stack.enter_context(patcher)
                yield
        finally:
            for target, attribute, original, was_own in reversed(undo):
                if was_own:
                    setattr(target, attribute, original)
                else:  # inherited: the patch only shadowed it
                    delattr(target, attribute)


def _is_plain(patcher: Any, default: Any) -> bool:
    """A ``mock.patch.object(target, attribute, new)`` with nothing else asked of it, on a
    target whose attributes live in its ``__dict__`` (a module, a class)."""
    return (
        patcher.new is not default
        and not patcher.create
        and patcher.spec is None
        and patcher.spec_set is None
        and patcher.autospec is None
        and patcher.new_callable is None
        and not patcher.additional_patchers
        and not patcher.kwargs
        and isinstance(patcher.getter(), (type, types.ModuleType))
    )


class Interceptor:
    """Enters vcrpy's patchers (built once) around one run of a case (or one phase of a
    fixture's cassette)."""

    def __init__(
        self, skip_patchers: tuple[str, ...], timing_patches: tuple[tuple[Any, str, Any], ...]
    ) -> None:
        self._router = _Router(skip_patchers)
        self._timing_patches = timing_patches
        self._patchers: _Patches | None = None
        self._timing_patchers: _Patches | None = None

    def _built(self) -> tuple[_Patches, _Patches]:
        if self._patchers is None or self._timing_patchers is None:
            from unittest import mock

            from vcr.patch import CassettePatcherBuilder

            from pytest_llm.replay.ssl_reuse import shared_context_patches

            patchers = list(CassettePatcherBuilder(self._router).build())
            patchers += [
                mock.patch.object(target, attribute, replacement)
                for target, attribute, replacement in shared_context_patches()
            ]
            self._patchers = _Patches(patchers)
            self._timing_patchers = _Patches(
                [
                    mock.patch.object(target, attribute, replacement)
                    for target, attribute, replacement in self._timing_patches
                ]
            )
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
                stack.enter_context(patchers.applied())
                if recorder.recording:
                    stack.enter_context(timing_patchers.applied())
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
