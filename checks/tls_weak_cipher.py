"""tls.weak_cipher: NULL, anonymous, EXPORT, RC4, DES or 3DES suites accepted."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.tls import TlsEvidence
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

CHECK = CheckMeta(
    id="tls.weak_cipher",
    title="Weak cipher suites accepted",
    severity=Severity.MEDIUM,
    effort=Effort.LOW,
    recommendations=("CAS-13",),
    description=(
        "The service accepts cipher suites that give little or no protection: NULL (no "
        "encryption), anonymous (no server authentication: anyone on the path can impersonate "
        "the server), EXPORT (40/56-bit keys), RC4 (biased keystream, RFC 7465), single DES, or "
        "3DES (64-bit blocks, Sweet32)."
    ),
    remediation=(
        "Remove these suites from the server's list: on Windows with the Schannel cipher suite "
        "order (Group Policy or Disable-TlsCipherSuite), on a reverse proxy in its cipher string "
        "(e.g. nginx ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20). Keep AES-GCM or ChaCha20 suites "
        "with ECDHE key exchange."
    ),
    severity_rationale=(
        "Medium: a client offering these suites is rare today, but NULL or anonymous suites "
        "remove confidentiality or authentication outright for one that does; the finding "
        "lists every weak suite per protocol version."
    ),
    references=(
        "RFC 7465, Prohibiting RC4 Cipher Suites",
        "Bhargavan and Leurent, Sweet32 (CVE-2016-2183)",
        "Mozilla, Server Side TLS guidelines",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.judge_protocols(evidence, _judge)


def _judge(item: TlsEvidence) -> Outcome:
    weak: list[str] = []
    count = 0
    for protocol in item.protocols:
        names = []
        for suite in protocol.accepted:
            reason = _tls.weak_reason(suite.name) or ("anonymous" if suite.anonymous else None)
            if reason:
                names.append(f"{suite.name} ({reason})")
        count += len(names)
        if names:
            weak.append(f"{protocol.version}: {', '.join(names)}")
    if weak:
        return _tls.failed(
            item, f"accepts {count} weak suite(s)",
            f"{_tls.where(item)} accepts weak cipher suites; {'; '.join(weak)}",
        )
    incomplete = [p.version for p in item.protocols if p.error is not None]
    if incomplete:
        return _tls.not_assessed(item, f"the suite test of {', '.join(incomplete)} did not complete")
    if not any(protocol.accepted for protocol in item.protocols):
        # Nothing accepted is nothing seen: a pass needs suites that were looked at.
        return _tls.not_assessed(item, "no cipher suite was accepted")
    return _tls.passed(item, "no NULL, anonymous, EXPORT, RC4, DES or 3DES suite is accepted")
