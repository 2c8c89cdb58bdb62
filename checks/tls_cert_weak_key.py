"""tls.cert_weak_key: RSA or DSA key under 2048 bits, EC key under 256 bits."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.tls import TlsCertificate, TlsEvidence
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

MINIMUM_BITS = {"RSA": 2048, "DSA": 2048, "EC": 256}

CHECK = CheckMeta(
    id="tls.cert_weak_key",
    title="Certificate with a weak public key",
    severity=Severity.HIGH,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13", "CAS-17"),
    description=(
        "A certificate the service sends (below the root) has an RSA or DSA key shorter than "
        "2048 bits or an elliptic-curve key shorter than 256 bits. 1024-bit RSA is within reach "
        "of well-funded attackers, and public CAs stopped issuing such certificates in 2013."
    ),
    remediation=(
        "Generate a new key pair of at least 2048 bits RSA (or P-256 ECDSA where every client "
        "supports it) with a new request (New-ExchangeCertificate -KeySize 2048), get it signed "
        "and enable it for every service."
    ),
    severity_rationale=(
        "High: whoever factors the key impersonates the server and, with static RSA key "
        "exchange, decrypts recorded sessions."
    ),
    references=(
        "NIST SP 800-131A Rev. 2, Transitioning the Use of Cryptographic Algorithms",
        "CA/Browser Forum Baseline Requirements, section 6.1.5",
    ),
)


def weak(certificate: TlsCertificate) -> bool:
    minimum = MINIMUM_BITS.get(certificate.key_type)
    return minimum is not None and certificate.key_bits < minimum


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.judge_certificates(evidence, _judge)


def _judge(item: TlsEvidence) -> Outcome:
    found = list(dict.fromkeys(
        f"{_tls.describe(c)}: {c.key_type} {c.key_bits} bits"
        for c in _tls.sent_below_root(item) if weak(c)
    ))
    if found:
        return _tls.failed(
            item, "; ".join(found), f"{_tls.where(item)} sends weak keys: {'; '.join(found)}")
    assert item.certificate is not None
    leaf = item.certificate.leaf
    return _tls.passed(item, f"leaf key {leaf.key_type} {leaf.key_bits} bits")
