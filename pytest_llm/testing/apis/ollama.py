"""Ollama's native API on the local server: ``POST /api/chat``, ``/api/generate``, ``/api/embed``
and the older ``/api/embeddings``, as the ``ollama`` SDK reads them; ``/api/show`` (a model's
details) as LiteLLM asks for it.

Plain answers are one JSON document; streams (``stream`` true, Ollama's default when the field
is absent) are NDJSON (``application/x-ndjson``): one compact JSON document a line, as Ollama's
Go encoder writes them, the last with ``done: true`` and the counts (the line a ``truncate``
fault leaves out). Tool calls arrive whole, with the arguments as a JSON object. Errors are
``{"error": "..."}``. Point the SDK here with ``ollama.Client(host=server.root_url)`` (or
``OLLAMA_HOST``). Replies name the endpoints ``ollama.chat``, ``ollama.generate``,
``ollama.embed`` and ``ollama.embeddings``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from pytest_llm.testing import fake_model
from pytest_llm.testing.fake_model import Answer
from pytest_llm.testing.script import MAX_EMBEDDING_DIMENSIONS, register_endpoints
from pytest_llm.testing.server import register_api_routes

if TYPE_CHECKING:
    from pytest_llm.testing.server import OpenAIRequestHandler

NDJSON_TYPE = "application/x-ndjson"
CHAT = "ollama.chat"
GENERATE = "ollama.generate"
EMBED = "ollama.embed"
EMBEDDINGS = "ollama.embeddings"
#: Made-up but plausible durations (nanoseconds), different on every call as Ollama's are.
_NANOSECONDS_PER_TOKEN = 20_000_000

_DEFAULT_ERRORS = {
    400: "invalid request",
    401: "unauthorized",
    404: 'model "llama3.2" not found, try pulling it first',
    429: "too many requests",
    500: "llama runner process has terminated",
    503: "server busy, please try again.  maximum pending requests exceeded",
}


def error_body(status: int, message: str = "") -> dict[str, Any]:
    """Ollama's error JSON: ``{"error": "..."}``."""
    default = _DEFAULT_ERRORS.get(status, "internal error" if status >= 500 else "error")
    return {"error": message or default}


@dataclasses.dataclass(frozen=True)
class NDJSONLine:
    """One line of an NDJSON stream; ``phase`` drives ttft delays and truncation."""

    data: Mapping[str, Any]
    phase: Literal["opening", "content", "closing"]

    def encode(self) -> bytes:
        return (_compact(self.data) + "\n").encode("utf-8")


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _counts(answer: Answer) -> dict[str, Any]:
    """The closing fields: durations and the token counts."""
    prompt_ns = answer.prompt_tokens * _NANOSECONDS_PER_TOKEN // 4
    eval_ns = answer.completion_tokens * _NANOSECONDS_PER_TOKEN
    load_ns = 1_000_000 + int(datetime.now().microsecond)  # differs on every call
    return {
        "total_duration": load_ns + prompt_ns + eval_ns,
        "load_duration": load_ns,
        "prompt_eval_count": answer.prompt_tokens,
        "prompt_eval_duration": prompt_ns,
        "eval_count": answer.completion_tokens,
        "eval_duration": eval_ns,
    }


def _tool_call(call: Mapping[str, Any]) -> dict[str, Any]:
    """A scripted tool call as Ollama sends it: the arguments as an object, no id."""
    function = call["function"]
    try:
        arguments = json.loads(function["arguments"])
    except ValueError:
        arguments = {"input": function["arguments"]}
    if not isinstance(arguments, dict):
        arguments = {"input": arguments}
    return {"function": {"name": function["name"], "arguments": arguments}}


def _message(content: str, tool_calls: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [_tool_call(call) for call in tool_calls]
    return message


def _closing(answer: Answer) -> dict[str, Any]:
    return {"done_reason": "stop", "done": True, **_counts(answer)}


def chat_body(answer: Answer) -> dict[str, Any]:
    """A ``ChatResponse``: the message (text and tool calls), then the counts."""
    return {
        "model": answer.model,
        "created_at": _now(),
        "message": _message(answer.text, answer.tool_calls),
        **_closing(answer),
    }


def chat_stream_lines(answer: Answer) -> list[NDJSONLine]:
    """The lines of a chat stream: a piece of text each, tool calls whole, then ``done``."""
    head = {"model": answer.model}
    lines = [
        NDJSONLine(
            {**head, "created_at": _now(), "message": _message(piece), "done": False}, "content"
        )
        for piece in fake_model.split_into_pieces(answer.text, answer.chunk_chars)
    ]
    if answer.tool_calls:
        message = _message("", answer.tool_calls)
        lines.append(
            NDJSONLine({**head, "created_at": _now(), "message": message, "done": False}, "content")
        )
    closing = {**head, "created_at": _now(), "message": _message(""), **_closing(answer)}
    lines.append(NDJSONLine(closing, "closing"))
    return lines


def _context(answer: Answer) -> list[int]:
    """The token ids a generate answer returns for the next call's ``context``."""
    return [1000 + index for index in range(answer.prompt_tokens + answer.completion_tokens)]


def generate_body(answer: Answer) -> dict[str, Any]:
    return {
        "model": answer.model,
        "created_at": _now(),
        "response": answer.text,
        "done": True,
        "done_reason": "stop",
        "context": _context(answer),
        **_counts(answer),
    }


def generate_stream_lines(answer: Answer) -> list[NDJSONLine]:
    head = {"model": answer.model}
    lines = [
        NDJSONLine({**head, "created_at": _now(), "response": piece, "done": False}, "content")
        for piece in fake_model.split_into_pieces(answer.text, answer.chunk_chars)
    ]
    closing = {
        **head,
        "created_at": _now(),
        "response": "",
        "done": True,
        "done_reason": "stop",
        "context": _context(answer),
        **_counts(answer),
    }
    lines.append(NDJSONLine(closing, "closing"))
    return lines


class InvalidRequest(Exception):
    """A request Ollama answers with 400 ``{"error": ...}``."""


def _model_of(request: Mapping[str, Any]) -> str:
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model is required")
    return model


def _streams(request: Mapping[str, Any]) -> bool:
    """Ollama streams unless the request says ``"stream": false``."""
    return request.get("stream") is not False


def _serve_chat(handler: OpenAIRequestHandler, payload: Any, _match: re.Match[str]) -> None:
    request = payload if isinstance(payload, dict) else {}
    messages = request.get("messages", [])
    if not isinstance(messages, list):
        raise InvalidRequest("messages must be a list")
    _model_of(request)
    last_user_text = fake_model.last_user_chat_text(messages)
    plan = handler.state.plan(CHAT, [last_user_text])
    prompt_tokens = fake_model.count_prompt_tokens(fake_model.chat_texts(messages))
    answer = plan.answer(request, last_user_text, prompt_tokens)
    handler.respond(
        CHAT,
        plan,
        _streams(request),
        lambda: chat_body(answer),
        lambda: chat_stream_lines(answer),
        stream_type=NDJSON_TYPE,
        error_body=error_body,
    )


def _serve_generate(handler: OpenAIRequestHandler, payload: Any, _match: re.Match[str]) -> None:
    request = payload if isinstance(payload, dict) else {}
    _model_of(request)
    prompt = request.get("prompt", "")
    if not isinstance(prompt, str):
        raise InvalidRequest("prompt must be a string")
    system = request.get("system")
    texts = [prompt, system] if isinstance(system, str) else [prompt]
    plan = handler.state.plan(GENERATE, [prompt])
    answer = plan.answer(request, prompt, fake_model.count_prompt_tokens(texts))
    handler.respond(
        GENERATE,
        plan,
        _streams(request),
        lambda: generate_body(answer),
        lambda: generate_stream_lines(answer),
        stream_type=NDJSON_TYPE,
        error_body=error_body,
    )


def _dimensions(request: Mapping[str, Any], default: int) -> int:
    dimensions = request.get("dimensions", default)
    valid = isinstance(dimensions, int) and not isinstance(dimensions, bool)
    if not valid or not 1 <= dimensions <= MAX_EMBEDDING_DIMENSIONS:
        raise InvalidRequest(f"dimensions must be an integer from 1 to {MAX_EMBEDDING_DIMENSIONS}")
    return int(dimensions)


def _serve_embed(handler: OpenAIRequestHandler, payload: Any, _match: re.Match[str]) -> None:
    request = payload if isinstance(payload, dict) else {}
    model = _model_of(request)
    raw = request.get("input", "")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise InvalidRequest("input must be a string or a list of strings")
    plan = handler.state.plan(EMBED, texts)
    dimensions = _dimensions(request, plan.embedding_dimensions)
    answer = Answer(
        text="",
        model=plan.answering_model(request, model),
        prompt_tokens=fake_model.count_prompt_tokens(texts),
    )
    counts = _counts(answer)
    body = {
        "model": answer.model,
        "embeddings": [fake_model.embed_text(text, dimensions) for text in texts],
        "total_duration": counts["total_duration"],
        "load_duration": counts["load_duration"],
        "prompt_eval_count": counts["prompt_eval_count"],
    }
    handler.respond(EMBED, plan, False, lambda: body, error_body=error_body)


def _serve_embeddings(handler: OpenAIRequestHandler, payload: Any, _match: re.Match[str]) -> None:
    """The older endpoint: one prompt, one ``embedding``, no counts at all."""
    request = payload if isinstance(payload, dict) else {}
    _model_of(request)
    prompt = request.get("prompt", "")
    if not isinstance(prompt, str):
        raise InvalidRequest("prompt must be a string")
    plan = handler.state.plan(EMBEDDINGS, [prompt])
    vector = fake_model.embed_text(prompt, plan.embedding_dimensions)
    handler.respond(EMBEDDINGS, plan, False, lambda: {"embedding": vector}, error_body=error_body)


Serve = Callable[["OpenAIRequestHandler", Any, "re.Match[str]"], None]


def _serve_show(handler: OpenAIRequestHandler, payload: Any, _match: re.Match[str]) -> None:
    """A model's details (LiteLLM asks for them to learn a model's context length)."""
    request = payload if isinstance(payload, dict) else {}
    model = request.get("model", request.get("name"))
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model is required")
    family = model.split(":", 1)[0].rstrip("0123456789.") or "llama"
    handler.send_json(
        200,
        {
            "details": {"format": "gguf", "family": family, "parameter_size": "3.2B"},
            "model_info": {f"{family}.context_length": 131072},
            "capabilities": ["completion", "tools"],
        },
    )


def _guarded(serve: Serve) -> Serve:
    """``serve``, with an invalid request answered 400 in Ollama's error shape."""

    def handle(handler: OpenAIRequestHandler, payload: Any, match: re.Match[str]) -> None:
        try:
            serve(handler, payload, match)
        except InvalidRequest as error:
            handler.send_json(400, error_body(400, str(error)))

    return handle


register_endpoints([CHAT, GENERATE, EMBED, EMBEDDINGS])
register_api_routes(
    [
        ("POST", re.compile(r"/api/chat/?"), _guarded(_serve_chat)),
        ("POST", re.compile(r"/api/generate/?"), _guarded(_serve_generate)),
        ("POST", re.compile(r"/api/embed/?"), _guarded(_serve_embed)),
        ("POST", re.compile(r"/api/embeddings/?"), _guarded(_serve_embeddings)),
        ("POST", re.compile(r"/api/show/?"), _guarded(_serve_show)),
    ]
)
