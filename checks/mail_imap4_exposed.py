"""mail.imap4_exposed: IMAP4 answers from outside (143 in clear, 993 over implicit TLS)."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks._mail import exposure

CHECK = CheckMeta(
    id="mail.imap4_exposed",
    title="IMAP4 reachable from outside",
    severity=Severity.LOW,
    effort=Effort.LOW,
    recommendations=("CAS-09",),
    description=(
        "An IMAP4 service answers on the audited host. Microsoft ships IMAP4 switched off and "
        "asks that it be enabled only when clients need it: every enabled protocol is another "
        "place where passwords are tried and another service to patch. Reported low on the "
        "cleartext port (143) and info on the implicit-TLS port (993): when only 993 answers, "
        "IMAP4 is exposed but encrypted, which is the acceptable way to offer it."
    ),
    remediation=(
        "If no client needs IMAP4, stop and disable the Microsoft Exchange IMAP4 services "
        "(Set-Service MSExchangeIMAP4, MSExchangeIMAP4BE -StartupType Disabled) and close 143 and "
        "993 at the firewall. If it is needed, publish only 993 (IMAP4 over TLS)."
    ),
    severity_rationale=(
        "Low: an enabled protocol widens the attack surface (password guessing, another "
        "service to patch) but discloses nothing by itself; info when only implicit TLS answers."
    ),
    references=(
        "Microsoft, Planning for Client Access Servers (Exchange 2007): Planning Considerations "
        "for POP3 and IMAP4",
        "Microsoft Learn, POP3 and IMAP4 in Exchange Server",
    ),
    # A refused port is what CAS-09 asks for: the observation itself, a pass.
    exposure=True,
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return exposure(evidence, "imap")
