"""tls.vuln.compression: TLS compression enabled (CRIME)."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

CHECK = CheckMeta(
    id="tls.vuln.compression",
    title="TLS compression enabled (CRIME)",
    severity=Severity.MEDIUM,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13",),
    description=(
        "The service accepts TLS-level compression. Compressing secrets together with "
        "attacker-chosen data lets an attacker who injects requests recover cookies and "
        "tokens byte by byte (CRIME, CVE-2012-4929)."
    ),
    remediation=(
        "Disable TLS compression in the TLS stack or proxy (OpenSSL: SSL_OP_NO_COMPRESSION; "
        "it is off in every current release)."
    ),
    severity_rationale=(
        "Medium: needs an attacker able to both inject requests and watch the traffic; "
        "the prize is OWA session cookies."
    ),
    references=("CVE-2012-4929 (CRIME)",),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.flaw(
        evidence,
        command="tls_compression",
        read=lambda item: item.vulnerabilities.compression,
        is_bad=lambda value: value is True,
        bad=lambda value: "TLS compression is accepted (CRIME)",
        good=lambda value: "TLS compression is not accepted",
    )
