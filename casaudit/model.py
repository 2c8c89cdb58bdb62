"""The typed records that flow through casaudit: evidence, check outcomes, findings.

Data flows one way: probes produce evidence, checks turn evidence into outcomes,
the engine turns failed outcomes into findings, renderers only render. Every
record here is a frozen dataclass that serialises to the `casaudit.scan/1` JSON
contract with `to_dict()`; there is no second model for JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

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


# --------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class ProbeError:
    """Why a probe step produced no answer.

    `kind` keeps apart what an auditor must not confuse: `refused` (the port is
    closed: evidence) and `timeout` (nothing is known).
    """

    kind: str  # probes.errors.ErrorKind: refused | timeout | reset | tls | protocol | dns | ... | skipped
    detail: str


@dataclass(frozen=True)
class LogonForm:
    """A logon form found in a response: a <form> holding a password input.

    Attributes:
        action: the form's action attribute as written (untrusted, bounded);
            empty when the form has none (it then posts to the page itself).
        action_url: the absolute URL the browser posts the password to
            (action resolved against the page URL and any <base href>),
            None when it cannot be resolved.
        method: the form's method, upper-cased (GET when absent).
        posts_cleartext: True when action_url is an http:// URL.
    """

    action: str
    action_url: str | None
    method: str
    posts_cleartext: bool


@dataclass(frozen=True)
class HttpExchange:
    """One HTTP request and what came back, bounded.

    Attributes:
        method: the request method sent (GET, OPTIONS, RPC_IN_DATA, ...).
        url: the absolute URL requested, with an explicit port.
        request_headers: the headers casaudit set (never credentials).
        started_at: ISO-8601 UTC time the request started.
        status: the response status code, None when no response came.
        reason: the reason phrase as sent by the server (untrusted text).
        http_version: e.g. "HTTP/1.1".
        headers: response headers in order, capped in count and length.
        body_excerpt: the first bytes of the body decoded leniently (untrusted text).
        body_bytes: how many body bytes were read (reading stops at a cap).
        body_truncated: True when casaudit stopped reading before the end.
        body_error: why the body could not be read to its end (cut, reset, deadline)
            while status and headers were received.
        auth_schemes: the WWW-Authenticate schemes offered (Basic, NTLM, ...), in order.
        tls_version: the negotiated TLS version on https, else None.
        peer: the "address:port" actually connected to.
        error: set when the exchange failed before or while reading the response.
        logon_form: the first logon form (a form with a password input) in the
            bounded body, None when there is none (forms-based authentication).
    """

    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    started_at: str
    status: int | None = None
    reason: str = ""
    http_version: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body_excerpt: str = ""
    body_bytes: int = 0
    body_truncated: bool = False
    body_error: ProbeError | None = None
    auth_schemes: tuple[str, ...] = ()
    tls_version: str | None = None
    peer: str | None = None
    error: ProbeError | None = None
    logon_form: LogonForm | None = None

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


@dataclass(frozen=True)
class HttpEvidence:
    """What one Client Access URL answered, following in-scope redirects.

    `exchanges[0]` is the request to `endpoint`; later entries follow the
    redirect chain. `redirect_stopped` says why casaudit did not follow a
    redirect (off scope, loop, limit).
    """

    id: str
    endpoint: str
    role: str
    scheme: str
    host: str
    port: int
    path: str
    started_at: str
    finished_at: str
    exchanges: tuple[HttpExchange, ...]
    redirect_stopped: str | None = None
    kind: str = field(default="http", init=False)

    @property
    def first(self) -> HttpExchange:
        return self.exchanges[0]

    @property
    def error(self) -> ProbeError | None:
        return self.exchanges[0].error


class Evidence(Protocol):
    id: str
    kind: str
    endpoint: str


E = TypeVar("E")


@dataclass(frozen=True)
class EvidenceSet:
    """Everything the probes observed in one scan, in plan order."""

    items: tuple[Any, ...]

    def of(self, kind: type[E]) -> Iterator[E]:
        return (item for item in self.items if isinstance(item, kind))

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


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

        counts = {severity.value: 0 for severity in Severity}
        for finding in self.findings:
            counts[finding.severity.value] += 1
        host = self.targets[0].host if self.targets else None
        summary = summarise(self.checks, self.findings, host_answered(self.evidence, host))
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
