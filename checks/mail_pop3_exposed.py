"""mail.pop3_exposed: POP3 answers from outside (110 in clear, 995 over implicit TLS)."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks._mail import exposure

CHECK = CheckMeta(
    id="mail.pop3_exposed",
    title="POP3 reachable from outside",
    severity=Severity.LOW,
    effort=Effort.LOW,
    recommendations=("CAS-09",),
    description=(
        "A POP3 service answers on the audited host. Microsoft ships POP3 switched off and "
        "asks that it be enabled only when clients need it: every enabled protocol is another "
        "place where passwords are tried and another service to patch. Reported low on the "
        "cleartext port (110) and info on the implicit-TLS port (995): when only 995 answers, "
        "POP3 is exposed but encrypted, which is the acceptable way to offer it."
    ),
    remediation=(
        "If no client needs POP3, stop and disable the Microsoft Exchange POP3 services "
        "(Set-Service MSExchangePOP3, MSExchangePOP3BE -StartupType Disabled) and close 110 and "
        "995 at the firewall. If it is needed, publish only 995 (POP3 over TLS)."
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
    return exposure(evidence, "pop3")
