"""Replay isolates the whole run: whatever no cassette answers is refused, wherever it starts
(test body, fixture setup and teardown of any scope, a subprocess, ``_socket`` used directly,
UDP, name resolution, a thread still running after its test), and a logging listener proves
that nothing arrived. ``llm_allowed_hosts`` names hosts as written, and their requests bypass
the cassette."""

from __future__ import annotations

import os
import socket
import textwrap
import threading
from collections.abc import Iterator

import pytest

from pytest_llm.replay.network_guard import PROXY_VARIABLES, AllowedHosts, NetworkGuard

REFUSED = "in replay mode, outside the cassettes"


class NetworkLog:
    """A loopback TCP listener and a UDP socket that log every connection and datagram."""

    def __init__(self) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.connections: list[tuple[str, int]] = []
        self.datagrams: list[bytes] = []
        self._threads = [
            threading.Thread(target=self._accept, daemon=True),
            threading.Thread(target=self._receive, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def tcp_port(self) -> int:
        return int(self.tcp.getsockname()[1])

    @property
    def udp_port(self) -> int:
        return int(self.udp.getsockname()[1])

    def _accept(self) -> None:
        while True:
            try:
                connection, peer = self.tcp.accept()
            except OSError:
                return
            self.connections.append(peer)
            connection.close()

    def _receive(self) -> None:
        while True:
            try:
                data, _ = self.udp.recvfrom(65536)
            except OSError:
                return
            self.datagrams.append(data)

    def control(self) -> None:
        """One connection and one datagram from here, outside any run: both must be logged
        (otherwise "nothing arrived" would prove nothing)."""
        before = (len(self.connections), len(self.datagrams))
        socket.create_connection(("127.0.0.1", self.tcp_port), timeout=10).close()
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.sendto(b"control", ("127.0.0.1", self.udp_port))
        sender.close()
        # a structural wait, not a sleep: the listener threads log within this bound or fail
        done = threading.Event()
        for _ in range(1000):
            if (len(self.connections), len(self.datagrams)) == (before[0] + 1, before[1] + 1):
                done.set()
                break
            done.wait(0.01)
        assert done.is_set(), (self.connections, self.datagrams)
        self.connections.clear()
        self.datagrams.clear()

    def close(self) -> None:
        self.tcp.close()
        self.udp.close()


@pytest.fixture
def network_log() -> Iterator[NetworkLog]:
    log = NetworkLog()
    log.control()
    yield log
    log.close()


def _suite(log: NetworkLog, allowed_port: int) -> str:
    return textwrap.dedent(
        f"""
        import _socket
        import socket
        import subprocess
        import sys
        import threading

        import pytest
        from pytest_llm import llm_case

        TCP = ("127.0.0.1", {log.tcp_port})
        UDP = ("127.0.0.1", {log.udp_port})
        late = threading.Event()
        senders = []


        def knock():
            socket.create_connection(TCP, timeout=10).close()


        @pytest.fixture(scope="session")
        def session_knock():
            knock()


        @pytest.fixture
        def setup_knock():
            knock()
            yield


        @pytest.fixture
        def teardown_knock():
            yield
            knock()


        def test_session_fixture_before_the_first_case(session_knock):
            pass


        @llm_case
        def test_case_body():
            knock()


        @llm_case
        def test_function_fixture_setup(setup_knock):
            pass


        @llm_case
        def test_function_fixture_teardown(teardown_knock):
            pass


        def test_plain_body_swallowing_the_error():
            try:
                knock()
            except BaseException:
                pass


        def test_subprocess_with_proxies_from_the_environment():
            code = (
                "import urllib.request; "
                "urllib.request.urlopen('http://127.0.0.1:{log.tcp_port}/', timeout=10)"
            )
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            assert done.returncode == 0, "subprocess: " + done.stderr.strip().splitlines()[-1]


        def test_in_process_client_honouring_the_proxy_variables():
            import urllib.request

            # a fresh opener: urlopen's global one may predate the run (built without proxies)
            urllib.request.build_opener().open("http://127.0.0.1:{log.tcp_port}/", timeout=10)


        def test_underscore_socket_directly():
            raw = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
            try:
                raw.connect(TCP)
            finally:
                raw.close()


        def test_udp_sendto():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.sendto(b"leak", UDP)


        def test_udp_connect():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.connect(UDP)
                udp.send(b"leak")


        def test_resolving_a_name():
            socket.getaddrinfo("api.openai.com", 443)


        def test_connect_ex():
            with socket.socket() as sock:
                assert sock.connect_ex(TCP) != 0


        def test_starts_a_thread_that_sends_later():
            def send_later():
                late.wait(60)
                try:
                    knock()
                except BaseException:
                    pass

            sender = threading.Thread(target=send_later, name="late-sender", daemon=True)
            sender.start()
            senders.append(sender)


        def test_running_when_the_thread_sends():
            late.set()
            senders[0].join(60)


        def test_allowed_port():
            socket.create_connection(("127.0.0.1", {allowed_port}), timeout=10).close()
        """
    )


def test_replay_refuses_every_escape_and_nothing_arrives(inner, network_log):
    allowed = NetworkLog()
    try:
        allowed.control()
        inner.pytester.makeini(f"[pytest]\nllm_allowed_hosts =\n    127.0.0.1:{allowed.tcp_port}\n")
        inner.write(_suite(network_log, allowed.tcp_port))
        environment = {name: os.environ.get(name) for name in (*PROXY_VARIABLES, "NO_PROXY")}
        result = inner.replay("-rA", "-W", "ignore::pytest.PytestUnhandledThreadExceptionWarning")
        assert {name: os.environ.get(name) for name in environment} == environment  # restored
        assert network_log.connections == [] and network_log.datagrams == []
        # exactly the one allowed connection reached the allowed listener
        for _ in range(1000):
            if allowed.connections:
                break
            threading.Event().wait(0.01)
        assert len(allowed.connections) == 1
    finally:
        allowed.close()
    network_log.control()  # still listening: the zero above was not a dead listener
    port = network_log.tcp_port
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 3, (
        result.stdout.str()
    )  # teardown's call, starts-a-thread, allowed
    assert outcomes.get("errors") == 3 and outcomes.get("failed") == 10, result.stdout.str()
    result.stdout.fnmatch_lines_random(
        [
            f"*test_session_fixture_before_the_first_case (setup) tried to connect to 127.0.0.1:{port} {REFUSED}*",
            f"*test_case_body (test body) tried to connect to 127.0.0.1:{port} {REFUSED}*",
            f"*test_function_fixture_setup (setup) tried to connect to 127.0.0.1:{port}*",
            f"*test_function_fixture_teardown (teardown) tried to connect to 127.0.0.1:{port}*",
            f"*test_plain_body_swallowing_the_error (call) tried to connect to 127.0.0.1:{port}*",
            "*subprocess: *Connection refused*",
            "*test_in_process_client_honouring_the_proxy_variables (call) tried to connect to "
            "127.0.0.1:*, the refusing proxy that replay puts in HTTP_PROXY*",
            f"*test_underscore_socket_directly (call) tried to connect to 127.0.0.1:{port}*",
            f"*test_udp_sendto (call) tried to send UDP to 127.0.0.1:{network_log.udp_port}*",
            f"*test_udp_connect (call) tried to connect (UDP) to 127.0.0.1:{network_log.udp_port}*",
            "*test_resolving_a_name (call) tried to resolve the host name 'api.openai.com'*",
            f"*test_connect_ex (call) tried to connect to 127.0.0.1:{port}*",
            "*test_running_when_the_thread_sends (call) (thread 'late-sender'*) tried to connect*",
        ]
    )
    assert "llm_allowed_hosts (a line '127.0.0.1:" in result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str()


def test_a_thread_sending_after_the_last_test_fails_the_run(inner, network_log):
    inner.write(
        f"""
        import socket
        import threading
        from pytest_llm import llm_case

        late = threading.Event()

        def send_later():
            late.wait(60)
            socket.create_connection(("127.0.0.1", {network_log.tcp_port}), timeout=10)

        sender = threading.Thread(target=send_later, name="straggler", daemon=True)

        @llm_case
        def test_starts_it():
            sender.start()
        """
    )
    inner.pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_sessionfinish(session):
            module = next(iter(session.items)).module
            module.late.set()
            module.sender.join(60)
        """
    )
    result = inner.replay("-W", "ignore::pytest.PytestUnhandledThreadExceptionWarning")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*pytest-llm: network refused outside any test*",
            "*code running outside any test (thread 'straggler'*tried to connect to "
            f"127.0.0.1:{network_log.tcp_port}*",
        ]
    )
    assert network_log.connections == []
    network_log.control()


def test_replay_under_xdist_refuses_fixture_traffic(inner, network_log):
    inner.write(
        f"""
        import socket
        import pytest
        from pytest_llm import llm_case

        @pytest.fixture(scope="session")
        def warm_up():
            socket.create_connection(("127.0.0.1", {network_log.tcp_port}), timeout=10).close()

        @llm_case
        def test_one(warm_up):
            pass

        @llm_case
        def test_two(warm_up):
            pass
        """
    )
    result = inner.replay("-n", "2")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*(setup) tried to connect to 127.0.0.1:*" + REFUSED + "*"])
    assert network_log.connections == []
    network_log.control()


def test_localhost_allows_localhost_and_bypasses_the_cassette(inner):
    inner.pytester.makeini("[pytest]\nllm_allowed_hosts =\n    localhost\n")
    inner.write(
        f"""
        import openai
        from pytest_llm import llm_case

        @llm_case
        def test_live(llm_cassette):
            client = openai.OpenAI(base_url="http://localhost:{inner.server.port}/v1", api_key="k", max_retries=0)
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{{"role": "user", "content": "hello there"}}])
            assert reply.choices[0].message.content
            assert llm_cassette.interactions == []
        """
    )
    inner.replay().assert_outcomes(passed=1)
    inner.replay().assert_outcomes(passed=1)
    assert len(inner.server.requests) == 2  # both runs went live: nothing was replayed
    inner.record().assert_outcomes(passed=1)
    assert len(inner.server.requests) == 3
    assert (
        not inner.cassette("test_live").exists()
        or "hello there" not in inner.cassette("test_live").read_text()
    )


def test_a_name_entry_does_not_allow_its_address_by_itself(inner):
    inner.pytester.makeini("[pytest]\nllm_allowed_hosts =\n    localhost\n")
    inner.write(
        f"""
        import socket
        from pytest_llm import llm_case

        @llm_case
        def test_by_ip():
            socket.create_connection(("127.0.0.1", {inner.server.port}), timeout=10).close()
        """
    )
    result = inner.replay()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"*test_by_ip (test body) tried to connect to 127.0.0.1:{inner.server.port} {REFUSED}*"]
    )


@pytest.mark.parametrize(
    "entry", ["http://db.test/", "db.test:port", "db.test:70000", "a..b", "[::1"]
)
def test_a_bad_allowed_host_is_a_clear_error(inner, entry):
    inner.pytester.makeini(f"[pytest]\nllm_allowed_hosts =\n    {entry}\n")
    inner.write("def test_nothing():\n    pass\n")
    result = inner.replay()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*ini llm_allowed_hosts: {entry!r} is not a host name*"])
    assert "Traceback" not in result.stderr.str()


def test_allowed_hosts_compare_names_and_ip_literals_as_written():
    allowed = AllowedHosts.parse(["LocalHost", "db.test:5432", "[::1]:8080", "10.0.0.1."])
    assert allowed.allows("localhost", 1) and allowed.allows("localhost.", None)
    assert allowed.allows("db.test", 5432) and not allowed.allows("db.test", 5433)
    assert allowed.allows("0:0::1", 8080) and not allowed.allows("::1", 8081)
    assert allowed.allows("10.0.0.1", 80)
    assert not allowed.allows("127.0.0.1", 1)  # localhost is a name, not its address


def test_the_guard_restores_the_socket_module_exactly():
    import _socket

    before = (
        socket.socket.__dict__.get("connect"),
        _socket.socket,
        _socket.getaddrinfo,
        socket.gethostbyname,
    )
    with NetworkGuard(AllowedHosts(), record_command="pytest --llm-record"):
        assert _socket.socket is not before[1]
    after = (
        socket.socket.__dict__.get("connect"),
        _socket.socket,
        _socket.getaddrinfo,
        socket.gethostbyname,
    )
    assert after == before
