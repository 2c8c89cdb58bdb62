"""The wire layer (issue #14): the one error map, the per-port breaker, the one connect.

Unit tests, no lab: every exception type a probe can meet maps to one kind; the
breaker opens after a retried silence, an answer resets it, skipped work is
immediate; `connect` paces, retries a timed-out attempt once and honours the
breaker.
"""

from __future__ import annotations

import errno
import json
import socket
import ssl
import threading
import time
from pathlib import Path

import httpcore
import httpx
import imaplib2
import pytest

from casaudit.model import ProbeError
from casaudit.plan import Scope, Target
from casaudit.probes.base import ProbeContext
from casaudit.probes.errors import (
    ConnectTimedOut,
    DeadlinePassed,
    Detail,
    ErrorKind,
    ProtocolBroken,
    TooLarge,
    mapped,
    probe_error,
)
from casaudit.probes.pacing import HostDeadlineExceeded, Pacer
from casaudit.probes.wire import PortBreaker, PortSkipped, Silence, connect
from casaudit.resolve import ResolutionError, Resolver

ROOT = Path(__file__).resolve().parents[1]


def _ssl_error(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower()}")
    error.reason = reason
    return error


def _caused(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(("exc", "kind"), [
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "refused"),
    (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "reset"),
    (TimeoutError(), "timeout"),
    (ConnectTimedOut(2), "timeout"),
    (DeadlinePassed(Detail.DIALOGUE_DEADLINE), "timeout"),
    (_ssl_error("WRONG_VERSION_NUMBER"), "tls"),
    (_ssl_error("UNEXPECTED_MESSAGE"), "tls"),
    (ResolutionError("NXDOMAIN"), "dns"),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), "unreachable"),
    (TooLarge("more than 64 KiB"), "too_large"),
    (ProtocolBroken("the greeting is not +OK"), "protocol"),
    (PortSkipped(ProbeError(ErrorKind.SKIPPED, "not tried")), "skipped"),
    (httpx.ConnectTimeout("x"), "timeout"),
    (httpcore.ConnectTimeout("x"), "timeout"),
    (httpx.ReadTimeout("x"), "timeout"),
    (httpcore.PoolTimeout("x"), "timeout"),
    (httpx.RemoteProtocolError("x"), "protocol"),
    (httpx.ConnectError("x"), "unreachable"),
    (_caused(httpx.ConnectError("x"), ConnectionRefusedError(errno.ECONNREFUSED, "refused")), "refused"),
    (_caused(httpcore.ReadError("x"), ConnectionResetError(errno.ECONNRESET, "reset")), "reset"),
    (imaplib2.IMAP4.error("command error"), "protocol"),
    (imaplib2.IMAP4.abort("connection closed"), "protocol"),
    (ValueError("something else"), "error"),
])
def test_each_exception_type_maps_to_one_kind(exc: BaseException, kind: str) -> None:
    error = probe_error(exc)
    assert error.kind == kind
    assert isinstance(error.kind, ErrorKind) and error.detail


def test_timeouts_are_told_by_type_not_by_message() -> None:
    # A message saying "timed out" does not make a timeout; a TimeoutError without one does.
    assert probe_error(RuntimeError("operation timed out")).kind == "error"
    assert probe_error(TimeoutError("")).kind == "timeout"


def test_the_kind_is_a_plain_string_in_json() -> None:
    error = probe_error(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    assert json.dumps({"kind": error.kind}) == '{"kind": "refused"}'
    assert error == ProbeError("refused", Detail.REFUSED)


def test_a_retried_connect_timeout_says_so() -> None:
    assert probe_error(ConnectTimedOut(1)).detail == Detail.CONNECT_TIMEOUT
    assert "tried 2 times" in probe_error(ConnectTimedOut(2)).detail


def test_mapped_records_failures_and_lets_the_deadline_through() -> None:
    with mapped() as failed:
        raise ConnectionResetError(errno.ECONNRESET, "reset")
    assert failed.error is not None and failed.error.kind == "reset"
    with pytest.raises(HostDeadlineExceeded), mapped():
        raise HostDeadlineExceeded("past the deadline")


def test_no_probe_recognises_timeouts_by_message_text() -> None:
    for path in (ROOT / "casaudit" / "probes").rglob("*.py"):
        text = path.read_text()
        assert "in str(exc)" not in text and '"timed out"' not in text, path


# --------------------------------------------------------------------------- the breaker

KEY = ("192.0.2.1", 443)


def test_breaker_opens_only_after_a_retried_silence() -> None:
    breaker = PortBreaker()
    breaker.guard(KEY)
    assert breaker.silent(KEY, Silence.HANDSHAKE) is True  # retry once
    breaker.guard(KEY)
    assert breaker.silent(KEY, Silence.HANDSHAKE) is False  # the retry failed the same way
    with pytest.raises(PortSkipped) as raised:
        breaker.guard(KEY)
    error = probe_error(raised.value)
    assert error.kind == "skipped"
    assert error.detail == "not tried: port 443 stopped answering earlier in this scan (2 attempts timed out)"


def test_an_answer_resets_the_breaker() -> None:
    breaker = PortBreaker()
    breaker.silent(KEY, Silence.CONNECT)
    breaker.answered(KEY)
    assert breaker.silent(KEY, Silence.CONNECT) is True  # one slow answer condemns nothing
    breaker.answered(KEY)
    breaker.guard(KEY)
    assert not breaker.is_open(KEY)


def test_silence_after_connecting_does_not_count_on_a_port_that_answers() -> None:
    # A filter that tarpits /EWS on a port that answers everything else.
    breaker = PortBreaker()
    breaker.answered(KEY)
    for _ in range(5):
        assert breaker.silent(KEY, Silence.ANSWER) is False
    breaker.guard(KEY)


def test_a_port_that_answered_earlier_gets_twice_the_strikes_before_it_is_given_up() -> None:
    # A loaded server: two handshakes time out at once, then it answers again.
    breaker = PortBreaker()
    breaker.answered(KEY)
    breaker.silent(KEY, Silence.HANDSHAKE)
    breaker.silent(KEY, Silence.HANDSHAKE)
    breaker.guard(KEY)  # still tried
    breaker.silent(KEY, Silence.HANDSHAKE)
    breaker.silent(KEY, Silence.HANDSHAKE)
    with pytest.raises(PortSkipped):  # a port that stopped answering mid-scan (an IPS) is given up
        breaker.guard(KEY)


def test_ports_are_kept_apart() -> None:
    breaker = PortBreaker()
    breaker.silent(KEY, Silence.CONNECT)
    breaker.silent(KEY, Silence.CONNECT)
    breaker.guard((KEY[0], 80))
    breaker.guard(("192.0.2.2", 443))


# --------------------------------------------------------------------------- connect


def _context(timeout: float = 0.3, rate: float | None = None, deadline: float | None = None,
             ) -> ProbeContext:
    return ProbeContext(
        target=Target(host="wire.test", domain="wire.test", ports={}),
        scope=Scope.of(Target(host="wire.test", domain="wire.test", ports={})),
        resolver=Resolver({"wire.test": "127.0.0.1"}), timeout=timeout, concurrency=1,
        pacer=Pacer(rate, deadline),
    )


@pytest.fixture
def listener() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server
    server.close()


def test_connect_returns_a_socket_with_the_step_timeout(listener: socket.socket) -> None:
    context = _context(timeout=0.7)
    connected = connect(context, "wire.test", listener.getsockname()[1])
    with connected.sock:
        assert connected.sock.gettimeout() == 0.7
        assert connected.peer == f"127.0.0.1:{listener.getsockname()[1]}"
    assert context.pacer.requests == 1


def test_connect_is_paced(listener: socket.socket) -> None:
    context = _context(rate=10)
    started = time.monotonic()
    for _ in range(4):
        connect(context, "wire.test", listener.getsockname()[1]).sock.close()
    # Four connections at 10 per second: three intervals of 0.1 s at least.
    assert time.monotonic() - started >= 0.29


def test_connect_raises_past_the_host_deadline(listener: socket.socket) -> None:
    context = _context(deadline=0.05)
    time.sleep(0.1)
    with pytest.raises(HostDeadlineExceeded):
        connect(context, "wire.test", listener.getsockname()[1])


def test_connect_refused_is_not_retried_and_opens_nothing() -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    context = _context()
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            connect(context, "wire.test", port)
    assert not context.breaker.is_open(("127.0.0.1", port))


def test_skipped_work_on_an_open_port_is_immediate() -> None:
    context = _context(timeout=5)
    key = ("127.0.0.1", 9)
    context.breaker.silent(key, Silence.CONNECT)
    context.breaker.silent(key, Silence.CONNECT)
    started = time.monotonic()
    with pytest.raises(PortSkipped):
        connect(context, "wire.test", 9)
    assert time.monotonic() - started < 0.05
    assert context.pacer.requests == 0  # nothing sent, no slot taken


def test_a_connect_timeout_is_retried_once_then_opens_the_breaker(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[float] = []

    def silent(address: tuple[str, int], timeout: float) -> socket.socket:
        attempts.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", silent)
    context = _context()
    with pytest.raises(ConnectTimedOut) as raised:
        connect(context, "wire.test", 443)
    assert len(attempts) == 2 and raised.value.attempts == 2
    with pytest.raises(PortSkipped):
        connect(context, "wire.test", 443)
    assert len(attempts) == 2


def test_a_slot_taken_for_a_request_covers_its_connection(listener: socket.socket) -> None:
    from casaudit.probes.wire import release_slot, take_slot

    context = _context()
    take_slot(context)
    connect(context, "wire.test", listener.getsockname()[1]).sock.close()
    release_slot()
    assert context.pacer.requests == 1


def test_a_timed_out_attempt_is_not_retried_while_another_on_the_port_is_under_way() -> None:
    # Eight requests in flight to a tarpit: the others are the second try.
    breaker = PortBreaker()
    ready, finish = threading.Event(), threading.Event()

    def other() -> None:
        with breaker.attempt(KEY):
            ready.set()
            finish.wait(5)

    worker = threading.Thread(target=other)
    worker.start()
    ready.wait(5)
    with breaker.attempt(KEY):
        pass
    assert breaker.silent(KEY, Silence.HANDSHAKE) is False  # counted, not retried
    finish.set()
    worker.join()
    assert breaker.silent(KEY, Silence.HANDSHAKE) is False  # the other one timed out too: open
    assert breaker.is_open(KEY)


# --------------------------------------------------------------------------- the HTTP exchange


def _serve(listener: socket.socket, answer: bytes | None) -> threading.Thread:
    """Accept connections; answer each request with `answer`, or hold it silently (a tarpit)."""
    held: list[socket.socket] = []

    def loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if answer is None:
                held.append(conn)
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(answer)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_a_silent_port_is_retried_once_named_then_skipped(listener: socket.socket) -> None:
    from casaudit.probes.common import observing_context
    from casaudit.probes.wire.http import client, exchange

    _serve(listener, None)
    context = _context(timeout=0.3)
    url = f"http://wire.test:{listener.getsockname()[1]}/owa"
    with client(context, observing_context()) as http:
        first = exchange(context, http, "GET", url).exchange
        assert first.error is not None and first.error.kind == "timeout"
        assert first.error.detail.endswith("(tried 2 times)")
        started = time.monotonic()
        later = exchange(context, http, "GET", url).exchange
    assert time.monotonic() - started < 0.1
    assert later.error is not None and later.error.kind == "skipped"
    assert f"port {listener.getsockname()[1]} stopped answering earlier" in later.error.detail
    assert context.pacer.requests == 2  # two tries; the skipped request waited for no slot


def test_an_answer_keeps_the_port_open_and_is_recorded(listener: socket.socket) -> None:
    from casaudit.probes.common import observing_context
    from casaudit.probes.wire.http import client, exchange

    _serve(listener, b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\nContent-Length: 2\r\n"
                     b"Connection: close\r\n\r\nno")
    context = _context(timeout=2)
    url = f"http://wire.test:{listener.getsockname()[1]}/ews"
    with client(context, observing_context()) as http:
        reply = exchange(context, http, "GET", url, (("Authorization", "Basic c2VjcmV0"),))
    answer = reply.exchange
    assert answer.status == 401 and answer.auth_schemes == ("NTLM",) and reply.body == b"no"
    assert ("Authorization", "[credentials withheld from the report]") in answer.request_headers
    assert answer.peer == f"127.0.0.1:{listener.getsockname()[1]}"
    assert not context.breaker.is_open(("127.0.0.1", listener.getsockname()[1]))


def test_a_retry_that_answers_is_kept_and_the_evidence_says_it_was_a_retry(listener: socket.socket) -> None:
    from casaudit.probes.common import observing_context
    from casaudit.probes.wire.http import client, exchange

    # Given a server that holds the first connection silently and answers the next ones
    held: list[socket.socket] = []

    def loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if not held:
                held.append(conn)
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    threading.Thread(target=loop, daemon=True).start()
    context = _context(timeout=0.5)
    url = f"http://wire.test:{listener.getsockname()[1]}/owa"
    with client(context, observing_context()) as http:
        answer = exchange(context, http, "GET", url).exchange
    # Then the answer stands, the port stays open, and the evidence names the first silence
    assert answer.status == 200 and answer.error is None
    assert answer.first_attempt is not None and answer.first_attempt.kind == "timeout"
    assert not context.breaker.is_open(("127.0.0.1", listener.getsockname()[1]))
    for conn in held:
        conn.close()
