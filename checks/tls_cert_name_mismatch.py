"""tls.cert_name_mismatch: the certificate served for a name does not cover that name."""

from __future__ import annotations

from casaudit.evidence.base import ErrorKind, EvidenceSet
from casaudit.evidence.tls import TlsEvidence
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from checks import _tls

CHECK = CheckMeta(
    id="tls.cert_name_mismatch",
    title="Certificate does not match the name clients use",
    severity=Severity.HIGH,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13", "CAS-17"),
    description=(
        "The certificate the service sends for a name clients connect to (the Client Access "
        "host, autodiscover.<domain> or the bare <domain>) does not list that name. Outlook "
        "shows a security alert at every Autodiscover lookup, devices refuse to sync, and users "
        "learn to accept certificate warnings."
    ),
    remediation=(
        "Issue a certificate whose subject alternative names cover every name clients use: the "
        "Client Access host, autodiscover.<domain> (and <domain> if it answers HTTPS), and the "
        "POP3/IMAP4 host names; or use the Autodiscover SRV record and stop answering HTTPS on "
        "names the certificate lacks."
    ),
    severity_rationale=(
        "High: validating clients reject the connection, and accepting the warning is exactly "
        "what an interception attack needs."
    ),
    references=(
        "RFC 6125, Representation and Verification of Domain-Based Application Service Identity",
        "Microsoft, Planning for Client Access Servers (Exchange 2007): Autodiscover URLs",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for item in evidence.of(TlsEvidence):
        if item.error is not None and item.error.kind is ErrorKind.DNS and item.name_role != "host":
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.NOT_ASSESSED,
                f"{item.host} does not resolve: clients cannot use it ({item.error.detail})",
                (item.id,),
            ))
    for item, blocked in _tls.judged(evidence, certificate_check=True, every_name=True):
        if blocked:
            outcomes.append(blocked)
            continue
        missing = [chain.leaf for chain in _tls.chains(item) if not _tls.covers(chain.leaf, item.host)]
        if missing:
            leaf = missing[0]
            names = ", ".join(leaf.dns_names) or f"CN={leaf.common_name}"
            outcomes.append(_tls.with_services(_tls.failed(
                item, f"the certificate does not cover {item.host}",
                f"{_tls.where(item)}: the certificate sent for {item.host} covers only {names}",
            ), item, evidence))
            continue
        outcomes.append(_tls.passed(item, f"the certificate covers {item.host}"))
    return outcomes
