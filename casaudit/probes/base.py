"""What every probe family shares: its context and its interface.

A probe family (HTTP, TLS, mail, Autodiscover...) is built once per scan from a
`ProbeContext`, lists its tasks (invented by casaudit.plan), and runs each task
in the scan's bounded pool, returning evidence. It never judges what it saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from casaudit.credentials import Credentials
from casaudit.plan import Scope, Target
from casaudit.probes.pacing import Pacer
from casaudit.probes.wire.ports import PortBreaker
from casaudit.resolve import Resolver


@dataclass(frozen=True)
class ProbeContext:
    target: Target
    scope: Scope
    resolver: Resolver
    #: Seconds allowed for each network step.
    timeout: float
    #: Connections the scan may hold open to the host at once.
    concurrency: int
    #: Extra CA certificates the user trusts (PEM), if any.
    ca_file: Path | None = None
    #: Authenticated mode (--authenticated): the mailbox credentials, else None.
    credentials: Credentials | None = field(default=None, repr=False)
    #: Days before a certificate's expiry from which tls.cert_expiring warns (--cert-expiry-days).
    cert_expiry_days: int = 30
    #: The host's rate limit, deadline and cancel flag; probes reach it through `pace()`.
    pacer: Pacer = field(default_factory=Pacer)
    #: The host's per-port breaker: ports that stopped answering in this scan are skipped.
    breaker: PortBreaker = field(default_factory=PortBreaker)

    def pace(self) -> None:
        """The host's next request slot; `casaudit.probes.wire` calls it for every connection
        and request, so a probe never needs to.

        Waits for the per-host rate limit (``--rate``) and raises
        `casaudit.probes.pacing.ScanStopped` when the host's deadline has passed or
        the scan was cancelled (Ctrl-C): let it propagate, it is not evidence.
        """
        self.pacer.pace()


class Probe(Protocol):
    def tasks(self) -> Sequence[Any]:
        """The units of work, in a stable order (evidence ids derive from it)."""
        ...

    def run(self, task: Any) -> Sequence[Any]:
        """Do one task's network I/O; failures become evidence, never exceptions."""
        ...

    def close(self) -> None: ...


ProbeFactory = Callable[[ProbeContext], Probe]
