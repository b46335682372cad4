"""The provider seam: every LLM API is one module behind one protocol, found by the registry."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import pytest_llm
from pytest_llm import providers
from pytest_llm.cassette.interaction import Interaction
from pytest_llm.providers import Answer, llm_call, sse
from pytest_llm.providers.base import Provider
from pytest_llm.replay import recorder


@dataclasses.dataclass(frozen=True)
class EchoProvider:
    """A provider for a made-up API: ``POST /echo`` answers ``{"said": ...}``, streams end
    with an ``event: bye``."""

    name: str = "echo"
    answer_endpoints: frozenset[str] = frozenset({"echo"})
    streamed_endpoints: frozenset[str] = frozenset({"echo"})
    end_marker_description: str = "event: bye"
    volatile_fields: frozenset[str] = frozenset()
    volatile_headers: frozenset[str] = frozenset()
    volatile_header_prefixes: tuple[str, ...] = ()
    credential_headers: frozenset[str] = frozenset({"x-echo-key"})
    credential_query_parameters: frozenset[str] = frozenset()
    credential_env_vars: tuple[str, ...] = ("ECHO_API_KEY",)
    replay_placeholders: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: {"ECHO_API_KEY": "echo-placeholder"}
    )

    def owns(self, host: str, path: str) -> bool:
        return path.split("?")[0].endswith("/echo")

    def endpoint_of(self, path: str) -> str:
        return "echo"

    def request_input(self, request: Mapping[str, Any]) -> Any:
        return request.get("say")

    def request_model(self, path: str, request: Mapping[str, Any]) -> str | None:
        return path.rsplit("/", 1)[-1] if path.startswith("/echo/models/") else None

    def last_user_text(self, request: Mapping[str, Any]) -> str | None:
        return request.get("say")

    def answer(self, body: Any, endpoint: str) -> Answer:
        return Answer(text=body.get("said"), model="echo-1", prompt_tokens=1, completion_tokens=2)

    def stream_answer(self, events: Sequence[sse.Event]) -> Answer:
        return Answer(text="".join(self.event_text(event.json()) for event in events))

    def event_text(self, payload: Any) -> str:
        return payload.get("piece", "") if isinstance(payload, dict) else ""

    def stream_is_complete(self, events: Sequence[sse.Event]) -> bool:
        return any(event.name == "bye" for event in events)


@pytest.fixture
def echo_registered(monkeypatch: pytest.MonkeyPatch) -> Provider:
    echo = EchoProvider()
    monkeypatch.setattr(providers, "REGISTRY", (echo, *providers.REGISTRY))
    providers._provider_for.cache_clear()
    yield echo
    providers._provider_for.cache_clear()


def _interaction(path: str, body: bytes, content_type: str = "application/json") -> Interaction:
    return Interaction(
        method="POST",
        path=path,
        request_body=b'{"say": "hi"}',
        status=200,
        response_headers={"content-type": [content_type]},
        response_body=body,
    )


def test_openai_compatible_requests_fall_back_to_the_openai_provider() -> None:
    for path in ("/v1/chat/completions", "/openai/deployments/x/chat/completions", "/anything"):
        assert providers.provider_for(path).name == "openai"
    chat = _interaction(
        "/v1/chat/completions",
        b'{"model": "m", "choices": [{"message": {"content": "Hello"}}]}',
    )
    call = llm_call.describe(chat)
    assert (call.provider, call.endpoint, call.text, call.model) == (
        "openai",
        "chat.completions",
        "Hello",
        "m",
    )


def test_a_registered_provider_is_how_the_plugin_reads_its_calls(echo_registered) -> None:
    plain = llm_call.describe(_interaction("/v1/echo", b'{"said": "hello back"}'))
    assert (plain.provider, plain.endpoint, plain.text, plain.messages) == (
        "echo",
        "echo",
        "hello back",
        "hi",
    )
    assert (plain.model, plain.prompt_tokens, plain.completion_tokens) == ("echo-1", 1, 2)
    streamed = b'data: {"piece": "hel"}\n\ndata: {"piece": "lo"}\n\nevent: bye\ndata: {}\n\n'
    call = llm_call.describe(_interaction("/v1/echo", streamed, "text/event-stream"))
    assert call.text == "hello"
    assert providers.replay_placeholders()["ECHO_API_KEY"] == "echo-placeholder"


def test_a_stream_cut_off_before_the_providers_end_marker_is_not_stored(echo_registered) -> None:
    cut = b'data: {"piece": "hel"}\n\n'
    reason = recorder._unstorable_response(_interaction("/v1/echo", cut, "text/event-stream"))
    assert reason is not None and "event: bye" in reason
    whole = cut + b"event: bye\ndata: {}\n\n"
    assert (
        recorder._unstorable_response(_interaction("/v1/echo", whole, "text/event-stream")) is None
    )


#: OpenAI wire-format names that may appear outside providers/ (and the local server in
#: testing/): user-facing defaults and help texts that name OpenAI on purpose.
ALLOWED_OUTSIDE_PROVIDERS = {
    ("plugin.py", "OPENAI_BASE_URL"),  # --llm-base-url help text
    ("config/environment.py", "OPENAI_BASE_URL"),  # docstring of what the plugin exports
    ("cassette/interaction.py", "chat/completions"),  # docstring example of a path
    ("cli/show.py", '"responses"'),  # rendering an empty Responses API answer
    ("assertions/helpers.py", "chat.completions"),  # assert_judged asks through the OpenAI SDK
}
OPENAI_NAMES = re.compile(
    r"\[DONE\]|OPENAI_\w+|chat/completions|chat\.completions|response\.completed|\"responses\""
)


def test_openai_knowledge_lives_in_its_provider_module() -> None:
    package = Path(pytest_llm.__file__).parent
    found = set()
    for module in package.rglob("*.py"):
        relative = module.relative_to(package).as_posix()
        if relative.startswith(("providers/", "testing/")):
            continue
        for match in OPENAI_NAMES.finditer(module.read_text(encoding="utf-8")):
            name = match.group(0)
            found.add((relative, "OPENAI_BASE_URL" if name.startswith("OPENAI_") else name))
    assert found <= ALLOWED_OUTSIDE_PROVIDERS, sorted(found - ALLOWED_OUTSIDE_PROVIDERS)


def test_every_exception_the_plugin_defines_derives_from_one_base() -> None:
    import importlib
    import inspect
    import pkgutil

    from pytest_llm.errors import PytestLLMError

    package = Path(pytest_llm.__file__).parent
    outside, warnings = [], []
    for module_info in pkgutil.walk_packages([str(package)], "pytest_llm."):
        if module_info.name.startswith("pytest_llm.testing"):
            continue  # the local server's own request errors never reach a test
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            defined_here = getattr(value, "__module__", None) == module.__name__
            if not (inspect.isclass(value) and defined_here and not name.startswith("_")):
                continue
            if issubclass(value, Warning):  # issued, never raised: pytest's warning family
                warnings.append(issubclass(value, pytest.PytestWarning))
            elif issubclass(value, BaseException) and not issubclass(value, PytestLLMError):
                outside.append(f"{module.__name__}.{name}")
    assert outside == []
    assert warnings and all(warnings), "every warning category derives from PytestWarning"


def _specializes_a_public_error(cls: type, errors: object) -> bool:
    """A subclass of one of pytest_llm.errors' own errors (CassetteError, ...): caught as that."""
    base = errors.PytestLLMError  # type: ignore[attr-defined]
    return any(
        parent is not base and parent.__module__ == "pytest_llm.errors"
        for parent in cls.__mro__[1:]
    )


def test_every_exception_a_user_may_catch_is_in_pytest_llm_errors() -> None:
    import importlib
    import inspect
    import pkgutil

    from pytest_llm import errors

    package = Path(pytest_llm.__file__).parent
    elsewhere = []
    for module_info in pkgutil.walk_packages([str(package)], "pytest_llm."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, errors.PytestLLMError)
                and value.__module__ == module.__name__
                and module.__name__ not in ("pytest_llm.errors", "pytest_llm.cli.main")
                and value.__name__ != "RefusedDocument"  # internal: always reported as a
                # CassetteError or DatasetError naming the file
                and not _specializes_a_public_error(value, errors)
            ):
                elsewhere.append(f"{module.__name__}.{name}")
    assert elsewhere == []
