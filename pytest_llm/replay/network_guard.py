"""What replay refuses at the socket layer: TCP connects, UDP sends and name resolution that no
cassette answers, unless ``llm_allowed_hosts`` names the host.

A :class:`NetworkGuard` patches ``socket.socket`` (connect, connect_ex, sendto, sendmsg), the
C type ``_socket.socket`` (replaced by a guarded subclass, so ``_socket.socket(...).connect`` is
refused too) and the resolver functions of ``_socket`` / ``socket``. Replayed calls never reach
a socket (vcrpy answers them above the transport), so the guard costs nothing per call.
"""

from __future__ import annotations

import _socket
import dataclasses
import ipaddress
import os
import socket
import threading
from collections.abc import Callable, Generator, Iterable, MutableMapping
from typing import Any, NoReturn

import pytest

from pytest_llm.errors import NetworkBlocked

_INET_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})
#: Names whose resolution never leaves the machine; connecting to what they resolve to still
#: needs an allowed entry.
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)
NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")
_MISSING = object()


def _normal_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return host


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


@dataclasses.dataclass(frozen=True)
class AllowedHosts:
    """The ``llm_allowed_hosts`` entries: a host name or IP literal as written, with an optional
    port (``db.test``, ``localhost:5432``, ``127.0.0.1``, ``[::1]:8080``)."""

    entries: frozenset[tuple[str, int | None]] = frozenset()

    @classmethod
    def parse(cls, lines: Iterable[str]) -> AllowedHosts:
        """Raises ValueError naming the entry that is not ``host`` or ``host:port``."""
        entries: set[tuple[str, int | None]] = set()
        for line in lines:
            text = line.strip()
            if not text:
                continue
            entries.add(_parse_entry(text))
        return cls(frozenset(entries))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def allows(self, host: str, port: int | None) -> bool:
        host = _normal_host(host)
        return (host, None) in self.entries or (port is not None and (host, port) in self.entries)

    def no_proxy_entries(self) -> list[str]:
        """The entries as NO_PROXY spells them (``host`` or ``host:port``)."""
        shown = []
        for host, port in sorted(self.entries, key=lambda entry: (entry[0], entry[1] or 0)):
            name = f"[{host}]" if ":" in host and port is not None else host
            shown.append(name if port is None else f"{name}:{port}")
        return shown


def _parse_entry(text: str) -> tuple[str, int | None]:
    problem = (
        f"llm_allowed_hosts: {text!r} is not a host name or IP address with an optional port "
        "(e.g. localhost, db.test:5432, 127.0.0.1, [::1]:8080)"
    )
    if "/" in text or "@" in text or any(character.isspace() for character in text):
        raise ValueError(problem)
    host, port_text = text, None
    if text.startswith("["):
        closing = text.find("]")
        if closing < 0 or (text[closing + 1 :] != "" and not text[closing + 1 :].startswith(":")):
            raise ValueError(problem)
        host, rest = text[: closing + 1], text[closing + 1 :]
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif text.count(":") > 1 and not _is_ip_literal(text):
        raise ValueError(problem)
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(problem)
        port = int(port_text)
    normal = _normal_host(host)
    if not normal or (not _is_ip_literal(normal) and not all(normal.split("."))):
        raise ValueError(problem)
    return normal, port


#: No entries: nothing bypasses the cassettes or the guard.
NO_ALLOWED_HOSTS = AllowedHosts()


@dataclasses.dataclass
class Attempt:
    """One refused attempt, and where it happened."""

    error: NetworkBlocked
    where: str | None


class NetworkGuard:
    """Refuses what ``allowed`` does not name, from any thread, while installed.

    ``where`` is set by the plugin to the test (and phase) that runs now; each refusal is kept
    in ``attempts`` (code that swallows the exception still fails its test) and passed to
    ``on_refused`` when set.
    """

    def __init__(
        self,
        allowed: AllowedHosts,
        *,
        record_command: str,
        where: str | None = None,
        on_refused: Callable[[NetworkBlocked], None] | None = None,
    ) -> None:
        self.allowed = allowed
        self.record_command = record_command
        self.where = where
        self.on_refused = on_refused
        self.attempts: list[Attempt] = []
        self._resolved: set[tuple[str, int | None]] = set()
        self._lock = threading.Lock()
        self._saved: list[tuple[Any, str, Any]] = []
        self.installed = False
        #: the refusing proxy of the subprocesses: a client in this process that honours the
        #: proxy variables connects there instead of to its host
        self.proxy_address: tuple[str, int] | None = None

    # -- the decision ------------------------------------------------------------------

    def _allows_address(self, host: str, port: int | None) -> bool:
        if self.allowed.allows(host, port):
            return True
        host = _normal_host(host)
        return (host, None) in self._resolved or (host, port) in self._resolved

    def _refuse(self, what: str, entry: str) -> NoReturn:
        where = self.where
        thread = threading.current_thread()
        who = where or "code running outside any test"
        if thread is not threading.main_thread():
            who += f" (thread {thread.name!r}, perhaps left running by an earlier test)"
        error = NetworkBlocked(
            f"pytest-llm: {who} tried to {what} in replay mode, outside the cassettes. Replay "
            "never reaches the network: make the call in an LLM case's body so its cassette "
            f"answers it (to record: {self.record_command}), or allow the host with the ini value "
            f"llm_allowed_hosts (a line {entry!r})."
        )
        with self._lock:
            self.attempts.append(Attempt(error, where))
        if self.on_refused is not None:
            self.on_refused(error)
        raise error

    def check_address(self, family: int, kind: int, address: Any, *, sending: bool) -> None:
        if not self.installed or family not in _INET_FAMILIES or not isinstance(address, tuple):
            return
        host = address[0]
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        port = address[1] if len(address) > 1 and isinstance(address[1], int) else None
        if self._allows_address(str(host), port):
            return
        shown = f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
        if (_normal_host(str(host)), port) == self.proxy_address:
            self._refuse(
                f"connect to {shown}, the refusing proxy that replay puts in HTTP_PROXY / "
                "HTTPS_PROXY / ALL_PROXY (an HTTP client read them: the request was meant for "
                "another host, which NO_PROXY does not list)",
                "the request's host",
            )
        if int(kind) == socket.SOCK_DGRAM:
            self._refuse(f"send UDP to {shown}" if sending else f"connect (UDP) to {shown}", shown)
        self._refuse(f"connect to {shown}", shown)

    def check_resolution(self, host: Any, port: Any, results: Callable[[], Any]) -> Any:
        """Resolve ``host`` if allowed: IP literals, localhost and allowed names; the addresses
        an allowed name resolves to are allowed from then on (for the same port if given)."""
        if not self.installed or host is None:
            return results()
        name = host.decode("idna", "replace") if isinstance(host, bytes) else str(host)
        normal = _normal_host(name)
        number = port if isinstance(port, int) else int(port) if str(port or "").isdigit() else None
        if normal and (
            _is_ip_literal(normal) or normal in _LOCAL_NAMES or self.allowed.allows(normal, number)
        ):
            answer = results()
            if self.allowed.allows(normal, number):
                remembered = number if (normal, None) not in self.allowed.entries else None
                for address in _addresses(answer):
                    self._resolved.add((_normal_host(address), remembered))
            return answer
        self._refuse(
            f"resolve the host name {name!r}" + (f" (port {port})" if port else ""), normal or name
        )

    # -- installing --------------------------------------------------------------------

    def install(self) -> None:
        guard = self
        py_socket: Any = socket.socket
        c_socket: Any = _socket.socket
        original = {
            name: getattr(py_socket, name)
            for name in ("connect", "connect_ex", "sendto", "sendmsg")
        }

        def connect(sock: Any, address: Any) -> None:
            guard.check_address(sock.family, sock.type, address, sending=False)
            original["connect"](sock, address)

        def connect_ex(sock: Any, address: Any) -> int:
            guard.check_address(sock.family, sock.type, address, sending=False)
            result: int = original["connect_ex"](sock, address)
            return result

        def sendto(sock: Any, data: Any, *args: Any) -> int:
            guard.check_address(sock.family, sock.type, args[-1] if args else None, sending=True)
            result: int = original["sendto"](sock, data, *args)
            return result

        def sendmsg(sock: Any, buffers: Any, *args: Any) -> int:
            guard.check_address(
                sock.family, sock.type, args[2] if len(args) > 2 else None, sending=True
            )
            result: int = original["sendmsg"](sock, buffers, *args)
            return result

        # ``_socket.socket`` created while the guard is installed: refused like socket.socket
        guarded_socket = type(
            "GuardedSocket",
            (c_socket,),
            {
                "__slots__": (),
                "connect": connect,
                "connect_ex": connect_ex,
                "sendto": sendto,
                "sendmsg": sendmsg,
            },
        )

        def resolver(function: Any) -> Any:
            def resolve(host: Any, port: Any = None, *args: Any, **kwargs: Any) -> Any:
                return guard.check_resolution(
                    host, port, lambda: function(host, port, *args, **kwargs)
                )

            return resolve

        def single(function: Any) -> Any:
            def resolve(host: Any) -> Any:
                return guard.check_resolution(host, None, lambda: function(host))

            return resolve

        patches: list[tuple[Any, str, Any]] = [
            (py_socket, "connect", connect),
            (py_socket, "connect_ex", connect_ex),
            (py_socket, "sendto", sendto),
            (py_socket, "sendmsg", sendmsg),
            (_socket, "socket", guarded_socket),
            (_socket, "SocketType", guarded_socket),
            (_socket, "getaddrinfo", resolver(_socket.getaddrinfo)),
        ]
        for module in (_socket, socket):
            for name in ("gethostbyname", "gethostbyname_ex"):
                patches.append((module, name, single(getattr(module, name))))
        for target, name, replacement in patches:
            self._saved.append((target, name, target.__dict__.get(name, _MISSING)))
            setattr(target, name, replacement)
        self.installed = True

    def uninstall(self) -> None:
        self.installed = False
        for target, name, previous in reversed(self._saved):
            if previous is _MISSING:
                delattr(target, name)
            else:
                setattr(target, name, previous)
        self._saved.clear()

    def __enter__(self) -> NetworkGuard:
        self.install()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()

    def take_unattributed(self) -> list[Attempt]:
        with self._lock:
            taken = [attempt for attempt in self.attempts if attempt.where is None]
            self.attempts = [attempt for attempt in self.attempts if attempt.where is not None]
        return taken

    def take(self, where: str) -> list[Attempt]:
        """The refusals made while ``where`` ran (removed from ``attempts``)."""
        with self._lock:
            taken = [attempt for attempt in self.attempts if attempt.where == where]
            self.attempts = [attempt for attempt in self.attempts if attempt.where != where]
        return taken


def _addresses(answer: Any) -> list[str]:
    if isinstance(answer, str):  # gethostbyname
        return [answer]
    if isinstance(answer, tuple) and len(answer) == 3 and isinstance(answer[2], list):
        return [str(address) for address in answer[2]]  # gethostbyname_ex
    found = []
    for entry in answer or ():
        sockaddr = entry[4] if isinstance(entry, tuple) and len(entry) > 4 else None
        if isinstance(sockaddr, tuple) and sockaddr:
            found.append(str(sockaddr[0]))
    return found


class RefusingProxy:
    """A loopback port held bound but never listening: a connection to it is refused at once.
    While active, the proxy variables point every subprocess that honours them at it."""

    def __init__(self, allowed: AllowedHosts) -> None:
        self._allowed = allowed
        self._socket: socket.socket | None = None
        self._previous: dict[str, str | None] = {}

    def start(self, environ: MutableMapping[str, str] = os.environ) -> tuple[str, int]:
        """Returns the address every proxied connection is refused at."""
        held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        held.bind(("127.0.0.1", 0))  # bound, not listening: connecting gets ECONNREFUSED
        self._socket = held
        port = int(held.getsockname()[1])
        url = f"http://127.0.0.1:{port}"
        changes = dict.fromkeys(PROXY_VARIABLES, url)
        no_proxy = ",".join(self._allowed.no_proxy_entries())
        for name in NO_PROXY_VARIABLES:
            changes[name] = no_proxy
        self._previous = {name: environ.get(name) for name in changes}
        for name, value in changes.items():
            if value:
                environ[name] = value
            else:
                environ.pop(name, None)
        return ("127.0.0.1", port)

    def stop(self, environ: MutableMapping[str, str] = os.environ) -> None:
        for name, value in self._previous.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        self._previous = {}
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class RunIsolation:
    """A replay run's isolation: the guard for the whole process, the refusing proxy for its
    subprocesses, and (registered as a pytest plugin while active) the hooks that say which
    test and phase runs, and fail the ones whose refused attempts were swallowed."""

    def __init__(self, allowed: AllowedHosts, record_command: str) -> None:
        self.guard = NetworkGuard(allowed, record_command=record_command)
        self._proxy = RefusingProxy(allowed)

    def start(self) -> None:
        self.guard.proxy_address = self._proxy.start()
        self.guard.install()

    def stop(self) -> None:
        self.guard.uninstall()
        self._proxy.stop()

    @staticmethod
    def phase(nodeid: str, when: str) -> str:
        return f"{nodeid} ({when})"

    def _running(self, item: pytest.Item, when: str) -> Generator[None, None, None]:
        self.guard.where = self.phase(item.nodeid, when)
        try:
            return (yield)
        finally:
            self.guard.where = None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        return (yield from self._running(item, "setup"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        return (yield from self._running(item, "call"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        return (yield from self._running(item, "teardown"))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        refused_report(report, call, self.guard.take(self.phase(item.nodeid, call.when)))
        return report

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if any(attempt.where is None for attempt in self.guard.attempts):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        attempts = self.guard.take_unattributed()
        if attempts:
            terminalreporter.section("pytest-llm: network refused outside any test", red=True)
            for attempt in attempts:
                terminalreporter.line(str(attempt.error))


def refused_report(
    report: pytest.TestReport, call: pytest.CallInfo[None], attempts: list[Attempt]
) -> None:
    """Fail a test report whose phase made refused attempts; the code may have swallowed them."""
    if not attempts or (call.excinfo is not None and call.excinfo.errisinstance(NetworkBlocked)):
        return
    message = str(attempts[0].error)
    if len(attempts) > 1:
        message += f" (and {len(attempts) - 1} more refused attempts)"
    if report.passed:
        report.outcome = "failed"
        report.longrepr = message
    elif "pytest-llm:" not in str(report.longrepr):
        report.sections.append(("pytest-llm: network refused in replay", message))
