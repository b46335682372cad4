"""Environment variables the plugin sets for the run, so clients the application builds itself
(``OpenAI()`` with no arguments) reach the right endpoint, and work without a key in replay."""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping

from pytest_llm import providers
from pytest_llm.config.settings import Mode, Settings, is_loopback_url
from pytest_llm.providers import openai


def apply(settings: Settings, environ: MutableMapping[str, str] = os.environ) -> Callable[[], None]:
    """Set OPENAI_BASE_URL (from --llm-base-url) and, in replay or against a local server, each
    provider's placeholder credentials where unset; while recording, also those of a provider
    whose SDK's own endpoint variable (``ANTHROPIC_BASE_URL``, ...) points at loopback. Returns the function that restores the
    previous values."""
    changes: dict[str, str] = {}
    if settings.base_url:
        changes[openai.BASE_URL_VARIABLE] = settings.base_url
    needs_no_key = settings.mode is Mode.REPLAY or is_loopback_url(settings.base_url)
    for provider in providers.REGISTRY:
        # an SDK's own endpoint variable (ANTHROPIC_BASE_URL, ...) at a local server: that
        # provider's calls need no real key either
        local = any(
            is_loopback_url(environ.get(name))
            for name in getattr(provider, "base_url_env_vars", ())
        )
        if needs_no_key or local:
            for name, placeholder in provider.replay_placeholders.items():
                if not environ.get(name) and name not in changes:
                    changes[name] = placeholder
    previous = {name: environ.get(name) for name in changes}
    environ.update(changes)

    def restore() -> None:
        for name, value in previous.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value

    return restore
