"""TLS posture of every Client Access TLS service, with sslyze as a library.

One sslyze `Scanner` runs every service concurrently: HTTPS, IMAPS, POP3S and
STARTTLS on IMAP and POP3 for the host, plus HTTPS for autodiscover.<domain>
and <domain> when they resolve. Each distinct (address, port, SNI name) is
scanned once; a second name on a service already scanned in full (same address
and port) is scanned for its certificate only, since only the name check
differs. Only the scan commands the `tls.*` checks read are run.

sslyze connects to the address the scan's resolver gives (so --resolve and
--dns-server apply) and sends the name as SNI. The certificate chain is then
described with `cryptography`: which certificates were sent, their keys,
signatures and dates, and whether they chain to the system trust store or
--ca-file. A service that is closed, silent or not TLS becomes evidence.

Every connection counts against the host's ``--rate`` and ``--deadline``: each
pre-handshake is paced like any probe's connection, and sslyze's own through
`casaudit.probes.tls_pacing`.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from casaudit.evidence.base import ProbeError
from casaudit.evidence.tls import TlsEvidence
from casaudit.plan import TlsServiceTask, plan_tls
from casaudit.probes.base import ProbeContext
from casaudit.probes.common import now
from casaudit.probes.tls_preflight import attempt
from casaudit.resolve import ResolutionError

#: How long closing the probe waits for that import to end.
_IMPORT_WAIT_SECONDS = 30.0
#: The sslyze half of the probe (casaudit.probes.tls_scan), imported in the background.
_SCANNER_MODULE = "casaudit.probes.tls_scan"


@dataclass(frozen=True)
class TlsBatch:
    """Every TLS service of the scan: one task, so one sslyze Scanner runs them all at once."""

    services: tuple[TlsServiceTask, ...]


@dataclass(frozen=True)
class Planned:
    """One (address, port, SNI name) to scan: in full, or for its certificate only."""

    task: TlsServiceTask
    address: str
    scope: str


def failed_evidence(
    context: ProbeContext,
    service: TlsServiceTask,
    address: str | None,
    scope: str,
    commands: tuple[str, ...],
    started: str,
    error: ProbeError,
    starttls_offered: bool | None = None,
) -> TlsEvidence:
    return TlsEvidence(
        id=service.evidence_id, endpoint=service.endpoint, service=service.service,
        host=service.host, name_role=service.name_role, port=service.port, address=address,
        starttls=service.starttls, features=service.features, scope=scope,
        scan_commands=commands, started_at=started, finished_at=now(),
        expiry_warning_days=context.cert_expiry_days, error=error,
        starttls_offered=starttls_offered if service.starttls else None,
    )


def _prepare_in_background(context: ProbeContext) -> Future[Any]:
    """Import the sslyze half and parse its trust stores on a thread of its own."""
    future: Future[Any] = Future()

    def load() -> None:
        try:
            future.set_result(importlib.import_module(_SCANNER_MODULE).prepare(context))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for it
            future.set_exception(exc)

    threading.Thread(target=load, name="tls-import", daemon=True).start()
    return future


class TlsProbe:
    """Runs sslyze once for every TLS service of the target; `run` takes the whole batch."""

    def __init__(self, context: ProbeContext) -> None:
        self._context = context
        # Start importing sslyze now: it overlaps resolution and the pre-handshakes.
        self._scanner = _prepare_in_background(context)

    def tasks(self) -> list[TlsBatch]:
        return [TlsBatch(tuple(plan_tls(self._context.target)))]

    def close(self) -> None:
        # A scan where nothing answered ends before sslyze has finished importing; an
        # interpreter that exits under a thread still loading a C extension aborts
        # ("FATAL: exception not rethrown"), so the import is waited for, bounded.
        with contextlib.suppress(Exception):
            self._scanner.exception(timeout=_IMPORT_WAIT_SECONDS)

    def run(self, task: TlsBatch) -> list[TlsEvidence]:
        started = now()
        evidence: dict[str, TlsEvidence] = {}
        planned: list[Planned] = []
        full_scans: set[tuple[str, int]] = set()
        seen: set[tuple[str, int, str]] = set()
        # Primary (host) services first, so another name on the same address and port
        # knows the service itself is already scanned in full.
        ordered = sorted(task.services, key=lambda service: not service.primary)
        names = list(dict.fromkeys(service.host for service in ordered))
        with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="tls-dns") as pool:
            resolved = dict(zip(names, pool.map(self._resolve, names), strict=True))
        for service in ordered:
            try:
                address = resolved[service.host]
                if isinstance(address, ResolutionError):
                    raise address
            except ResolutionError as exc:
                evidence[service.evidence_id] = self._failed_evidence(
                    service, None, "certificate", (), started,
                    ProbeError("dns", f"name not resolved: {exc}"),
                )
                continue
            key = (address, service.port, service.host)
            if key in seen:
                continue
            seen.add(key)
            full = service.primary or (address, service.port) not in full_scans
            if full:
                full_scans.add((address, service.port))
            planned.append(Planned(service, address, "full" if full else "certificate"))
        planned = self._preflight(planned, evidence, started)
        if planned:
            # sslyze has been importing on its own thread since the probe was made.
            evidence.update(self._scanner.result().run(planned, started))
        return [evidence[s.evidence_id] for s in task.services if s.evidence_id in evidence]

    def _preflight(
        self, planned: list[Planned], evidence: dict[str, TlsEvidence], started: str
    ) -> list[Planned]:
        """Only services that finish a bounded handshake of our own go on to sslyze."""
        if not planned:
            return planned
        timeout = self._context.timeout
        with ThreadPoolExecutor(max_workers=len(planned), thread_name_prefix="tls-pre") as pool:
            results = list(pool.map(
                lambda item: attempt(item.address, item.task.port, item.task.host,
                                     item.task.starttls, timeout, self._context),
                planned,
            ))
        ready = []
        for item, result in zip(planned, results, strict=True):
            if result.error is None:
                ready.append(item)
            else:
                evidence[item.task.evidence_id] = failed_evidence(
                    self._context, item.task, item.address, item.scope, (), started,
                    result.error, result.starttls_offered)
        return ready

    def _resolve(self, name: str) -> str | ResolutionError:
        try:
            return self._context.resolver.resolve(name)[0]
        except ResolutionError as exc:
            return exc

    def _failed_evidence(self, service: TlsServiceTask, address: str | None, scope: str,
                         commands: tuple[str, ...], started: str, error: ProbeError) -> TlsEvidence:
        return failed_evidence(self._context, service, address, scope, commands, started, error)


__all__ = ["Planned", "TlsBatch", "TlsProbe", "failed_evidence"]
