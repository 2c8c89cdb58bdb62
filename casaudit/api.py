"""audit(target, options, observer) -> AuditResult: the whole scan, without the CLI.

Order: resolve the target (a scan that cannot resolve its host cannot run),
plan the probes, run them in a bounded pool, evaluate every check over the
evidence, judge the recommendations.
"""

from __future__ import annotations

import functools
import ssl
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from casaudit import __version__
from casaudit.assessment import gate, set_aside_for_no_exchange
from casaudit.catalog import Check, load_checks
from casaudit.credentials import Credentials
from casaudit.currency import vintage
from casaudit.errors import TargetError, UsageError
from casaudit.evidence.base import EvidenceSet
from casaudit.identify import NO_EXCHANGE_HERE, NOT_EXCHANGE, exchange_verdict
from casaudit.model import AuditResult, CheckResult, CheckStatus, Finding, TargetInfo
from casaudit.plan import Scope, Target
from casaudit.probes import PROBE_FACTORIES, ProbeContext, family
from casaudit.probes.base import Probe
from casaudit.probes.common import now
from casaudit.probes.pacing import POLL_SECONDS, Pacer
from casaudit.recommendations import judge
from casaudit.resolve import ResolutionError, Resolver


@dataclass(frozen=True)
class ScanOptions:
    pins: Mapping[str, str] = field(default_factory=dict)
    dns_server: tuple[str, int] | None = None
    ca_file: Path | None = None
    timeout: float = 10.0
    concurrency: int = 8
    #: Authenticated Autodiscover (--authenticated); never recorded, never printed.
    credentials: Credentials | None = field(default=None, repr=False)
    #: Warn about certificates expiring within this many days (tls.cert_expiring).
    cert_expiry_days: int = 30
    #: Probe families to run (e.g. ("tls",)); empty: every family.
    probes: tuple[str, ...] = ()
    #: Requests per second to this host (casaudit.probes.pacing); None: no limit.
    rate: float | None = None
    #: Total seconds the host's scan may take; past it audit() raises HostDeadlineExceeded.
    deadline: float | None = None

    def public(self) -> dict[str, Any]:
        """The options as recorded in the report: everything here, never a secret."""
        return {
            "authenticated": self.credentials is not None,
            "resolve": [f"{name}:{addr}" for name, addr in self.pins.items()],
            "dns_server": f"{self.dns_server[0]}:{self.dns_server[1]}" if self.dns_server else None,
            "ca_file": str(self.ca_file) if self.ca_file else None,
            "timeout": self.timeout,
            "concurrency": self.concurrency,
            "cert_expiry_days": self.cert_expiry_days,
            "probes": list(self.probes) or None,
        }


class Observer(Protocol):
    """Progress callbacks; the CLI draws a progress bar from them."""

    def planned(self, total: int) -> None: ...

    def finished(self, evidence: Any) -> None: ...


class _Silent:
    def planned(self, total: int) -> None:
        pass

    def finished(self, evidence: Any) -> None:
        pass


def check_ca_file(path: Path) -> None:
    """An unreadable or non-PEM CA file stops the scan before any traffic."""
    try:
        stat = path.stat()
    except OSError:
        stat = None
    _check_ca_file(path, stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)


@functools.lru_cache(maxsize=64)
def _check_ca_file(path: Path, mtime_ns: int, size: int) -> None:
    # Cached by path, time and size: a fleet scan shares one CA file across its hosts.
    # The targets file reuses these messages after "--ca-file ": keep that prefix.
    named = f"--ca-file {str(path)!r}"
    if path.is_dir():
        raise UsageError(f"{named}: is a directory, not a PEM file")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(path))
    except FileNotFoundError:
        raise UsageError(f"{named}: no such file") from None
    except ssl.SSLError as exc:
        if exc.reason == "NO_CERTIFICATE_OR_CRL_FOUND":  # empty, /dev/null, not PEM at all
            raise UsageError(f"{named}: contains no PEM certificate") from None
        raise UsageError(
            f"{named}: not a readable PEM file of CA certificates ({exc.reason or exc})") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"{named}: cannot be read ({reason})") from None


def scanning_machine() -> str:
    """The name of the machine the scan ran from: where the report's observations were made."""
    import socket

    return socket.gethostname()[:255] or "unknown"


def audit(
    target: Target,
    options: ScanOptions,
    observer: Observer | None = None,
    cancel: threading.Event | None = None,
) -> AuditResult:
    """Scan one host. Raises TargetError, or ScanStopped past `options.deadline` or once
    `cancel` is set (the fleet runner's Ctrl-C)."""
    observer = observer or _Silent()
    started = now()
    pacer = Pacer(options.rate, options.deadline, cancel)
    if options.ca_file is not None:
        check_ca_file(options.ca_file)
    resolver = Resolver(options.pins, options.dns_server, timeout=options.timeout)
    try:
        addresses = resolver.resolve(target.host)
    except ResolutionError as exc:
        raise TargetError(
            f"cannot resolve {target.host}: {exc}",
            tip="pin it with --resolve NAME:ADDR or ask another server with --dns-server",
        ) from None
    pacer.check()

    context = ProbeContext(
        target=target,
        scope=Scope.of(target),
        resolver=resolver,
        timeout=options.timeout,
        concurrency=options.concurrency,
        ca_file=options.ca_file,
        credentials=options.credentials,
        cert_expiry_days=options.cert_expiry_days,
        pacer=pacer,
    )
    probes: list[Probe] = []
    try:
        for factory in PROBE_FACTORIES:
            if options.probes and family(factory) not in options.probes:
                continue
            probes.append(factory(context))
        jobs = [(probe, task) for probe in probes for task in probe.tasks()]
        observer.planned(len(jobs))
        evidence = _run_bounded(jobs, options.concurrency, observer, pacer)
    finally:
        for probe in probes:
            probe.close()

    evidence_set = EvidenceSet(tuple(evidence))
    check_rows, findings = evaluate(evidence_set, load_checks(), host=target.host, domain=target.domain)
    return AuditResult(
        tool={"name": "casaudit", "version": __version__, "scanned_from": scanning_machine(),
              "build_table_as_of": str(vintage().as_of)},
        started_at=started,
        finished_at=now(),
        options=options.public(),
        targets=(
            TargetInfo(
                host=target.host,
                domain=target.domain,
                addresses=addresses,
                resolution=resolver.how(target.host),
                ports=dict(target.ports),
            ),
        ),
        evidence=evidence_set,
        checks=check_rows,
        findings=findings,
        recommendations=judge(check_rows, findings, options.probes),
    )


def _run_bounded(
    jobs: Sequence[tuple[Probe, Any]], concurrency: int, observer: Observer, pacer: Pacer | None = None
) -> list[Any]:
    """Run every job in one bounded pool; evidence comes back in plan order.

    Past the pacer's deadline or on cancel, queued jobs are dropped and
    ScanStopped propagates at once; running jobs end at their next `pace()` or
    step timeout, in threads nobody waits for.
    """
    pacer = pacer or Pacer()
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="probe")
    stopped = True
    try:
        futures = [pool.submit(probe.run, task) for probe, task in jobs]
        pending = set(futures)
        while pending:
            pacer.check()
            remaining = pacer.remaining()
            slice_ = POLL_SECONDS if remaining is None else min(POLL_SECONDS, remaining)
            done, pending = wait(pending, timeout=slice_, return_when=FIRST_COMPLETED)
            for future in done:
                observer.finished(future.result())
        stopped = False
    finally:
        pool.shutdown(wait=not stopped, cancel_futures=True)
    results: list[Any] = []
    for future in futures:
        results.extend(future.result())
    return results


def evaluate(
    evidence: EvidenceSet, checks: Iterable[Check], host: str | None = None,
    domain: str | None = None,
) -> tuple[tuple[CheckResult, ...], tuple[Finding, ...]]:
    """Apply every check; a check that breaks is an `error` row, never a silent pass.

    With `host`, the rows then go through `assessment.gate`: on a host where
    nothing answered, no row passes or fails on silence; and on a host that
    answered but is not Exchange, its Exchange-specific rows are not applicable
    and what stays is worded as a fact about the mail domain `domain`.
    Findings are the failed rows that remain.
    """
    rows: list[CheckResult] = []
    observed_by_row: dict[int, tuple[Check, str]] = {}
    for check in checks:
        meta = check.meta
        try:
            outcomes = list(check.evaluate(evidence))
        except Exception as exc:  # noqa: BLE001 - reported as the check's own error row
            rows.append(CheckResult(
                meta.id, "*", CheckStatus.ERROR,
                f"the check failed: {type(exc).__name__}: {exc}", meta.severity,
                meta.recommendations,
            ))
            continue
        for outcome in outcomes:
            recommendations = tuple(dict.fromkeys(meta.recommendations + outcome.recommendations))
            row = CheckResult(
                meta.id, outcome.endpoint, outcome.status, outcome.reason,
                outcome.severity or meta.severity, recommendations, outcome.evidence,
            )
            observed_by_row[len(rows)] = (check, outcome.observed or outcome.reason)
            rows.append(row)
    if host is not None:
        rows = list(gate(rows, evidence, host))
        verdict = exchange_verdict(evidence, host)
        if verdict.verdict == NOT_EXCHANGE:
            rows = list(set_aside_for_no_exchange(rows, host, NO_EXCHANGE_HERE))
            # What stands is about the mail domain; its text must not read as an Exchange server's.
            about = f"About the mail domain {domain or host}, not an Exchange server"
            observed_by_row = {
                index: (check, f"{about}: {observed}")
                for index, (check, observed) in observed_by_row.items()
            }
    failed = [
        (observed_by_row[index][0], row, observed_by_row[index][1])
        for index, row in enumerate(rows) if row.status is CheckStatus.FAIL
    ]
    failed.sort(key=lambda item: (-item[1].severity.rank, item[1].check, item[1].endpoint))
    findings = tuple(
        Finding(
            id=f"F{number:03d}",
            check=row.check,
            title=check.meta.title,
            severity=row.severity,
            endpoint=row.endpoint,
            recommendations=row.recommendations,
            evidence=row.evidence,
            observed=observed,
            description=check.meta.description,
            remediation=check.meta.remediation,
            references=check.meta.references,
            effort=check.meta.effort,
        )
        for number, (check, row, observed) in enumerate(failed, start=1)
    )
    return tuple(rows), findings
