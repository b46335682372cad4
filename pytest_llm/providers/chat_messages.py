"""Reading the request bodies that most LLM APIs share: a ``model`` field and a ``messages``
list of ``{"role", "content"}`` (OpenAI's chat, Anthropic's Messages, Cohere's v2 chat)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def body_model(request: Mapping[str, Any]) -> str | None:
    """The request body's ``model``, when it is a string."""
    model = request.get("model")
    return model if isinstance(model, str) else None


def last_user_content(
    request: Mapping[str, Any], content_text: Callable[[Any], str | None]
) -> str | None:
    """The text of the last ``role: user`` message, as ``content_text`` reads its content."""
    messages = request.get("messages")
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return None
