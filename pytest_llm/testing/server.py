"""A scripted, OpenAI-compatible HTTP server on 127.0.0.1 built on the standard library."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import socket
import socketserver
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

from pytest_llm.testing import fake_model
from pytest_llm.testing.fake_model import Answer
from pytest_llm.testing.script import MAX_EMBEDDING_DIMENSIONS, Reply, Script

JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"


@dataclass(frozen=True)
class ReceivedRequest:
    """One HTTP request the server received (control API calls excluded)."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any | None
    body: bytes


@dataclass(frozen=True)
class CallPlan:
    """How to answer one model call: the chosen rule (if any) and resolved timings."""

    reply: Reply | None
    rule_text: str
    model: str | None
    latency_s: float
    ttft_s: float
    chunk_delay_s: float
    embedding_dimensions: int
    chunk_chars: int | None = None

    @property
    def status(self) -> int:
        return self.reply.status if self.reply else 200

    @property
    def fault(self) -> str | None:
        return self.reply.fault if self.reply else None

    def answer(self, request: Mapping[str, Any], last_user_text: str, prompt_tokens: int) -> Answer:
        """The model's answer: the rule's text and tool calls, else an echo."""
        raw_calls = self.reply.tool_calls if self.reply and self.reply.tool_calls else []
        tool_calls = tuple(fake_model.normalize_tool_call(call) for call in raw_calls)
        fallback = "" if tool_calls else f"Echo: {last_user_text}"
        return Answer(
            text=self.rule_text or fallback,
            model=self.answering_model(request),
            prompt_tokens=prompt_tokens,
            tool_calls=tool_calls,
            chunk_chars=self.chunk_chars,
        )

    def answering_model(
        self, request: Mapping[str, Any], default: str = fake_model.DEFAULT_MODEL
    ) -> str:
        """The rule's or script's model, else the requested one, else `default`."""
        requested = request.get("model")
        return self.model or (requested if isinstance(requested, str) else default)

    def flagged_override(self, text: str) -> bool | None:
        """The rule's `flagged` verdict for one moderation input it matches."""
        if self.reply is None or not self.reply.matches_text(text):
            return None
        return self.reply.flagged


class ServerState:
    """Thread-safe script, per-rule call counters and received requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script = Script()
        self._calls_per_reply: list[int] = []
        self._requests: list[ReceivedRequest] = []

    def install(self, script: Script) -> None:
        """Replace the script and restart its rotation and `times` counters."""
        with self._lock:
            self._script = script
            self._calls_per_reply = [0] * len(script.replies)

    def reset(self) -> None:
        """Default script, no received requests."""
        self.install(Script())
        with self._lock:
            self._requests.clear()

    @property
    def script(self) -> Script:
        with self._lock:
            return self._script

    def record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def received(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def plan(self, endpoint: str, texts: Sequence[str]) -> CallPlan:
        """Pick the first live rule matching this call and count the call against it."""
        with self._lock:
            script = self._script
            for index, reply in enumerate(script.replies):
                calls = self._calls_per_reply[index]
                if reply.matches(endpoint, texts) and not reply.is_used_up(calls):
                    self._calls_per_reply[index] = calls + 1
                    return _plan_for(script, reply, reply.text_for_call(calls))
            return _plan_for(script, None, "")


def _plan_for(script: Script, reply: Reply | None, rule_text: str) -> CallPlan:
    def pick(own: float | None, default: float) -> float:
        return default if own is None else own

    return CallPlan(
        reply=reply,
        rule_text=rule_text,
        model=(reply.model if reply else None) or script.model,
        latency_s=pick(reply.latency_s if reply else None, script.latency_s),
        ttft_s=pick(reply.ttft_s if reply else None, script.ttft_s),
        chunk_delay_s=script.chunk_delay_s,
        embedding_dimensions=script.embedding_dimensions,
        chunk_chars=script.chunk_chars,
    )


class BadRequest(Exception):
    """A request the fake API answers with 400 invalid_request_error."""


def _sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)


def _json_object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise BadRequest("The request body must be a JSON object.")
    return payload


def _required(request: Mapping[str, Any], key: str, kinds: tuple[type, ...]) -> Any:
    value = request.get(key)
    if not isinstance(value, kinds):
        raise BadRequest(f"Missing or invalid required parameter: '{key}'.")
    return value


class OpenAIRequestHandler(BaseHTTPRequestHandler):
    """Routes one connection's requests to the fake OpenAI endpoints and the control API."""

    protocol_version = "HTTP/1.1"
    server_version = "pytest-llm-local-openai/1.0"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: tests own stderr."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    @property
    def state(self) -> ServerState:
        """The script and the received requests (shared by every connection)."""
        assert isinstance(self.server, LoopbackHTTPServer)
        return self.server.state

    @property
    def _state(self) -> ServerState:
        return self.state

    # ------------------------------------------------------------ dispatch

    def _dispatch(self) -> None:
        self._started = time.monotonic()
        self._headers_sent = False
        body = self._read_body()
        path = urlsplit(self.path).path
        payload = _parse_json(body)
        if not path.startswith("/_control/"):
            self._state.record(
                ReceivedRequest(self.command, path, self._header_dict(), payload, body)
            )
        route = self._ROUTES.get((self.command, path.rstrip("/")))
        self._other_api = route is None  # another API's route: no OpenAI headers
        route = route or _api_route(self.command, path)
        try:
            if route is None:
                self._send_error(404, f"Unknown request URL: {self.command} {path}.")
            elif self.command == "POST" and body and payload is None:
                self._send_error(400, "We could not parse the JSON body of your request.")
            else:
                route(self, payload)
        except BadRequest as error:
            self._send_error(400, str(error))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:  # a server bug: report it to the client instead of stderr
            self._fail_loudly(error)

    def _fail_loudly(self, error: Exception) -> None:
        if self._headers_sent:
            self._abort_connection()
        else:
            self._send_error(500, f"Local OpenAI server error: {error!r}")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        if body and encoding in ("gzip", "x-gzip", "deflate"):  # a compressed request body
            window_bits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
            body = zlib.decompressobj(window_bits).decompress(body, 64 * 2**20)
        return body

    def _header_dict(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return headers

    # ------------------------------------------------------------ writing

    def _send_head(
        self, status: int, content_type: str, length: int | None, extra: Mapping[str, str]
    ) -> None:
        elapsed_ms = int((time.monotonic() - self._started) * 1000)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        if not getattr(self, "_other_api", False):
            self.send_header("openai-processing-ms", str(elapsed_ms))
            self.send_header("openai-version", "2020-10-01")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self._headers_sent = True

    def _send_bytes(
        self, status: int, content_type: str, data: bytes, extra: Mapping[str, str] | None = None
    ) -> None:
        self._send_head(status, content_type, len(data), extra or {})
        self.wfile.write(data)

    def send_json(self, status: int, body: Any, extra: Mapping[str, str] | None = None) -> None:
        self._send_bytes(status, JSON_TYPE, json.dumps(body).encode(), extra)

    def _send_json(self, status: int, body: Any, extra: Mapping[str, str] | None = None) -> None:
        self.send_json(status, body, extra)

    def _send_error(self, status: int, message: str = "") -> None:
        self.send_json(status, fake_model.error_body(status, message), _retry(status))

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _abort_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send_stream(
        self, events: Sequence[WireEvent], plan: CallPlan, content_type: str = SSE_TYPE
    ) -> None:
        if plan.fault == "truncate":  # a cut-off stream: everything but its closing events
            events = [event for event in events if event.phase != "closing"]
        self._send_head(200, content_type, None, {"cache-control": "no-cache"})
        content_sent = 0
        for event in events:
            if event.phase == "content":
                _sleep(plan.chunk_delay_s if content_sent else plan.ttft_s)
                content_sent += 1
            self._write_chunk(event.encode())
            if plan.fault == "drop":
                self._abort_connection()
                return
        self._end_chunks()

    def _send_malformed(self, endpoint: str, stream: bool, stream_type: str = SSE_TYPE) -> None:
        broken = fake_model.malformed_json(endpoint)
        if stream:
            self._send_head(200, stream_type, None, {})
            line = f"data: {broken}\n\n" if stream_type == SSE_TYPE else f"{broken}\n"
            self._write_chunk(line.encode())
            self._end_chunks()
        else:
            self._send_bytes(200, JSON_TYPE, broken.encode())

    def _drop_before_body(self, body: Any) -> None:
        self._send_head(200, JSON_TYPE, len(json.dumps(body).encode()), {})
        self._abort_connection()

    def respond(
        self,
        endpoint: str,
        plan: CallPlan,
        stream: bool,
        build_body: Callable[[], Any],
        build_events: Callable[[], Sequence[WireEvent]] | None = None,
        *,
        stream_type: str = SSE_TYPE,
        error_body: Callable[[int, str], Any] = fake_model.error_body,
    ) -> None:
        """Apply the plan's latency, status and fault, then send the body or the stream.

        Other APIs' modules (:mod:`pytest_llm.testing.apis`) pass their stream's content type
        and their error body."""
        _sleep(plan.latency_s)
        if plan.status != 200:
            self.send_json(
                plan.status, error_body(plan.status, plan.rule_text), _retry(plan.status)
            )
        elif plan.fault == "malformed":
            self._send_malformed(endpoint, stream, stream_type)
        elif stream and build_events is not None:
            self._send_stream(build_events(), plan, stream_type)
        elif plan.fault == "drop":
            self._drop_before_body(build_body())
        elif plan.fault == "truncate":
            data = json.dumps(build_body()).encode()
            self._send_bytes(200, JSON_TYPE, data[: len(data) // 2])
        else:
            self.send_json(200, build_body())

    # ------------------------------------------------------------ endpoints

    def _serve_chat_completion(self, request: Any) -> None:
        request = _json_object(request)
        messages = _required(request, "messages", (list,))
        last_user_text = fake_model.last_user_chat_text(messages)
        plan = self._state.plan("chat.completions", [last_user_text])
        answer = plan.answer(
            request, last_user_text, fake_model.count_prompt_tokens(fake_model.chat_texts(messages))
        )
        options = request.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self.respond(
            "chat.completions",
            plan,
            request.get("stream") is True,
            lambda: fake_model.chat_completion_body(answer),
            lambda: fake_model.chat_completion_chunks(answer, include_usage),
        )

    def _serve_response(self, request: Any) -> None:
        request = _json_object(request)
        input_value = _required(request, "input", (str, list))
        last_user_text = fake_model.last_user_responses_text(input_value)
        plan = self._state.plan("responses", [last_user_text])
        texts = fake_model.responses_texts(input_value, request.get("instructions"))
        answer = plan.answer(request, last_user_text, fake_model.count_prompt_tokens(texts))
        self.respond(
            "responses",
            plan,
            request.get("stream") is True,
            lambda: fake_model.response_body(answer, request),
            lambda: fake_model.response_stream_events(answer, request),
        )

    def _serve_embeddings(self, request: Any) -> None:
        request = _json_object(request)
        texts = _input_strings(request)
        plan = self._state.plan("embeddings", texts)
        dimensions = _embedding_dimensions(request, plan.embedding_dimensions)
        encoding_format = request.get("encoding_format") or "float"
        if encoding_format not in ("float", "base64"):
            raise BadRequest("'encoding_format' must be 'float' or 'base64'.")
        model = plan.answering_model(request, "text-embedding-3-small")
        self.respond(
            "embeddings",
            plan,
            False,
            lambda: fake_model.embeddings_body(texts, model, dimensions, encoding_format),
        )

    def _serve_moderations(self, request: Any) -> None:
        request = _json_object(request)
        texts = _input_strings(request)
        plan = self._state.plan("moderations", texts)
        model = plan.answering_model(request, fake_model.DEFAULT_MODERATION_MODEL)
        overrides = [plan.flagged_override(text) for text in texts]
        self.respond(
            "moderations", plan, False, lambda: fake_model.moderations_body(texts, model, overrides)
        )

    def _serve_models(self, _request: Any) -> None:
        self._send_json(
            200, fake_model.models_body(self._state.script.model or fake_model.DEFAULT_MODEL)
        )

    # ------------------------------------------------------------ control API

    def _control_script(self, request: Any) -> None:
        try:
            script = Script.from_dict(request)
        except (ValueError, TypeError) as error:
            self._send_error(400, f"Invalid script: {error}")
            return
        self._state.install(script)
        self._send_json(200, {"ok": True, "replies": len(script.replies)})

    def _control_reset(self, _request: Any) -> None:
        self._state.reset()
        self._send_json(200, {"ok": True})

    def _control_requests(self, _request: Any) -> None:
        received = self._state.received()
        self._send_json(
            200, [{"method": r.method, "path": r.path, "json": r.json} for r in received]
        )

    _ROUTES: ClassVar[dict[tuple[str, str], Callable[[OpenAIRequestHandler, Any], None]]] = {
        ("POST", "/v1/chat/completions"): _serve_chat_completion,
        ("POST", "/v1/responses"): _serve_response,
        ("POST", "/v1/embeddings"): _serve_embeddings,
        ("POST", "/v1/moderations"): _serve_moderations,
        ("GET", "/v1/models"): _serve_models,
        ("POST", "/_control/script"): _control_script,
        ("POST", "/_control/reset"): _control_reset,
        ("GET", "/_control/requests"): _control_requests,
    }


#: A route of another LLM API: a handler of the request handler and the JSON payload.
Route = Callable[["OpenAIRequestHandler", Any], None]
#: ``(method, path pattern, handler)`` of the APIs in :mod:`pytest_llm.testing.apis`; the
#: handler also gets the path's match (a model name in a Gemini path, say).
PatternRoute = tuple[
    str, "re.Pattern[str]", Callable[["OpenAIRequestHandler", Any, "re.Match[str]"], None]
]
_API_ROUTES: list[PatternRoute] = []


def register_api_routes(routes: Sequence[PatternRoute]) -> None:
    """Teach the server another LLM API's paths (called by its module on import)."""
    _API_ROUTES.extend(routes)


def _api_route(method: str, path: str) -> Route | None:
    for route_method, pattern, handler in _API_ROUTES:
        match = pattern.fullmatch(path)
        if route_method == method and match is not None:
            return lambda request_handler, payload: handler(request_handler, payload, match)
    return None


def _retry(status: int) -> dict[str, str]:
    return {"retry-after": "0"} if status == 429 else {}


class WireEvent(Protocol):
    """One event of a stream as sent: its bytes, and its phase (for ttft delays, truncation)."""

    @property
    def phase(self) -> str: ...

    def encode(self) -> bytes: ...


def _parse_json(body: bytes) -> Any | None:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _input_strings(request: Mapping[str, Any]) -> list[str]:
    try:
        return fake_model.input_strings(request.get("input"))
    except ValueError as error:
        raise BadRequest(str(error)) from None


def _embedding_dimensions(request: Mapping[str, Any], default: int) -> int:
    dimensions = request.get("dimensions", default)
    valid = isinstance(dimensions, int) and not isinstance(dimensions, bool)
    if not valid or not 1 <= dimensions <= MAX_EMBEDDING_DIMENSIONS:
        raise BadRequest(f"'dimensions' must be an integer from 1 to {MAX_EMBEDDING_DIMENSIONS}.")
    return int(dimensions)


class LoopbackHTTPServer(ThreadingHTTPServer):
    """Threaded HTTP server that tracks its open connections so `stop` can close them."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: ServerState) -> None:
        self.state = state
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, OpenAIRequestHandler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup HTTPServer does."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up are routine here; print nothing."""

    def close_open_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class LoopbackHTTPServerV6(LoopbackHTTPServer):
    address_family = socket.AF_INET6


def _loopback_host(host: str) -> str:
    """`host` normalised to a loopback IP; anything else raises ValueError."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"LocalOpenAIServer only binds loopback addresses, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"LocalOpenAIServer only binds loopback addresses, not {host!r}")
    return str(address)


class LocalOpenAIServer:
    """An OpenAI-compatible server on loopback, running in a daemon thread, scripted per test."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = _loopback_host(host)
        self._requested_port = port
        self._state = ServerState()
        self._httpd: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LocalOpenAIServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        server_class = LoopbackHTTPServerV6 if ":" in self.host else LoopbackHTTPServer
        self._httpd = server_class((self.host, self._requested_port), self._state)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"LocalOpenAIServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and any open connections."""
        httpd, thread = self._httpd, self._thread
        self._httpd, self._thread = None, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_open_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> LocalOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("LocalOpenAIServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>``: where the /_control API lives."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``: the OpenAI client's base_url."""
        return f"{self.root_url}/v1"

    def script(self, script: Script | None = None, /, **fields: Any) -> None:
        """Replace the script: pass a Script, or Script fields as keywords."""
        if script is not None and fields:
            raise TypeError("pass either a Script or keyword fields, not both")
        self._state.install(script if script is not None else Script.from_dict(fields))

    def reset(self) -> None:
        """Default script; forget received requests and rotation counters."""
        self._state.reset()

    @property
    def current_script(self) -> Script:
        return self._state.script

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Received requests in arrival order (a copy)."""
        return self._state.received()
