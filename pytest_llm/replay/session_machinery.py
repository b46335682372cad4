"""Per-session machinery shared by every case: settings, scrubber, patches, clients."""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from pytest_llm.cassette.scrubbing import Scrubber
from pytest_llm.cassette.verification import VerificationDates
from pytest_llm.config.settings import Settings
from pytest_llm.providers import openai as openai_api
from pytest_llm.providers.pricing import BUILTIN_PRICES, Price
from pytest_llm.replay import interception, ssl_reuse, timing
from pytest_llm.replay.network_guard import AllowedHosts

if TYPE_CHECKING:
    import openai


class Engine:
    """Built at configure time; what costs imports (vcrpy, httpcore) is prepared on first use,
    so a session without LLM cases pays nothing for them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.scrubber = Scrubber.from_environment(settings.redact_patterns, dict(os.environ))
        self.prices: dict[str, Price] = {**BUILTIN_PRICES, **settings.prices}
        self._sync_client: Any = None
        self.local_models: dict[str, Any] = {}  # similarity method "local": loaded once
        self.verification = VerificationDates()  # the .verified.json sidecars, read once

    @functools.cached_property
    def transport_patches(self) -> tuple[tuple[Any, str, Any], ...]:
        """Timing wrappers of the httpcore connection pools (used only while recording)."""
        return tuple(timing.transport_patches())

    @functools.cached_property
    def _one_ssl_context(self) -> tuple[tuple[Any, str, Any], ...]:
        """What builds the session's clients with one default SSL context (see ssl_reuse)."""
        return tuple(ssl_reuse.shared_context_patches())

    @functools.cached_property
    def allowed_hosts(self) -> AllowedHosts:
        """``llm_allowed_hosts``: reached live in replay and bypassing the cassettes."""
        return AllowedHosts.parse(self.settings.allowed_hosts)

    @functools.cached_property
    def skip_patchers(self) -> tuple[str, ...]:
        return interception.unneeded_patchers()

    @functools.cached_property
    def interceptor(self) -> interception.Interceptor:
        return interception.Interceptor(self.skip_patchers, self.transport_patches)

    def _client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "api_key": os.environ.get(openai_api.API_KEY_VARIABLE)
            or openai_api.PLACEHOLDER_API_KEY,
            "base_url": self.settings.base_url,
        }
        if not self.settings.recording:
            options["max_retries"] = 0  # a replay miss fails at once
        return options

    def sync_client(self) -> openai.OpenAI:
        """One client for the session: building one costs tens of milliseconds (TLS setup),
        and interception works at the transport, so cases can share it."""
        if self._sync_client is None:
            import openai

            with ssl_reuse.applied(self._one_ssl_context):
                self._sync_client = openai.OpenAI(**self._client_options())
        client: openai.OpenAI = self._sync_client
        return client

    def new_async_client(self) -> openai.AsyncOpenAI:
        """A fresh async client per case: its connections belong to the case's event loop."""
        import openai

        with ssl_reuse.applied(self._one_ssl_context):
            return openai.AsyncOpenAI(**self._client_options())

    def close(self) -> None:
        if self._sync_client is not None:
            self._sync_client.close()
            self._sync_client = None
