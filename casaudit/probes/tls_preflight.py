"""One bounded TLS handshake per service before sslyze is let near it.

sslyze bounds each socket read but not a whole handshake: a server that never
stops sending (a POP3 server streaming lines where a ServerHello should be)
keeps its legacy-handshake loop reading for ever. Servers under audit are
hostile, so each service first gets a handshake of our own, cut at a hard
deadline; only a service that completed it is scanned by sslyze, and the others
become evidence with the reason.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from casaudit.model import ProbeError
from casaudit.probes.common import TLS_RECORD_STARTS, tls_error
from casaudit.probes.common import observing_context as _context

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


def _read_line(sock: socket.socket, deadline: _Deadline) -> bytes:
    data = b""
    while b"\n" not in data:
        if len(data) > MAX_LINE:
            raise ProbeFailure(ProbeError("too_large", "a line longer than 4 KiB before TLS"))
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


def _upgrade(sock: socket.socket, starttls: str, deadline: _Deadline) -> None:
    command, success = _UPGRADE[starttls]
    greeting = _read_line(sock, deadline)
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
    address: str, port: int, server_name: str, starttls: str | None, timeout: float
) -> ProbeError | None:
    """None when a TLS handshake completed within `timeout` (x3 for STARTTLS), else why not."""
    return attempt(address, port, server_name, starttls, timeout).error


def attempt(
    address: str, port: int, server_name: str, starttls: str | None, timeout: float,
    pace: Callable[[], None] = lambda: None,
) -> Preflight:
    """`preflight`, also saying whether a STARTTLS/STLS port accepted the upgrade command."""
    seconds = timeout * (3 if starttls else 2)
    pace()  # --rate/--deadline (casaudit.probes.pacing): may raise ScanStopped, not evidence
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except ConnectionRefusedError:
        return Preflight(ProbeError("refused", "connection refused: nothing listens on this port"))
    except TimeoutError:
        return Preflight(
            ProbeError("timeout", "no answer to the connection attempt in time (filtered?)"))
    except OSError as exc:
        return Preflight(ProbeError("unreachable", exc.strerror or str(exc)))
    deadline = _Deadline(sock, seconds)
    # Set once the server has agreed to the upgrade: a later failure is then the handshake's.
    offered: bool | None = None
    try:
        if starttls:
            _upgrade(sock, starttls, deadline)
            offered = True
        sock.settimeout(deadline.remaining())
        with _context().wrap_socket(sock, server_hostname=server_name,
                                    do_handshake_on_connect=False) as tls:
            tls.settimeout(deadline.remaining())
            tls.do_handshake()
        return Preflight(None, offered)
    except ProbeFailure as failure:
        if deadline.expired:
            # The deadline shut the socket down: what the read then saw is its doing.
            return Preflight(
                ProbeError("timeout", f"no TLS handshake within {seconds:g} s"), offered)
        return Preflight(failure.error, failure.starttls_offered)
    except ssl.SSLError as exc:
        if deadline.expired:
            return Preflight(ProbeError(
                "timeout", f"the TLS handshake did not finish within {seconds:g} s"), offered)
        return Preflight(tls_error(exc), offered)
    except (TimeoutError, OSError) as exc:
        if deadline.expired or isinstance(exc, TimeoutError):
            return Preflight(ProbeError(
                "timeout", f"the TLS handshake did not finish within {seconds:g} s"), offered)
        return Preflight(
            ProbeError("reset", f"the connection failed during the handshake: {exc}"), offered)
    finally:
        deadline.cancel()
        try:
            sock.close()
        except OSError:
            pass
