"""One place that turns socket, ssl, DNS and httpx failures into `ProbeError`.

An auditor's tool must not read a swallowed exception as a pass, and must keep
"refused" (the port is closed: evidence) apart from "timeout" (unknown).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from typing import Protocol

import httpcore
import httpx

from casaudit.evidence.base import ProbeError
from casaudit.probes.common import tls_error
from casaudit.resolve import ResolutionError

_watched = threading.local()


class _Expirable(Protocol):
    expired: bool

    @property
    def describe(self) -> str: ...


def watch(watchdog: _Expirable) -> None:
    """Remember this thread's current exchange deadline, so a failure it caused reads as one."""
    _watched.watchdog = watchdog


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def probe_error(exc: BaseException) -> ProbeError:
    """Classify an exception raised while talking to a server."""
    watchdog = getattr(_watched, "watchdog", None)
    if watchdog is not None and watchdog.expired:
        # The connection was cut on purpose at the exchange's deadline (slowloris & co).
        return ProbeError("timeout", watchdog.describe)
    chain = list(_chain(exc))
    for item in chain:
        if isinstance(item, ResolutionError):
            return ProbeError("dns", f"name not resolved: {item}")
        if isinstance(item, ConnectionRefusedError):
            return ProbeError("refused", "connection refused: nothing listens on this port")
        if isinstance(item, ssl.SSLError):
            return tls_error(item)
        if isinstance(item, ConnectionResetError):
            return ProbeError("reset", "the server reset the connection")
    for item in chain:
        if isinstance(item, (httpx.ConnectTimeout, httpcore.ConnectTimeout)):
            return ProbeError("timeout", "no answer to the connection attempt in time (filtered?)")
        if isinstance(item, (httpx.TimeoutException, httpcore.TimeoutException, TimeoutError)):
            return ProbeError("timeout", "the server stopped answering in time")
        if isinstance(item, (httpx.RemoteProtocolError, httpcore.RemoteProtocolError)):
            hint = (" (no HTTP status line: another protocol, such as TLS, on this port?)"
                    if "illegal request line" in str(item) or "illegal status line" in str(item) else "")
            return ProbeError("protocol", f"the server broke the HTTP protocol: {item}{hint}")
        if isinstance(item, OSError) and item.strerror:
            return ProbeError("unreachable", item.strerror)
    text = str(exc) or type(exc).__name__
    if isinstance(exc, (httpx.ConnectError, httpcore.ConnectError)):
        return ProbeError("unreachable", f"could not connect: {text}")
    return ProbeError("error", f"{type(exc).__name__}: {text}")
