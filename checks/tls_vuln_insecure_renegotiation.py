"""tls.vuln.insecure_renegotiation: Insecure TLS renegotiation (no RFC 5746 support)."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

CHECK = CheckMeta(
    id="tls.vuln.insecure_renegotiation",
    title="Insecure TLS renegotiation (no RFC 5746 support)",
    severity=Severity.MEDIUM,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13",),
    description=(
        "The service does not support secure renegotiation (RFC 5746). A man in the middle "
        "can splice his own request in front of a victim's renegotiated session "
        "(CVE-2009-3555) and have it executed with the victim's credentials."
    ),
    remediation=(
        "Update the TLS stack: every maintained one implements RFC 5746 (Windows since "
        "MS10-049)."
    ),
    severity_rationale=(
        "Medium: request injection needs an attacker on the path and a renegotiating "
        "server, but it abuses the user's authenticated session."
    ),
    references=("CVE-2009-3555", "RFC 5746, TLS Renegotiation Indication Extension"),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.flaw(
        evidence,
        command="session_renegotiation",
        read=lambda item: item.vulnerabilities.secure_renegotiation,
        is_bad=lambda value: value is False,
        bad=lambda value: "secure renegotiation (RFC 5746) is not supported",
        good=lambda value: "secure renegotiation (RFC 5746) supported",
    )
