"""Pure functions standing in for a model: texts, tokens, embeddings and OpenAI-shaped bodies."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import struct
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_MODERATION_MODEL = "omni-moderation-latest"

_PIECE_PATTERN = re.compile(r"\s*\S+|\s+")
_WORD_PATTERN = re.compile(r"\w+")

# ---------------------------------------------------------------- ids and tokens


def new_id(prefix: str) -> str:
    """A fresh id such as ``chatcmpl-<uuid hex>``."""
    return f"{prefix}{uuid.uuid4().hex}"


def new_system_fingerprint() -> str:
    """A fresh ``fp_<hex>`` fingerprint."""
    return f"fp_{secrets.token_hex(5)}"


def split_into_pieces(text: str, chunk_chars: int | None = None) -> list[str]:
    """Stream pieces that join back to `text`: word-ish ones that keep their whitespace, or
    pieces of at most `chunk_chars` characters."""
    if chunk_chars is not None:
        return [text[start : start + chunk_chars] for start in range(0, len(text), chunk_chars)]
    return _PIECE_PATTERN.findall(text)


def count_words(text: str) -> int:
    """Whitespace-separated words: the fake token count."""
    return len(text.split())


def count_prompt_tokens(texts: Iterable[str]) -> int:
    """Prompt tokens of all request texts, at least 1."""
    return max(1, sum(count_words(text) for text in texts))


# ---------------------------------------------------------------- reading requests


def content_text(content: Any) -> str:
    """Text of a message content: a string or a list of parts carrying ``text``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text") for part in content if isinstance(part, Mapping)]
        return " ".join(text for text in texts if isinstance(text, str))
    return ""


def chat_texts(messages: Sequence[Any]) -> list[str]:
    """The texts of all chat messages."""
    return [content_text(m.get("content")) for m in messages if isinstance(m, Mapping)]


def last_user_chat_text(messages: Sequence[Any]) -> str:
    """Content text of the last ``user`` chat message ("" if none)."""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def responses_texts(input_value: Any, instructions: Any = None) -> list[str]:
    """The texts of a Responses API ``input`` plus ``instructions``."""
    texts = [instructions] if isinstance(instructions, str) else []
    if isinstance(input_value, str):
        return [*texts, input_value]
    items = input_value if isinstance(input_value, list) else []
    return texts + [content_text(i.get("content")) for i in items if isinstance(i, Mapping)]


def last_user_responses_text(input_value: Any) -> str:
    """A Responses API ``input`` string, or its last user item's text."""
    if isinstance(input_value, str):
        return input_value
    items = input_value if isinstance(input_value, list) else []
    return last_user_chat_text(items)


def input_strings(input_value: Any) -> list[str]:
    """Embeddings/moderations ``input`` as strings; ValueError for token ids or other shapes."""
    if isinstance(input_value, str):
        return [input_value]
    if isinstance(input_value, list) and input_value:
        if all(isinstance(item, str) for item in input_value):
            return list(input_value)
        if all(isinstance(item, Mapping) for item in input_value):
            return [content_text([item]) for item in input_value]
    raise ValueError("'input' must be a string or a non-empty list of strings")


# ---------------------------------------------------------------- embeddings


def _signed_bucket(feature: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dimensions, 1.0 if value >> 63 else -1.0


def _embedding_features(text: str) -> list[tuple[str, float]]:
    words = _WORD_PATTERN.findall(text.lower())
    features = [(f"w:{word}", 1.0) for word in words]
    for word in words:
        padded = f" {word} "
        features += [(f"c:{padded[i : i + 3]}", 0.5) for i in range(len(padded) - 2)]
    return features


def embed_text(text: str, dimensions: int) -> list[float]:
    """Deterministic L2-normalised embedding from hashed words and character trigrams."""
    vector = [0.0] * dimensions
    for feature, weight in _embedding_features(text):
        bucket, sign = _signed_bucket(feature, dimensions)
        vector[bucket] += sign * weight
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0.0:
        return [1.0] + [0.0] * (dimensions - 1)
    return [value / norm for value in vector]


def encode_embedding_base64(vector: Sequence[float]) -> str:
    """Base64 of the little-endian float32 array, as the API sends it."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def embeddings_body(
    texts: Sequence[str], model: str, dimensions: int, encoding_format: str
) -> dict[str, Any]:
    """A ``list`` of ``embedding`` objects with usage."""
    data = []
    for index, text in enumerate(texts):
        vector = embed_text(text, dimensions)
        encoded: Any = encode_embedding_base64(vector) if encoding_format == "base64" else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = count_prompt_tokens(texts)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# ---------------------------------------------------------------- moderations

MODERATION_LEXICON: dict[str, tuple[str, ...]] = {
    "harassment": ("idiot", "moron", "loser", "stupid", "worthless", "pathetic"),
    "harassment/threatening": ("threaten", "watch your back", "you will pay", "hunt you"),
    "hate": ("subhuman", "vermin", "inferior race"),
    "hate/threatening": ("exterminate", "ethnic cleansing"),
    "illicit": ("shoplift", "launder money", "counterfeit", "hack into", "steal"),
    "illicit/violent": ("build a bomb", "make a weapon", "buy a gun illegally"),
    "self-harm": ("suicide", "self-harm", "cut myself", "kill myself"),
    "self-harm/instructions": ("how to kill myself", "ways to self-harm"),
    "self-harm/intent": ("want to die", "kill myself", "end my life"),
    "sexual": ("porn", "explicit sex", "nude"),
    "sexual/minors": ("underage sexual", "minor sexual"),
    "violence": ("kill", "murder", "attack", "shoot", "stabbing", "stabbed", "bomb", "assault"),
    "violence/graphic": ("gore", "dismember", "mutilat", "disembowel"),
}
MODERATION_HIT_SCORE = 0.9
MODERATION_MISS_SCORE = 0.01
MODERATION_FLAG_THRESHOLD = 0.5


def _mentions(text: str, term: str) -> bool:
    return re.search(r"\b" + re.escape(term), text) is not None


def moderation_scores(text: str) -> dict[str, float]:
    """Per-category scores: high for a lexicon hit, low otherwise."""
    lowered = text.lower()
    return {
        category: MODERATION_HIT_SCORE
        if any(_mentions(lowered, term) for term in terms)
        else MODERATION_MISS_SCORE
        for category, terms in MODERATION_LEXICON.items()
    }


def moderation_result(text: str, flagged_override: bool | None = None) -> dict[str, Any]:
    """One ``Moderation`` result; `flagged_override` replaces the computed verdict."""
    scores = moderation_scores(text)
    categories = {name: score > MODERATION_FLAG_THRESHOLD for name, score in scores.items()}
    flagged = any(categories.values()) if flagged_override is None else flagged_override
    return {
        "flagged": flagged,
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": {name: ["text"] for name in scores},
    }


def moderations_body(
    texts: Sequence[str], model: str, flagged_overrides: Sequence[bool | None]
) -> dict[str, Any]:
    """A ``ModerationCreateResponse`` body."""
    results = [moderation_result(t, o) for t, o in zip(texts, flagged_overrides, strict=True)]
    return {"id": new_id("modr-"), "model": model, "results": results}


# ---------------------------------------------------------------- answers and streams


@dataclass(frozen=True)
class Answer:
    """What the fake model says in one call."""

    text: str
    model: str
    prompt_tokens: int
    tool_calls: tuple[dict[str, Any], ...] = ()
    chunk_chars: int | None = None

    @property
    def completion_tokens(self) -> int:
        arguments = [call["function"]["arguments"] for call in self.tool_calls]
        return count_words(self.text) + sum(count_words(a) for a in arguments)


@dataclass(frozen=True)
class StreamEvent:
    """One server-sent event; `phase` drives ttft/chunk delays and truncation."""

    data: Mapping[str, Any] | str
    phase: Literal["opening", "content", "closing"]
    event: str | None = None

    def encode(self) -> bytes:
        """The SSE wire form of this event."""
        data = self.data if isinstance(self.data, str) else json.dumps(self.data)
        prefix = f"event: {self.event}\n" if self.event else ""
        return f"{prefix}data: {data}\n\n".encode()


def normalize_tool_call(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A chat ``tool_calls`` entry from ``{name, arguments}`` or the full API shape."""
    function = raw.get("function", raw)
    arguments = function.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {
        "id": raw.get("id") or f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments},
    }


def _chat_usage(answer: Answer) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_finish_reason(answer: Answer) -> str:
    return "tool_calls" if answer.tool_calls else "stop"


def _chat_envelope(answer: Answer, obj: str) -> dict[str, Any]:
    return {
        "id": new_id("chatcmpl-"),
        "object": obj,
        "created": int(time.time()),
        "model": answer.model,
        "service_tier": "default",
        "system_fingerprint": new_system_fingerprint(),
    }


def chat_completion_body(answer: Answer) -> dict[str, Any]:
    """A ``chat.completion`` object."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer.text if answer.text or not answer.tool_calls else None,
        "refusal": None,
        "annotations": [],
    }
    if answer.tool_calls:
        message["tool_calls"] = list(answer.tool_calls)
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": _chat_finish_reason(answer),
    }
    return {
        **_chat_envelope(answer, "chat.completion"),
        "choices": [choice],
        "usage": _chat_usage(answer),
    }


def _chat_chunk(
    envelope: Mapping[str, Any], delta: Mapping[str, Any], finish_reason: str | None = None
) -> dict[str, Any]:
    choice = {"index": 0, "delta": dict(delta), "logprobs": None, "finish_reason": finish_reason}
    return {**envelope, "choices": [choice]}


def _tool_call_deltas(
    index: int, call: Mapping[str, Any], chunk_chars: int | None
) -> list[dict[str, Any]]:
    """A tool call as stream deltas: whole, or its arguments in pieces after a first delta
    that carries the id and name (as OpenAI streams them)."""
    if chunk_chars is None:
        return [{"index": index, **call}]
    arguments = split_into_pieces(call["function"]["arguments"], chunk_chars) or [""]
    first = {
        "index": index,
        **call,
        "function": {**call["function"], "arguments": arguments[0]},
    }
    rest = [{"index": index, "function": {"arguments": piece}} for piece in arguments[1:]]
    return [first, *rest]


def chat_completion_chunks(answer: Answer, include_usage: bool) -> list[StreamEvent]:
    """The ``chat.completion.chunk`` events of one stream, ending with ``[DONE]``."""
    envelope = _chat_envelope(answer, "chat.completion.chunk")
    if include_usage:
        envelope["usage"] = None
    role = {"role": "assistant", "content": "", "refusal": None}
    events = [StreamEvent(_chat_chunk(envelope, role), "opening")]
    events += [
        StreamEvent(_chat_chunk(envelope, {"content": piece}), "content")
        for piece in split_into_pieces(answer.text, answer.chunk_chars)
    ]
    events += [
        StreamEvent(_chat_chunk(envelope, {"tool_calls": [delta]}), "content")
        for index, call in enumerate(answer.tool_calls)
        for delta in _tool_call_deltas(index, call, answer.chunk_chars)
    ]
    events.append(StreamEvent(_chat_chunk(envelope, {}, _chat_finish_reason(answer)), "closing"))
    if include_usage:
        usage_chunk = {**envelope, "choices": [], "usage": _chat_usage(answer)}
        events.append(StreamEvent(usage_chunk, "closing"))
    events.append(StreamEvent("[DONE]", "closing"))
    return events


def _response_usage(answer: Answer) -> dict[str, Any]:
    return {
        "input_tokens": answer.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": answer.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def _output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _output_message(message_id: str, text: str, status: str) -> dict[str, Any]:
    content = [_output_text_part(text)] if status == "completed" else []
    return {
        "type": "message",
        "id": message_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _has_message(answer: Answer) -> bool:
    """A Responses API answer holds a ``message`` item unless it only calls tools."""
    return bool(answer.text) or not answer.tool_calls


def _function_call_item(call: Mapping[str, Any], arguments: str, status: str) -> dict[str, Any]:
    """A ``function_call`` output item: the scripted call's id is its ``call_id``."""
    return {
        "type": "function_call",
        "id": "fc_" + str(call["id"]).removeprefix("call_"),
        "call_id": call["id"],
        "name": call["function"]["name"],
        "arguments": arguments,
        "status": status,
    }


def _response_output(answer: Answer, message_id: str) -> list[dict[str, Any]]:
    message = (
        [_output_message(message_id, answer.text, "completed")] if _has_message(answer) else []
    )
    return message + [
        _function_call_item(call, call["function"]["arguments"], "completed")
        for call in answer.tool_calls
    ]


def _function_call_events(
    answer: Answer, first_index: int
) -> list[tuple[str, Literal["opening", "content", "closing"], dict[str, Any]]]:
    """Each tool call as ``output_item.added``, argument deltas, ``arguments.done`` and
    ``output_item.done`` (as the Responses API streams a ``function_call`` item)."""
    specs: list[tuple[str, Literal["opening", "content", "closing"], dict[str, Any]]] = []
    for offset, call in enumerate(answer.tool_calls):
        index = first_index + offset
        arguments = call["function"]["arguments"]
        done = _function_call_item(call, arguments, "completed")
        where = {"item_id": done["id"], "output_index": index}
        specs.append(
            (
                "response.output_item.added",
                "content",
                {"output_index": index, "item": _function_call_item(call, "", "in_progress")},
            )
        )
        specs += [
            ("response.function_call_arguments.delta", "content", {**where, "delta": piece})
            for piece in split_into_pieces(arguments, answer.chunk_chars)
        ]
        specs += [
            ("response.function_call_arguments.done", "content", {**where, "arguments": arguments}),
            ("response.output_item.done", "content", {"output_index": index, "item": done}),
        ]
    return specs


def _text_config(request: Mapping[str, Any]) -> Any:
    text = request.get("text")
    return text if isinstance(text, Mapping) else {"format": {"type": "text"}}


def _response_object(
    answer: Answer, request: Mapping[str, Any], response_id: str, message_id: str, done: bool
) -> dict[str, Any]:
    created_at = int(time.time())
    instructions = request.get("instructions")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "completed" if done else "in_progress",
        "completed_at": created_at if done else None,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": instructions if isinstance(instructions, str) else None,
        "max_output_tokens": request.get("max_output_tokens"),
        "metadata": request.get("metadata") or {},
        "model": answer.model,
        "output": _response_output(answer, message_id) if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": request.get("temperature", 1.0),
        "text": _text_config(request),
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": _response_usage(answer) if done else None,
        "user": None,
    }


def response_body(answer: Answer, request: Mapping[str, Any]) -> dict[str, Any]:
    """A completed ``response`` object."""
    return _response_object(answer, request, new_id("resp_"), new_id("msg_"), done=True)


def response_stream_events(answer: Answer, request: Mapping[str, Any]) -> list[StreamEvent]:
    """The typed events of one streamed Responses API call, ending with response.completed."""
    response_id, message_id = new_id("resp_"), new_id("msg_")
    pending = _response_object(answer, request, response_id, message_id, done=False)
    final = _response_object(answer, request, response_id, message_id, done=True)
    specs: list[tuple[str, Literal["opening", "content", "closing"], dict[str, Any]]] = [
        ("response.created", "opening", {"response": pending}),
        ("response.in_progress", "opening", {"response": pending}),
    ]
    if _has_message(answer):
        specs += _message_events(answer, message_id)
    specs += _function_call_events(answer, first_index=1 if _has_message(answer) else 0)
    specs.append(("response.completed", "closing", {"response": final}))
    return [
        StreamEvent({"type": kind, "sequence_number": number, **fields}, phase, event=kind)
        for number, (kind, phase, fields) in enumerate(specs)
    ]


def _message_events(
    answer: Answer, message_id: str
) -> list[tuple[str, Literal["opening", "content", "closing"], dict[str, Any]]]:
    """The events of the answer's ``message`` item (output index 0)."""
    where = {"item_id": message_id, "output_index": 0, "content_index": 0}
    specs: list[tuple[str, Literal["opening", "content", "closing"], dict[str, Any]]] = [
        (
            "response.output_item.added",
            "opening",
            {"output_index": 0, "item": _output_message(message_id, "", "in_progress")},
        ),
        ("response.content_part.added", "opening", {**where, "part": _output_text_part("")}),
    ]
    specs += [
        ("response.output_text.delta", "content", {**where, "delta": piece, "logprobs": []})
        for piece in split_into_pieces(answer.text, answer.chunk_chars)
    ]
    specs += [
        ("response.output_text.done", "closing", {**where, "text": answer.text, "logprobs": []}),
        (
            "response.content_part.done",
            "closing",
            {**where, "part": _output_text_part(answer.text)},
        ),
        (
            "response.output_item.done",
            "closing",
            {"output_index": 0, "item": _output_message(message_id, answer.text, "completed")},
        ),
    ]
    return specs


def without_closing_events(events: Sequence[StreamEvent]) -> list[StreamEvent]:
    """A truncated stream: everything but the final chunks and ``[DONE]``."""
    return [event for event in events if event.phase != "closing"]


# ---------------------------------------------------------------- other bodies


def models_body(model: str) -> dict[str, Any]:
    """A ``list`` of one ``model`` object."""
    entry = {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "system"}
    return {"object": "list", "data": [entry]}


_ERROR_KINDS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You are not allowed to access this resource."),
    404: ("invalid_request_error", "unknown_url", "Unknown request URL."),
    409: ("invalid_request_error", "conflict", "Conflict."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("rate_limit_exceeded", "rate_limit_exceeded", "Rate limit reached. Please retry."),
}


def error_body(status: int, message: str = "") -> dict[str, Any]:
    """The OpenAI error JSON for an HTTP status; `message` overrides the default text."""
    if status >= 500:
        kind, code, default = (
            "server_error",
            None,
            "The server had an error processing your request.",
        )
    else:
        kind, code, default = _ERROR_KINDS.get(status, ("invalid_request_error", None, "Error."))
    return {"error": {"message": message or default, "type": kind, "param": None, "code": code}}


_MALFORMED_PREFIXES = {
    "chat.completions": '{"id": "chatcmpl-',
    "responses": '{"id": "resp_',
    "embeddings": '{"object": "list", "data": [',
    "moderations": '{"id": "modr-',
}


def malformed_json(endpoint: str) -> str:
    """A truncated, non-JSON body that starts like the endpoint's real one."""
    return _MALFORMED_PREFIXES.get(endpoint, '{"id": "')
