"""One bounded TLS handshake per service before sslyze is let near it.

sslyze bounds each socket read but not a whole handshake: a server that never
stops sending (a POP3 server streaming lines where a ServerHello should be)
keeps its legacy-handshake loop reading for ever. Servers under audit are
hostile, so each service first gets a handshake of our own, cut at a hard
deadline; only a service that completed it is scanned by sslyze, and the others
become evidence with the reason.

With the scan's `ProbeContext` (the TLS probe passes it), the connection goes
through `casaudit.probes.wire.connect` (pacing, the host's deadline, the per-port
breaker) and the outcome is recorded for the breaker: a handshake or a greeting
is an answer; no greeting within the step timeout, or no handshake within the
attempt's deadline, is a silence. Without one (tests), a plain connection.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from casaudit.evidence.base import ProbeError
from casaudit.probes.common import TLS_RECORD_STARTS
from casaudit.probes.common import observing_context as _context
from casaudit.probes.errors import Detail, ErrorKind, probe_error, tls_error
from casaudit.probes.pacing import ScanStopped
from casaudit.probes.wire.ports import Silence, connect

if TYPE_CHECKING:
    from casaudit.probes.base import ProbeContext

MAX_LINE = 4096
MAX_LINES = 50

#: The command that upgrades each cleartext mail protocol, and its success prefix.
_UPGRADE = {"IMAP": (b"a STARTTLS\r\n", b"a OK"), "POP3": (b"STLS\r\n", b"+OK")}


class _Deadline:
    """Shuts the socket down when the whole attempt outlives `seconds`."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.expired = False
        self._sock = sock
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        self.expired = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def remaining(self) -> float:
        return max(0.05, self.end - time.monotonic())

    def cancel(self) -> None:
        self._timer.cancel()


class _NoGreeting(TimeoutError):
    """No first byte within the step timeout where a greeting was due."""


def _read_line(sock: socket.socket, deadline: _Deadline, first_byte: float | None = None) -> bytes:
    data = b""
    while b"\n" not in data:
        if len(data) > MAX_LINE:
            raise ProbeFailure(ProbeError("too_large", "a line longer than 4 KiB before TLS"))
        if first_byte is not None and not data:
            sock.settimeout(min(first_byte, deadline.remaining()))
            try:
                chunk = sock.recv(1)
            except TimeoutError as exc:
                raise _NoGreeting(f"no greeting within {first_byte:g} s") from exc
            first_byte = None
        else:
            sock.settimeout(deadline.remaining())
            chunk = sock.recv(1)
        if not chunk:
            raise ProbeFailure(ProbeError("protocol", "the server closed the connection before TLS"))
        data += chunk
        if data in TLS_RECORD_STARTS:
            raise ProbeFailure(ProbeError(
                "protocol", "the server spoke TLS where a cleartext greeting was due (no STARTTLS)"))
    return data


class ProbeFailure(Exception):
    def __init__(self, error: ProbeError, *, starttls_offered: bool | None = None) -> None:
        super().__init__(error.detail)
        self.error = error
        self.starttls_offered = starttls_offered


@dataclass(frozen=True)
class Preflight:
    """How the bounded handshake ended: `error` None when it completed.

    `starttls_offered` keeps apart, for STARTTLS/STLS ports, a server that
    answered the upgrade command with a refusal (False: there is no TLS to judge
    on this port) from one that agreed and then failed the handshake (True), and
    from one never asked or that gave no answer (None; always None for
    implicit TLS).
    """

    error: ProbeError | None
    starttls_offered: bool | None = None


def _upgrade(sock: socket.socket, starttls: str, deadline: _Deadline, step: float) -> None:
    command, success = _UPGRADE[starttls]
    greeting = _read_line(sock, deadline, first_byte=step)
    if not greeting.startswith((b"* OK", b"+OK")):
        raise ProbeFailure(ProbeError("protocol", "no mail greeting before STARTTLS"))
    sock.sendall(command)
    for _ in range(MAX_LINES):
        line = _read_line(sock, deadline)
        if line.startswith(success):
            return
        if line.startswith((b"a ", b"-ERR")):
            # A tagged NO/BAD or -ERR: the server itself declines the upgrade.
            raise ProbeFailure(ProbeError("tls", "the server refused STARTTLS"),
                               starttls_offered=False)
    raise ProbeFailure(ProbeError("too_large", "no answer to STARTTLS within 50 lines"))


def preflight(
    address: str, port: int, server_name: str, starttls: str | None, timeout: float,
    context: ProbeContext | None = None,
) -> ProbeError | None:
    """None when a TLS handshake completed within `timeout` (x3 for STARTTLS), else why not."""
    return attempt(address, port, server_name, starttls, timeout, context).error


def attempt(
    address: str, port: int, server_name: str, starttls: str | None, timeout: float,
    context: ProbeContext | None = None,
) -> Preflight:
    """`preflight`, also saying whether a STARTTLS/STLS port accepted the upgrade command."""
    seconds = timeout * (3 if starttls else 2)
    key = (address, port)
    try:
        if context is not None:
            sock = connect(context, address, port, timeout).sock
        else:
            sock = socket.create_connection((address, port), timeout=timeout)
    except ScanStopped:
        raise
    except Exception as exc:  # noqa: BLE001 - refused, timed out, skipped: evidence
        return Preflight(probe_error(exc))
    deadline = _Deadline(sock, seconds)
    # Set once the server has agreed to the upgrade: a later failure is then the handshake's.
    offered: bool | None = None
    silence: Silence | None = None
    try:
        if starttls:
            _upgrade(sock, starttls, deadline, timeout)
            offered = True
        sock.settimeout(deadline.remaining())
        with _context().wrap_socket(sock, server_hostname=server_name,
                                    do_handshake_on_connect=False) as tls:
            tls.settimeout(deadline.remaining())
            tls.do_handshake()
        if context is not None:
            context.breaker.answered(key)
        return Preflight(None, offered)
    except _NoGreeting as exc:
        silence = Silence.ANSWER
        return Preflight(ProbeError(ErrorKind.TIMEOUT, str(exc)), offered)
    except ProbeFailure as failure:
        if deadline.expired:
            # The deadline shut the socket down: what the read then saw is its doing.
            silence = Silence.HANDSHAKE
            return Preflight(
                ProbeError(ErrorKind.TIMEOUT, f"no TLS handshake within {seconds:g} s"), offered)
        return Preflight(failure.error, failure.starttls_offered)
    except ssl.SSLError as exc:
        if deadline.expired:
            silence = Silence.HANDSHAKE
            return Preflight(ProbeError(ErrorKind.TIMEOUT, Detail.handshake_timeout(seconds)), offered)
        return Preflight(tls_error(exc), offered)
    except OSError as exc:
        if deadline.expired or isinstance(exc, TimeoutError):
            silence = Silence.HANDSHAKE
            return Preflight(ProbeError(ErrorKind.TIMEOUT, Detail.handshake_timeout(seconds)), offered)
        return Preflight(
            ProbeError(ErrorKind.RESET, f"the connection failed during the handshake: {exc}"), offered)
    finally:
        deadline.cancel()
        try:
            sock.close()
        except OSError:
            pass
        if context is not None and silence is not None:
            context.breaker.silent(key, silence)
