"""The one place that turns socket, ssl, DNS, httpx/httpcore and imaplib2 failures into `ProbeError`.

Every probe family reaches the network through `casaudit.probes.wire`, and every
failure it records goes through `probe_error` (or the `mapped` context manager),
in the spirit of httpx's ``map_httpcore_exceptions``: the exception's *type*
decides the kind, never its message text. Each human detail text exists once,
here (`Detail`).

An auditor's tool must not read a swallowed exception as a pass, and must keep
"refused" (the port is closed: evidence) apart from "timeout" (unknown), and both
apart from "skipped" (this scan stopped asking a port that had stopped answering).

`ScanStopped` (the host's deadline, Ctrl-C) is never mapped: it is not evidence.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from casaudit.evidence.base import ErrorKind, ProbeError
from casaudit.resolve import ResolutionError


class Detail:
    """The human detail texts, one copy each (tests and the report read them)."""

    REFUSED = "connection refused: nothing listens on this port"
    CONNECT_TIMEOUT = "no answer to the connection attempt in time (filtered?)"
    STOPPED_ANSWERING = "the server stopped answering in time"
    RESET = "the server reset the connection"
    DIALOGUE_DEADLINE = "the dialogue exceeded its overall deadline"
    HEAD_DEADLINE = "the response head did not end in time"

    @staticmethod
    def connect_timeout_after(seconds: float) -> str:
        return f"no answer to the connection attempt in {seconds:g} s (filtered?)"

    @staticmethod
    def handshake_timeout(seconds: float) -> str:
        return f"the TLS handshake did not finish within {seconds:g} s"

    @staticmethod
    def exchange_deadline(seconds: float) -> str:
        return f"the exchange did not finish within its {seconds:g} s deadline"


# --------------------------------------------------------------------------- our own failures


class ProbeFailure(Exception):
    """A failure a probe has already classified (too large, protocol broken, skipped...)."""

    def __init__(self, error: ProbeError) -> None:
        super().__init__(error.detail)
        self.error = error


class TooLarge(ProbeFailure):
    def __init__(self, detail: str) -> None:
        super().__init__(ProbeError(ErrorKind.TOO_LARGE, detail))


class ProtocolBroken(ProbeFailure):
    def __init__(self, detail: str) -> None:
        super().__init__(ProbeError(ErrorKind.PROTOCOL, detail))


class DeadlinePassed(TimeoutError):
    """A bounded step ran out of its own time (not the host's --deadline): a timeout."""


class HandshakeTimeout(TimeoutError):
    """No TLS handshake within the allowed time."""


class ConnectTimedOut(TimeoutError):
    """No answer to the TCP connection attempt; `attempts` says whether it was retried."""

    def __init__(self, attempts: int) -> None:
        super().__init__(Detail.CONNECT_TIMEOUT)
        self.attempts = attempts


def retried(detail: str, attempts: int) -> str:
    """`detail`, saying that the step was tried twice when it was."""
    return f"{detail} (tried {attempts} times)" if attempts > 1 else detail


# --------------------------------------------------------------------------- watchdogs


_watched = threading.local()


class Watched(Protocol):
    """An exchange's deadline (`casaudit.probes.wire.http.Watchdog`)."""

    expired: bool

    @property
    def describe(self) -> str: ...


def watch(watchdog: Watched | None) -> None:
    """Remember this thread's current exchange deadline, so a failure it caused reads as one;
    None once the exchange is over."""
    _watched.watchdog = watchdog


def watched() -> Watched | None:
    """This thread's current exchange deadline, if any."""
    return getattr(_watched, "watchdog", None)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


# --------------------------------------------------------------------------- the map


_NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST"})


def tls_error(exc: ssl.SSLError) -> ProbeError:
    """A failed handshake; one whose peer answered in cleartext says so (`not TLS`)."""
    reason = exc.reason or exc.strerror or str(exc)
    if exc.reason in _NOT_TLS_REASONS:
        return ProbeError(ErrorKind.TLS, f"TLS handshake failed: {reason}: the server answered with "
                                         "something that is not TLS (cleartext on a TLS port?)")
    return ProbeError(ErrorKind.TLS, f"TLS handshake failed: {reason}")


def _third_party(item: BaseException) -> ProbeError | None:
    """httpx/httpcore and imaplib2 exceptions, by type; None when `item` is none of theirs.

    Imported here lazily and only when already loaded: a TLS-only scan never imports httpx.
    """
    import sys

    httpx = sys.modules.get("httpx")
    httpcore = sys.modules.get("httpcore")
    if httpcore is not None:
        if isinstance(item, httpcore.ConnectTimeout) or (
                httpx is not None and isinstance(item, httpx.ConnectTimeout)):
            return ProbeError(ErrorKind.TIMEOUT, Detail.CONNECT_TIMEOUT)
        if isinstance(item, httpcore.TimeoutException) or (
                httpx is not None and isinstance(item, httpx.TimeoutException)):
            return ProbeError(ErrorKind.TIMEOUT, Detail.STOPPED_ANSWERING)
        if isinstance(item, httpcore.RemoteProtocolError) or (
                httpx is not None and isinstance(item, httpx.RemoteProtocolError)):
            return ProbeError(ErrorKind.PROTOCOL, f"the server broke the HTTP protocol: {item}"
                              + _protocol_hint(item))
    sslyze_errors = sys.modules.get("sslyze.errors")
    if sslyze_errors is not None and isinstance(item, sslyze_errors.ConnectionToServerFailed):
        if isinstance(item, (sslyze_errors.ConnectionToServerTimedOut, sslyze_errors.TlsHandshakeTimedOut)):
            return ProbeError(ErrorKind.TIMEOUT, Detail.CONNECT_TIMEOUT
                              if isinstance(item, sslyze_errors.ConnectionToServerTimedOut)
                              else Detail.STOPPED_ANSWERING)
        if isinstance(item, sslyze_errors.ServerRejectedConnection):
            return ProbeError(ErrorKind.REFUSED, Detail.REFUSED)
        if isinstance(item, sslyze_errors.TlsHandshakeFailed):
            return ProbeError(ErrorKind.TLS, f"TLS handshake failed: {item.error_message}")
        return ProbeError(ErrorKind.PROTOCOL, item.error_message)
    nassl = sys.modules.get("nassl._nassl")
    if nassl is not None and isinstance(item, nassl.OpenSSLError):
        return ProbeError(ErrorKind.TLS, f"TLS handshake failed: {item}")
    imaplib2 = sys.modules.get("imaplib2")
    if imaplib2 is not None and isinstance(item, imaplib2.IMAP4.error):
        # imaplib2's `abort` covers a response timeout, a BYE and a hang-up alike; the mail
        # probe tells a silence apart by what it observed (no byte for a step timeout)
        # before it gets here, and a socket-level cause its reader saw is mapped instead.
        return ProbeError(ErrorKind.PROTOCOL, f"IMAP: {str(item)[:512]}")
    return None


def _protocol_hint(item: BaseException) -> str:
    # h11's LocalProtocolError/RemoteProtocolError carry no subtype for "this was not a
    # status line"; the cause chain does (h11 raises it while parsing the first line).
    for cause in _chain(item):
        if type(cause).__name__ == "RemoteProtocolError" and type(cause).__module__.startswith("h11"):
            if getattr(cause, "error_status_hint", None) == 400:
                return " (no HTTP status line: another protocol, such as TLS, on this port?)"
    return ""


def probe_error(exc: BaseException) -> ProbeError:
    """Classify an exception raised while talking to a server, by its type."""
    watchdog = getattr(_watched, "watchdog", None)
    if watchdog is not None and watchdog.expired:
        # The connection was cut on purpose at the exchange's deadline (slowloris & co).
        return ProbeError(ErrorKind.TIMEOUT, watchdog.describe)
    chain = list(_chain(exc))
    for item in chain:
        if isinstance(item, ProbeFailure):
            return item.error
        if isinstance(item, ConnectTimedOut):  # under httpx's ConnectTimeout, too
            return ProbeError(ErrorKind.TIMEOUT, retried(Detail.CONNECT_TIMEOUT, item.attempts))
        if isinstance(item, ResolutionError):
            return ProbeError(ErrorKind.DNS, f"name not resolved: {item}")
        if isinstance(item, ConnectionRefusedError):
            return ProbeError(ErrorKind.REFUSED, Detail.REFUSED)
        if isinstance(item, ssl.SSLError):
            return tls_error(item)
        if isinstance(item, ConnectionResetError):
            return ProbeError(ErrorKind.RESET, Detail.RESET)
    for item in chain:
        if isinstance(item, (DeadlinePassed, HandshakeTimeout)):
            return ProbeError(ErrorKind.TIMEOUT, str(item))
        mapped_item = _third_party(item)
        if mapped_item is not None:
            return mapped_item
        if isinstance(item, TimeoutError):
            return ProbeError(ErrorKind.TIMEOUT, Detail.STOPPED_ANSWERING)
        if isinstance(item, OSError) and item.strerror:
            return ProbeError(ErrorKind.UNREACHABLE, item.strerror)
    text = str(exc) or type(exc).__name__
    if type(exc).__name__ == "ConnectError" and type(exc).__module__.startswith(("httpx", "httpcore")):
        return ProbeError(ErrorKind.UNREACHABLE, f"could not connect: {text}")
    return ProbeError(ErrorKind.ERROR, f"{type(exc).__name__}: {text}")


def is_timeout_type(kind: type[BaseException]) -> bool:
    """Whether an exception of this type means "no answer in time" (for tracebacks that keep
    only the type, as sslyze's scan attempts do)."""
    import sys

    timeouts: list[type[BaseException]] = [TimeoutError]
    for module, names in (("httpx", ("TimeoutException",)), ("httpcore", ("TimeoutException",)),
                          ("sslyze.errors", ("ConnectionToServerTimedOut", "TlsHandshakeTimedOut"))):
        loaded = sys.modules.get(module)
        if loaded is not None:
            timeouts += [getattr(loaded, name) for name in names]
    return issubclass(kind, tuple(timeouts))


def is_timeout(exc: BaseException) -> bool:
    """Whether `exc` or anything in its cause chain is a timeout, by type."""
    return any(is_timeout_type(type(item)) for item in _chain(exc))


class Mapped:
    """What `mapped()` caught: `error` is None until the block raised."""

    error: ProbeError | None = None


@contextmanager
def mapped() -> Iterator[Mapped]:
    """``with mapped() as failed: ...``; an exception in the block becomes ``failed.error``.

    `ScanStopped` (deadline, Ctrl-C) and BaseExceptions that are not Exceptions pass through.
    """
    from casaudit.probes.pacing import ScanStopped

    result = Mapped()
    try:
        yield result
    except ScanStopped:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes evidence
        result.error = probe_error(exc)


__all__ = [
    "ConnectTimedOut", "DeadlinePassed", "Detail", "ErrorKind", "HandshakeTimeout", "Mapped",
    "ProbeFailure", "ProtocolBroken", "TooLarge", "Watched", "is_timeout", "is_timeout_type", "mapped",
    "probe_error",
    "retried", "tls_error", "watch", "watched",
]
