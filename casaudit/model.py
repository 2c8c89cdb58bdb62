"""The typed records of judging: check metadata and outcomes, findings, verdicts, the scan.

Data flows one way: probes produce evidence (`casaudit.evidence`, every evidence
type's one home), checks turn evidence into outcomes, the engine turns failed
outcomes into findings, renderers only render. Every record here is a frozen
dataclass that serialises to the `casaudit.scan/1` JSON contract with
`to_dict()`; there is no second model for JSON.

The evidence names this module used to define (`ProbeError`, `HttpExchange`,
`HttpEvidence`, `LogonForm`, `EvidenceSet`, `Evidence`) are re-exported for
code written against the old path; new code imports them from `casaudit.evidence`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from casaudit.evidence.base import Evidence, EvidenceSet, ProbeError
from casaudit.evidence.http import HttpEvidence, HttpExchange, LogonForm

SCHEMA = "casaudit.scan/1"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse; used for sorting and for --fail-on."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class Effort(StrEnum):
    """Roughly what fixing a check's failure takes, for ordering a to-do list (not a promise)."""

    LOW = "low"  # a setting or a firewall rule: minutes, nothing for clients to change
    MEDIUM = "medium"  # a planned change: a certificate, DNS, a patch, clients to test
    HIGH = "high"  # a project: an upgrade or a migration


EFFORT_MEANING = {
    Effort.LOW: "a setting or a firewall rule",
    Effort.MEDIUM: "a planned change (certificate, DNS, patch, client testing)",
    Effort.HIGH: "a project (upgrade or migration)",
}


class CheckStatus(StrEnum):
    """What one check concluded on one endpoint (docs/verdicts.md is the rule book).

    `pass` and `fail` each need an observation of the thing the check is about;
    silence is never either.
    """

    PASS = "pass"
    FAIL = "fail"
    #: The subject is observably absent (port refused, URL not found, STARTTLS not
    #: offered, no Exchange on the host): there is nothing to judge.
    NOT_APPLICABLE = "not_applicable"
    #: Could not tell: timeout, reset, TLS failure, 5xx or an answer the check cannot read.
    NOT_ASSESSED = "not_assessed"
    #: The check itself broke on this evidence; reported, never silently read as a pass.
    ERROR = "error"


class Verdict(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    PARTIAL = "partial"
    #: Nothing the recommendation is about exists on the host.
    NOT_APPLICABLE = "not_applicable"
    NOT_ASSESSED = "not_assessed"


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class CheckMeta:
    """A check's catalog entry: what it judges, how bad a failure is, how to fix it.

    `severity_rationale` justifies the severity in the catalog, so a reader can
    disagree with the reasoning rather than with a bare label.
    """

    id: str
    title: str
    severity: Severity
    recommendations: tuple[str, ...]
    description: str
    remediation: str
    severity_rationale: str = ""
    references: tuple[str, ...] = ()
    #: The check asks whether something is reachable or visible from outside (POP3 on
    #: 110, /ecp, an internal address in a header): a refused port or a 404 is then the
    #: observation itself and may pass. Every other check judges a property of a service
    #: and is not applicable where it is absent.
    exposure: bool = False
    #: What fixing a failure usually takes (every shipped check says; the catalog test pins it).
    effort: Effort | None = None


@dataclass(frozen=True)
class Outcome:
    """A check's verdict on one endpoint.

    `recommendations` adds endpoint-specific ids to the check's own (Basic on
    /owa touches CAS-04, on ActiveSync CAS-01). `observed` is one plain
    sentence of what was seen, for the finding.
    """

    endpoint: str
    status: CheckStatus
    reason: str
    evidence: tuple[str, ...] = ()
    recommendations: tuple[str, ...] = ()
    observed: str = ""
    #: Overrides the check's severity for this endpoint (e.g. info rather than low
    #: for a service reachable only over implicit TLS); the catalog explains when.
    severity: Severity | None = None


@dataclass(frozen=True)
class CheckResult:
    """One row of `checks[]`: a check applied to one endpoint."""

    check: str
    endpoint: str
    status: CheckStatus
    reason: str
    severity: Severity
    recommendations: tuple[str, ...]
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Acceptance:
    """Why a finding is accepted (from a baseline file) and until when.

    An accepted finding stays in the report but does not count for the exit code.
    """

    justification: str
    #: ISO date (YYYY-MM-DD): the acceptance holds through that day, UTC.
    expires: str


@dataclass(frozen=True)
class Finding:
    """A failed check on one endpoint, with everything a reader needs to act."""

    id: str
    check: str
    title: str
    severity: Severity
    endpoint: str
    recommendations: tuple[str, ...]
    evidence: tuple[str, ...]
    observed: str
    description: str
    remediation: str
    references: tuple[str, ...] = ()
    #: Set when a baseline file accepts this finding (casaudit.baseline); None otherwise.
    accepted: Acceptance | None = None
    #: The check's effort (CheckMeta.effort): what fixing it usually takes.
    effort: Effort | None = None


@dataclass(frozen=True)
class RecommendationVerdict:
    id: str
    title: str
    section: str
    verdict: Verdict
    reason: str
    findings: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    #: The cited check rows counted by status (every status present, zeros included).
    coverage: Mapping[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- the scan


@dataclass(frozen=True)
class TargetInfo:
    """The audited host as resolved for this scan."""

    host: str
    domain: str
    addresses: tuple[str, ...]
    resolution: str
    ports: Mapping[str, int]


@dataclass(frozen=True)
class AuditResult:
    tool: Mapping[str, str]
    started_at: str
    finished_at: str
    options: Mapping[str, Any]
    targets: tuple[TargetInfo, ...]
    evidence: EvidenceSet
    checks: tuple[CheckResult, ...]
    findings: tuple[Finding, ...]
    recommendations: tuple[RecommendationVerdict, ...]

    def worst_severity(self) -> Severity | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=lambda s: s.rank)

    def to_dict(self) -> dict[str, Any]:
        from casaudit.assessment import host_answered, status_counts, summarise
        from casaudit.identify import NOT_EXCHANGE, exchange_verdict, identification_record, identify

        counts = {severity.value: 0 for severity in Severity}
        for finding in self.findings:
            counts[finding.severity.value] += 1
        host = self.targets[0].host if self.targets else None
        identified = identify(self.evidence)
        verdicts = {i.host: exchange_verdict(self.evidence, i.host) for i in identified}
        not_exchange = host is not None and host in verdicts and verdicts[host].verdict == NOT_EXCHANGE
        summary = summarise(self.checks, self.findings, host_answered(self.evidence, host),
                            not_exchange)
        return {
            "schema": SCHEMA,
            "tool": dict(self.tool),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "options": to_jsonable(self.options),
            "targets": [to_jsonable(t) for t in self.targets],
            "summary": {
                "status": summary.status,
                "status_reason": summary.status_reason,
                "headline": to_jsonable(summary.headline),
                "areas": to_jsonable(summary.areas),
                "findings_by_severity": counts,
                "checks_by_status": status_counts(self.checks),
                "worst_severity": (w.value if (w := self.worst_severity()) else None),
            },
            "identification": [identification_record(i, verdicts[i.host]) for i in identified],
            "evidence": [to_jsonable(e) for e in self.evidence],
            "checks": [to_jsonable(c) for c in self.checks],
            "findings": [to_jsonable(f) for f in self.findings],
            "recommendations": [to_jsonable(r) for r in self.recommendations],
        }


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, tuples and mappings to plain JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


__all__ = [
    "SCHEMA", "Acceptance", "AuditResult", "CheckMeta", "CheckResult", "CheckStatus", "Evidence",
    "EvidenceSet", "Finding", "HttpEvidence", "HttpExchange", "LogonForm", "Outcome", "ProbeError",
    "RecommendationVerdict", "Severity", "TargetInfo", "Verdict", "to_jsonable",
]
