"""tls.cert_expiring: the certificate expires within --cert-expiry-days (30 by default)."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.tls import TlsEvidence
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

CHECK = CheckMeta(
    id="tls.cert_expiring",
    title="Certificate expires soon",
    severity=Severity.MEDIUM,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13", "CAS-17"),
    description=(
        "A certificate the service sends expires within the warning period (30 days unless the "
        "scan set --cert-expiry-days). Renewal of an Exchange certificate takes a CSR, the CA, "
        "an import on every Client Access server and re-binding to IIS, IMAP and POP."
    ),
    remediation=(
        "Renew now and enable the new certificate for every service (Exchange: "
        "New-ExchangeCertificate, Import-ExchangeCertificate, Enable-ExchangeCertificate); "
        "monitor expiry dates."
    ),
    severity_rationale="Medium: nothing is broken yet, but an outage of every client is dated.",
    references=("RFC 5280, section 4.1.2.5 (validity)",),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.judge_certificates(evidence, _judge)


def _judge(item: TlsEvidence) -> Outcome:
    at = _tls.moment(item.started_at)
    threshold = item.expiry_warning_days
    soon = []
    remaining = []
    for certificate in _tls.sent_below_root(item):
        left = _tls.moment(certificate.not_after) - at
        if left.total_seconds() < 0:
            continue  # expired: tls.cert_expired's business
        remaining.append(left.days)
        if left.days < threshold:
            soon.append(f"{_tls.describe(certificate)} expires on {certificate.not_after}, "
                        f"{left.days} days after the scan")
    soon = list(dict.fromkeys(soon))
    if soon:
        return _tls.failed(
            item, f"expires within {threshold} days",
            f"{_tls.where(item)}: {'; '.join(soon)} (warning period {threshold} days)",
        )
    if remaining:
        return _tls.passed(
            item, f"{min(remaining)} days of validity left (warning period {threshold} days)")
    return _tls.not_assessed(item, "every certificate is already expired")
