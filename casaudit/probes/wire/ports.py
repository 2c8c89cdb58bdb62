"""The per-port breaker and the one paced connect every raw-socket probe uses.

`connect` is the only place a probe opens a TCP connection to the target (the
HTTP client's network backend calls it too). Before each new connection it

- consults the host's per-port breaker (`PortBreaker`): a port that stopped
  answering earlier in this scan is not tried again; `PortSkipped` says so at once;
- takes the host's pacing slot (``--rate``) unless the request it serves already
  took one (`take_slot`), and so checks the host's ``--deadline`` and Ctrl-C: past
  either, `casaudit.probes.pacing.ScanStopped` propagates (it is not evidence);
- applies the step timeout to the attempt and to the socket it returns.

A connection attempt that times out is retried once while the breaker lets it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from casaudit.model import ProbeError
from casaudit.probes.errors import ConnectTimedOut, ErrorKind, ProbeFailure

if TYPE_CHECKING:
    from casaudit.probes.base import ProbeContext

#: Addresses of one name tried in turn, at most.
MAX_ADDRESSES = 4
#: Timeouts without an answer in between after which a port is skipped for the rest of the scan:
#: the first one is retried once, and the retry failing the same way opens the breaker.
STRIKES_TO_OPEN = 2

PortKey = tuple[str, int]


class Silence(Enum):
    """Where a port failed to answer within the timeout."""

    CONNECT = "connect"  # no answer to the TCP connection attempt
    HANDSHAKE = "handshake"  # connected, no TLS handshake in time
    ANSWER = "answer"  # connected (and handshaken), no first answer in time


class PortSkipped(ProbeFailure):
    """The breaker is open for this port: the work was not tried."""


@dataclass
class _PortState:
    strikes: int = 0
    #: The port gave a complete answer (a response head, a greeting, a handshake) in this scan.
    answered: bool = False
    open: bool = False
    #: Timeouts counted when the breaker opened.
    timed_out: int = 0
    #: Attempts on the port under way right now.
    in_flight: int = 0


class PortBreaker:
    """Per host scan, keyed by (address, port); thread-safe.

    A port that failed to answer within the timeout gets one more try; when that
    try fails the same way, the breaker opens and later work on the port in the
    same scan is skipped at once (`guard` raises `PortSkipped`). Any answer closes
    it again and clears the count, so one slow answer does not condemn a port.

    The second try is whichever attempt on the port ends next: an attempt that
    timed out retries itself only when no other attempt on the port is under way
    (with eight requests in flight to a tarpit, the seven others are the retry).

    Silence after connecting (`Silence.ANSWER`) counts only on a port that has
    never answered in this scan: a server that answers most paths and hangs on a
    few (a filter that tarpits /EWS) keeps its other paths assessed. Silence at
    the connection or the handshake always counts, twice as many times on a port
    that answered earlier in the scan before the breaker opens.
    """

    def __init__(self, strikes_to_open: int = STRIKES_TO_OPEN) -> None:
        self._strikes_to_open = strikes_to_open
        self._ports: dict[PortKey, _PortState] = {}
        self._lock = threading.Lock()
        self._held = threading.local()

    def guard(self, key: PortKey) -> None:
        """Raise `PortSkipped` when the port stopped answering earlier in this scan."""
        with self._lock:
            state = self._ports.get(key)
            if state is None or not state.open:
                return
            count = state.timed_out
        raise PortSkipped(ProbeError(
            ErrorKind.SKIPPED,
            f"not tried: port {key[1]} stopped answering earlier in this scan "
            f"({count} attempts timed out)",
        ))

    @contextmanager
    def attempt(self, key: PortKey) -> Iterator[None]:
        """`guard`, then count the attempt as under way until the block ends (once per
        thread: the connection an exchange opens is part of the exchange's attempt)."""
        self.guard(key)
        held: set[PortKey] = self._held.__dict__.setdefault("keys", set())
        if key in held:
            yield
            return
        held.add(key)
        with self._lock:
            self._ports.setdefault(key, _PortState()).in_flight += 1
        try:
            yield
        finally:
            held.discard(key)
            with self._lock:
                self._ports[key].in_flight -= 1

    def is_open(self, key: PortKey) -> bool:
        with self._lock:
            state = self._ports.get(key)
            return state is not None and state.open

    def answered(self, key: PortKey) -> None:
        with self._lock:
            state = self._ports.setdefault(key, _PortState())
            state.answered, state.strikes, state.open = True, 0, False

    def silent(self, key: PortKey, where: Silence) -> bool:
        """Record a timeout (after its attempt ended); True when the caller should retry once:
        it counted, the breaker is still closed, and no other attempt on the port is under way."""
        with self._lock:
            state = self._ports.setdefault(key, _PortState())
            if where is Silence.ANSWER and state.answered:
                return False
            state.strikes += 1
            # A port that answered earlier in this scan and is only slow now (a loaded
            # server, eight requests at once) gets twice the strikes before it is given up.
            needed = self._strikes_to_open * (2 if state.answered else 1)
            if state.strikes >= needed:
                state.open, state.timed_out = True, state.strikes
                return False
            mine = key in self._held.__dict__.get("keys", ())
            return state.in_flight - (1 if mine else 0) == 0


# --------------------------------------------------------------------------- pacing slots

_slot = threading.local()


def take_slot(context: ProbeContext) -> None:
    """Pace one request (``--rate``); the connection it opens, if any, uses the same slot.

    Raises `ScanStopped` past the host's deadline or on Ctrl-C: let it propagate.
    """
    context.pace()
    _slot.held = True


def release_slot() -> None:
    """The request is done: a later connection on this thread needs a slot of its own."""
    _slot.held = False


def _pace_connection(context: ProbeContext) -> None:
    if getattr(_slot, "held", False):
        _slot.held = False  # one request, one connection: one slot
        return
    context.pace()


# --------------------------------------------------------------------------- connect


@dataclass(frozen=True)
class Connected:
    sock: socket.socket
    address: str
    port: int

    @property
    def key(self) -> PortKey:
        return (self.address, self.port)

    @property
    def peer(self) -> str:
        shown = f"[{self.address}]" if ":" in self.address else self.address
        return f"{shown}:{self.port}"


def port_key(context: ProbeContext, host: str, port: int) -> PortKey:
    """The breaker's key for work on `host`:`port`: its first resolved address (raises on DNS)."""
    return (context.resolver.resolve(host)[0], port)


def connect(context: ProbeContext, host: str, port: int, timeout: float | None = None) -> Connected:
    """A TCP connection to the first address of `host` (the scan's resolver) that answers.

    Each attempt is guarded by the breaker and paced; one that times out is retried
    once while the breaker lets it. Raises what the last attempt raised (OSError,
    TimeoutError, `ResolutionError`, `PortSkipped`) or `ScanStopped`.
    """
    step = context.timeout if timeout is None else timeout
    failure: BaseException | None = None
    for address in context.resolver.resolve(host)[:MAX_ADDRESSES]:
        key = (address, port)
        for attempt in (1, 2):
            context.breaker.guard(key)
            _pace_connection(context)
            try:
                with context.breaker.attempt(key):
                    sock = socket.create_connection((address, port), timeout=step)
            except TimeoutError:
                failure = ConnectTimedOut(attempt)
                if context.breaker.silent(key, Silence.CONNECT):
                    continue  # one retry
                break
            except OSError as exc:
                failure = exc
                break
            sock.settimeout(step)
            return Connected(sock, address, port)
    if failure is None:
        raise OSError("no address to connect to")
    raise failure


__all__ = [
    "Connected", "PortBreaker", "PortKey", "PortSkipped", "Silence", "connect", "port_key",
    "release_slot", "take_slot",
]
