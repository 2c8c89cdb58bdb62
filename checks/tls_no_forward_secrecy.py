"""tls.no_forward_secrecy: key exchanges without forward secrecy accepted."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.tls import TlsEvidence
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

CHECK = CheckMeta(
    id="tls.no_forward_secrecy",
    title="Cipher suites without forward secrecy accepted",
    severity=Severity.LOW,
    effort=Effort.LOW,
    recommendations=("CAS-13",),
    description=(
        "The service accepts suites whose session keys travel encrypted under the certificate's "
        "RSA key (static RSA key exchange) instead of being agreed with ephemeral (EC)DHE keys. "
        "Whoever obtains the private key later, from a backup, a decommissioned server or a "
        "court order, can decrypt every recorded session, mail and passwords included."
    ),
    remediation=(
        "Offer only ECDHE (or DHE) suites for TLS 1.2 and enable TLS 1.3: remove the "
        "TLS_RSA_WITH_* suites from the Schannel order or the proxy's cipher string."
    ),
    severity_rationale=(
        "Low: the risk needs both recorded traffic and a later key compromise; the finding says "
        "whether forward secrecy is missing entirely or only not enforced."
    ),
    references=(
        "RFC 7525 / BCP 195, Recommendations for Secure Use of TLS, section 4.2",
        "Microsoft, Exchange Server TLS configuration best practices",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.judge_protocols(evidence, _judge)


def _judge(item: TlsEvidence) -> Outcome:
    static: list[str] = []
    secret = 0
    for protocol in item.protocols:
        for suite in protocol.accepted:
            if _tls.forward_secret(suite.name, protocol.version):
                secret += 1
            else:
                static.append(f"{protocol.version} {suite.name}")
    if static:
        unique = list(dict.fromkeys(s.split(" ", 2)[-1] for s in static))
        if secret == 0:
            observed = (f"{_tls.where(item)} offers no forward-secret key exchange at all; "
                        f"accepted: {', '.join(unique)}")
        else:
            observed = (f"{_tls.where(item)} also accepts {len(unique)} suite(s) without forward "
                        f"secrecy: {', '.join(unique)}")
        return _tls.failed(item, f"{len(unique)} suite(s) without forward secrecy", observed)
    incomplete = [p.version for p in item.protocols if p.error is not None]
    if incomplete:
        return _tls.not_assessed(item, f"the suite test of {', '.join(incomplete)} did not complete")
    if secret == 0:
        return _tls.not_assessed(item, "no cipher suite was accepted")
    return _tls.passed(item, "every accepted suite uses an ephemeral key exchange")
