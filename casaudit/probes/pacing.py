"""Pacing a scan: a per-host request rate, a per-host deadline, and cancellation.

`casaudit.probes.wire` calls ``context.pace()`` (see
`casaudit.probes.base.ProbeContext`) for every connection a probe opens
(`wire.connect`, which the HTTP client's backend uses too) and for every HTTP
request (`wire.http.exchange`; a request and the connection it opens share one
slot), so no probe calls it itself. sslyze's own connections during the TLS
scan do not go through the wire (see casaudit.probes.tls_scan). `pace()`:

- waits for the host's rate limit (``--rate``: requests per second per host, a
  token bucket holding one token, so requests are spaced evenly and never burst);
- raises `HostDeadlineExceeded` once the host's total deadline (``--deadline``) has
  passed, and `ScanCancelled` once the scan was cancelled (Ctrl-C).

A probe must let these two exceptions propagate (the wire raises them outside
any ``try`` that turns failures into evidence, and `errors.mapped` never maps
them), so the scan stops sending: a host whose deadline passed is reported as an
error entry (a single HOST exits 3 with one line), not half-assessed. Long steps
check the deadline inside them too: between redirect hops (each hop is a paced
request), between body chunks, and before each step of a mail dialogue.
"""

from __future__ import annotations

import threading
import time

from casaudit.errors import CasauditError

#: How often a waiting thread looks at the cancel flag, in seconds.
POLL_SECONDS = 0.1


class ScanStopped(CasauditError):
    """The scan of a host stopped before it finished."""


class HostDeadlineExceeded(ScanStopped):
    pass


class ScanCancelled(ScanStopped):
    pass


class Pacer:
    """Rate limit, deadline and cancel flag for one host's scan; thread-safe.

    Args:
        rate: requests per second for this host; None or 0 for no limit.
        deadline_seconds: total seconds the host's scan may take from now; None for none.
        cancel: set by whoever wants every scan to stop (the Ctrl-C handler).
    """

    def __init__(
        self,
        rate: float | None = None,
        deadline_seconds: float | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._deadline_seconds = deadline_seconds
        self._deadline = time.monotonic() + deadline_seconds if deadline_seconds else None
        self._cancel = cancel or threading.Event()
        self._lock = threading.Lock()
        #: Held by the one thread waiting for the next slot; the others queue behind it.
        self._gate = threading.Lock()
        self._next_slot = 0.0
        #: Requests paced so far (each `pace()` call that was let through).
        self.requests = 0

    def check(self) -> None:
        """Raise if the scan was cancelled or the deadline passed; else return at once."""
        if self._cancel.is_set():
            raise ScanCancelled("the scan was interrupted")
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise HostDeadlineExceeded(
                f"the host's scan did not finish within its deadline of {self._deadline_seconds:g} s"
            )

    def remaining(self) -> float | None:
        """Seconds left before the deadline, None without one."""
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def pace(self) -> None:
        """Wait for this host's next request slot; raise if cancelled or past the deadline.

        The next slot is one interval after the moment the previous one was taken,
        not after the moment it was due: a waiter the scheduler wakes late moves
        the following slots back, so no two requests ever leave less than an
        interval apart (a busy machine wakes threads tens of milliseconds late).
        """
        self.check()
        if self._interval:
            while not self._gate.acquire(timeout=POLL_SECONDS):
                self.check()
            try:
                while (wait := self._next_slot - time.monotonic()) > 0:
                    if self._cancel.wait(min(wait, POLL_SECONDS)):
                        break
                    self.check()
                self.check()
                self._next_slot = time.monotonic() + self._interval
            finally:
                self._gate.release()
        with self._lock:
            self.requests += 1
