"""tls.vuln.ccs_injection: Vulnerable to OpenSSL CCS injection (CVE-2014-0224)."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

CHECK = CheckMeta(
    id="tls.vuln.ccs_injection",
    title="Vulnerable to OpenSSL CCS injection (CVE-2014-0224)",
    severity=Severity.HIGH,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13",),
    description=(
        "The service accepts a ChangeCipherSpec message too early in the handshake (OpenSSL "
        "before 0.9.8za, 1.0.0m and 1.0.1h), so a man in the middle can force weak keying "
        "material and read or alter the session."
    ),
    remediation=(
        "Upgrade the TLS library of the server or proxy to a maintained version."
    ),
    severity_rationale=(
        "High: an attacker on the path decrypts and alters sessions of vulnerable clients."
    ),
    references=("CVE-2014-0224",),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.flaw(
        evidence,
        command="openssl_ccs_injection",
        read=lambda item: item.vulnerabilities.ccs_injection,
        is_bad=lambda value: value is True,
        bad=lambda value: "early ChangeCipherSpec accepted (CCS injection)",
        good=lambda value: "early ChangeCipherSpec rejected",
    )
