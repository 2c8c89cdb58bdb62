"""tls.vuln.heartbleed: Vulnerable to Heartbleed (CVE-2014-0160)."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

CHECK = CheckMeta(
    id="tls.vuln.heartbleed",
    title="Vulnerable to Heartbleed (CVE-2014-0160)",
    severity=Severity.CRITICAL,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13",),
    description=(
        "The service answers malformed TLS heartbeat requests with up to 64 KiB of its own "
        "memory per request (OpenSSL 1.0.1 to 1.0.1f). Anyone can read session keys, "
        "passwords and the private key without leaving a trace in the logs."
    ),
    remediation=(
        "Upgrade the TLS library (OpenSSL 1.0.1g or later) of the server or proxy, then "
        "replace the private key and certificate and revoke the old one: assume both leaked."
    ),
    severity_rationale=(
        "Critical: remote, unauthenticated, repeatable reading of server memory, including "
        "credentials of users logging on to OWA and ActiveSync."
    ),
    references=("CVE-2014-0160", "RFC 6520, TLS and DTLS Heartbeat Extension"),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.flaw(
        evidence,
        command="heartbleed",
        read=lambda item: item.vulnerabilities.heartbleed,
        is_bad=lambda value: value is True,
        bad=lambda value: "heartbeat requests leak server memory (Heartbleed)",
        good=lambda value: "not vulnerable to Heartbleed",
    )
