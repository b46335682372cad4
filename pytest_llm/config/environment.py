"""Environment variables the plugin sets for the run, so clients the application builds itself
(``OpenAI()`` with no arguments) reach the right endpoint, and work without a key in replay."""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping

from pytest_llm.config.settings import PLACEHOLDER_API_KEY, Mode, Settings, is_loopback_url


def apply(settings: Settings, environ: MutableMapping[str, str] = os.environ) -> Callable[[], None]:
    """Set OPENAI_BASE_URL (from --llm-base-url) and, in replay or against a local server, a
    placeholder OPENAI_API_KEY when none is set. Returns the function that restores the previous values."""
    changes: dict[str, str] = {}
    if settings.base_url:
        changes["OPENAI_BASE_URL"] = settings.base_url
    needs_no_key = settings.mode is Mode.REPLAY or is_loopback_url(settings.base_url)
    if needs_no_key and not environ.get("OPENAI_API_KEY"):
        changes["OPENAI_API_KEY"] = PLACEHOLDER_API_KEY
    previous = {name: environ.get(name) for name in changes}
    environ.update(changes)

    def restore() -> None:
        for name, value in previous.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value

    return restore
