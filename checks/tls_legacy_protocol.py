"""tls.legacy_protocol: SSL 2.0, SSL 3.0, TLS 1.0 or TLS 1.1 accepted."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.tls import TlsEvidence
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

LEGACY = ("SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1")

CHECK = CheckMeta(
    id="tls.legacy_protocol",
    title="Legacy SSL/TLS protocol versions accepted",
    severity=Severity.MEDIUM,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13",),
    description=(
        "The service completes handshakes with SSL 2.0, SSL 3.0, TLS 1.0 or TLS 1.1. SSL 2.0 and "
        "3.0 are broken (DROWN, POODLE); TLS 1.0 and 1.1 were deprecated by RFC 8996 and lack "
        "modern cipher suites. A client that can be pushed down to them gets weaker protection."
    ),
    remediation=(
        "Allow TLS 1.2 and TLS 1.3 only. On Windows, disable SSL 2.0/3.0 and TLS 1.0/1.1 for "
        "Schannel (server side) as in Microsoft's 'Exchange Server TLS guidance', after checking "
        "that every client (old ActiveSync devices, Outlook 2010) speaks TLS 1.2; on a reverse "
        "proxy set its protocol list (nginx: ssl_protocols TLSv1.2 TLSv1.3)."
    ),
    severity_rationale=(
        "Medium: exploiting TLS 1.0/1.1 needs an active attacker on the path and a downgrade; "
        "SSL 2.0/3.0 are worse, and the finding names exactly which versions are accepted."
    ),
    references=(
        "RFC 8996, Deprecating TLS 1.0 and TLS 1.1",
        "RFC 7568, Deprecating Secure Sockets Layer Version 3.0",
        "Microsoft, Exchange Server TLS configuration best practices",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.judge_protocols(evidence, _judge)


def _judge(item: TlsEvidence) -> Outcome:
    by_version = {p.version: p for p in item.protocols}
    accepted = [v for v in LEGACY if v in by_version and by_version[v].supported]
    if accepted:
        return _tls.failed(
            item, f"accepts {', '.join(accepted)}",
            f"{_tls.where(item)} completes handshakes with {', '.join(accepted)}",
        )
    unknown = [v for v in LEGACY if v not in by_version or by_version[v].error is not None]
    if unknown:
        return _tls.not_assessed(item, f"the test of {', '.join(unknown)} did not complete")
    return _tls.passed(item, f"accepts only {', '.join(item.accepted_versions) or 'no version'}")
