"""Every TCP connection a lab's listeners accepted, and when: the server's view of ``--rate``.

An IPS in front of a real server counts new connections per source, whichever
protocol they carry; so does this log. Each HTTP, HTTPS, POP3 and IMAP4
listener of a lab (OpenSSL or tlslite-ng, implicit TLS or STARTTLS) records the
``time.monotonic()`` at which ``accept()`` handed it a connection, before any
byte is read or any handshake starts, so a test can check a scan's pace from
the server's side (`busiest_window`) rather than trusting the scanner's own
account. A connection refused by a closed port never reaches an ``accept()``
and is not counted; a listener served by tlslite-ng accepts only while one of
its few client slots is free, so under load its times can lag the client's.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class AcceptedConnection:
    """One connection as a listener accepted it."""

    #: ``time.monotonic()`` when ``accept()`` returned it (same clock as the scanner's pacer).
    at: float
    #: The listener's service: "http", "https", "pop3", "pop3s", "imap" or "imaps".
    service: str
    #: The port the listener is bound to.
    port: int


class ConnectionLog:
    """Accepted connections of every listener of one lab, in order, bounded, thread-safe."""

    MAX_ENTRIES = 100_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[AcceptedConnection] = []

    def record(self, service: str, port: int) -> None:
        """Called by a listener right after ``accept()`` returns."""
        entry = AcceptedConnection(time.monotonic(), service, port)
        with self._lock:
            if len(self._entries) < self.MAX_ENTRIES:
                self._entries.append(entry)

    def entries(self) -> list[AcceptedConnection]:
        with self._lock:
            return sorted(self._entries, key=lambda entry: entry.at)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def busiest_window(times: Iterable[float], seconds: float = 1.0) -> int:
    """The most events in any closed window of `seconds` (a sliding window, not buckets).

    Ten connections a second evenly spaced give 11 in a closed one-second window
    (at 0.0, 0.1, ... 1.0), which is why the bound of ``--rate 10`` is 11.
    """
    ordered = sorted(times)
    return max(
        (bisect.bisect_right(ordered, start + seconds) - index for index, start in enumerate(ordered)),
        default=0,
    )


__all__ = ["AcceptedConnection", "ConnectionLog", "busiest_window"]
