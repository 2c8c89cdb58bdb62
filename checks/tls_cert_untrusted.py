"""tls.cert_untrusted: the chain does not reach the system trust store or --ca-file."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.tls import TlsEvidence, Trust
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

CHECK = CheckMeta(
    id="tls.cert_untrusted",
    title="Certificate chain not trusted",
    severity=Severity.HIGH,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13", "CAS-17"),
    description=(
        "The certificate chain the service sends does not lead, signature by signature, to a "
        "certificate authority the clients trust (the system store, plus any CA given with "
        "--ca-file). Self-signed certificates, chains missing an intermediate CA certificate "
        "and unknown roots all end here: clients warn or refuse, and users taught to click "
        "through warnings accept an attacker's certificate just as readily."
    ),
    remediation=(
        "Install a certificate from a CA every client trusts (a public CA for Internet-facing "
        "names) and configure the server to send the whole chain up to, not including, the "
        "root: import the intermediate CA certificates into the machine's Intermediate "
        "Certification Authorities store (Windows) or append them to the certificate file "
        "(nginx ssl_certificate)."
    ),
    severity_rationale=(
        "High: without a trusted chain a client cannot tell the server from an interceptor; "
        "mobile ActiveSync clients and Outlook Anywhere fail or train users to accept warnings."
    ),
    references=(
        "Microsoft, Planning for Client Access Servers (Exchange 2007): certificates for each SSL site",
        "RFC 5280, section 6 (certification path validation)",
    ),
)


TRUST_LABELS = {
    Trust.SELF_SIGNED: "self-signed certificate",
    Trust.INCOMPLETE: "incomplete chain",
    Trust.UNTRUSTED_ROOT: "untrusted root",
    Trust.INVALID: "invalid chain",
}


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.judge_certificates(evidence, _judge)


def _judge(item: TlsEvidence) -> Outcome:
    bad = [chain for chain in _tls.chains(item) if chain.trust is not Trust.TRUSTED]
    if bad:
        chain = bad[0]
        label = TRUST_LABELS.get(chain.trust, chain.trust)
        return _tls.failed(
            item, label,
            f"{_tls.where(item)} sends a certificate for {_tls.describe(chain.leaf)} that is "
            f"not trusted ({label}): {chain.trust_detail}; trust stores: "
            f"{', '.join(chain.trust_stores) or 'none'}",
        )
    assert item.certificate is not None
    return _tls.passed(item, item.certificate.trust_detail)
