"""The per-host pacer: spacing that survives late wake-ups, deadline and cancel while waiting."""

from __future__ import annotations

import threading
import time

import pytest

from casaudit.probes.pacing import HostDeadlineExceeded, Pacer, ScanCancelled


class _LateFirstWake(threading.Event):
    """A cancel flag whose first timed wait oversleeps, as a busy machine's scheduler does."""

    def __init__(self, late: float) -> None:
        super().__init__()
        self._late = late
        self._first = True
        self._guard = threading.Lock()

    def wait(self, timeout: float | None = None) -> bool:
        with self._guard:
            late, self._first = (self._late if self._first else 0.0), False
        result = super().wait(timeout)
        time.sleep(late)
        return result


def _pace_in_threads(pacer: Pacer, threads: int, calls: int) -> list[float]:
    times: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(calls):
            pacer.pace()
            with lock:
                times.append(time.monotonic())

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sorted(times)


def test_a_late_waiter_pushes_the_next_slot_back_instead_of_a_burst() -> None:
    # Given 10 requests a second, and a waiter woken 80 ms late
    pacer = Pacer(rate=10, cancel=_LateFirstWake(0.08))
    # When four threads ask for slots at once
    times = _pace_in_threads(pacer, threads=4, calls=2)
    # Then no two requests left less than an interval apart (bar the clock reading's own jitter)
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert len(times) == 8 and pacer.requests == 8
    assert min(gaps) >= 0.1 - 0.01, gaps


def test_without_a_rate_nothing_waits() -> None:
    pacer = Pacer()
    started = time.monotonic()
    _pace_in_threads(pacer, threads=4, calls=25)
    assert time.monotonic() - started < 0.5
    assert pacer.requests == 100


def test_the_deadline_ends_a_wait_in_the_queue() -> None:
    # Given one request a second and a deadline 0.5 s away, a slot already taken
    pacer = Pacer(rate=1, deadline_seconds=0.5)
    pacer.pace()
    started = time.monotonic()
    # When the next waits, it is stopped at the deadline, not at its slot
    with pytest.raises(HostDeadlineExceeded):
        pacer.pace()
    assert time.monotonic() - started < 0.5 + 0.3


def test_cancel_ends_every_waiter_and_frees_the_queue() -> None:
    # Given one request a second, a slot taken, and three threads waiting (one for the
    # slot, two behind it)
    cancel = threading.Event()
    pacer = Pacer(rate=1, cancel=cancel)
    pacer.pace()
    outcomes: list[str] = []

    def wait() -> None:
        try:
            pacer.pace()
            outcomes.append("paced")
        except ScanCancelled:
            outcomes.append("cancelled")

    waiters = [threading.Thread(target=wait) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.2)
    # When the scan is cancelled, every waiter stops within a poll or two
    started = time.monotonic()
    cancel.set()
    for waiter in waiters:
        waiter.join(timeout=2)
    assert time.monotonic() - started < 0.5
    assert outcomes == ["cancelled"] * 3
