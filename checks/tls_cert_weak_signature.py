"""tls.cert_weak_signature: SHA-1 or MD5 signatures anywhere in the chain below the root."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.tls import TlsEvidence
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

WEAK_HASHES = frozenset({"sha1", "md5", "md2", "md4"})

CHECK = CheckMeta(
    id="tls.cert_weak_signature",
    title="Certificate signed with SHA-1 or MD5",
    severity=Severity.MEDIUM,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13", "CAS-17"),
    description=(
        "A certificate the service sends (the server's own or an intermediate, the root's "
        "self-signature excepted) is signed with SHA-1 or MD5. Collisions for both are "
        "practical (MD5 rogue CA 2008, SHA-1 SHAttered 2017); browsers and current Windows "
        "clients reject such certificates."
    ),
    remediation=(
        "Re-issue the certificate (and any intermediate) with a SHA-256 signature; on an "
        "internal Windows CA, move the CA itself to SHA-256 first."
    ),
    severity_rationale=(
        "Medium: forging a certificate needs a chosen-prefix collision at the issuing CA, but "
        "modern clients already refuse these chains."
    ),
    references=(
        "Stevens et al., The first collision for full SHA-1 (2017)",
        "CA/Browser Forum Ballot 118, SHA-1 sunset",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.judge_certificates(evidence, _judge)


def _judge(item: TlsEvidence) -> Outcome:
    found = list(dict.fromkeys(
        f"{_tls.describe(c)} signed with {c.signature_hash.upper()}"
        for c in _tls.sent_below_root(item)
        if c.signature_hash and c.signature_hash.lower() in WEAK_HASHES
    ))
    if found:
        return _tls.failed(item, "; ".join(found), f"{_tls.where(item)}: {'; '.join(found)}")
    assert item.certificate is not None
    hashes = sorted({c.signature_hash or "none" for c in _tls.below_root(item.certificate)})
    return _tls.passed(item, f"signatures below the root use {', '.join(hashes)}")
