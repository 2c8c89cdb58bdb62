"""tls.no_fallback_scsv: No TLS_FALLBACK_SCSV downgrade protection."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

CHECK = CheckMeta(
    id="tls.no_fallback_scsv",
    title="No TLS_FALLBACK_SCSV downgrade protection",
    severity=Severity.LOW,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13",),
    description=(
        "The service does not honour TLS_FALLBACK_SCSV (RFC 7507): when a client retries "
        "with a lower protocol version after a failed handshake, the server does not refuse, "
        "so an attacker who breaks connections can push clients down to the oldest "
        "version both sides still allow."
    ),
    remediation=(
        "Update the TLS stack (OpenSSL 1.0.1j or later supports it) or, better, disable "
        "every protocol older than TLS 1.2 so that there is nothing to fall back to."
    ),
    severity_rationale=(
        "Low: it matters only while older protocol versions are enabled and clients "
        "retry with them."
    ),
    references=("RFC 7507, TLS Fallback Signaling Cipher Suite Value (SCSV)",),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.flaw(
        evidence,
        command="tls_fallback_scsv",
        read=lambda item: item.vulnerabilities.fallback_scsv,
        is_bad=lambda value: value is False,
        bad=lambda value: "a downgraded retry is not refused (TLS_FALLBACK_SCSV ignored)",
        good=lambda value: "TLS_FALLBACK_SCSV honoured",
    )
