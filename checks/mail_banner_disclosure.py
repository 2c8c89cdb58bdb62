"""mail.banner_disclosure: the POP3/IMAP4 greeting names the product or its version."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from checks._mail import NAMES, closed_or_unknown, mail_evidence, no_greeting

CHECK = CheckMeta(
    id="mail.banner_disclosure",
    title="POP3/IMAP4 greeting names the product or version",
    severity=Severity.LOW,
    effort=Effort.LOW,
    recommendations=("CAS-15",),
    description=(
        "The first line the POP3 or IMAP4 service sends names the mail server product, and "
        "sometimes its version and internal host name: Exchange 2000/2003 give version and "
        "host, Exchange 2007 names itself (\"Microsoft Exchange Server 2007 IMAP4 service "
        "ready\"), Exchange 2010 and later say \"The Microsoft Exchange IMAP4 service is "
        "ready.\" by default, dovecot says \"Dovecot ready.\". It tells an attacker which "
        "vulnerabilities to try, and for Exchange 2007 that the server is out of support."
    ),
    remediation=(
        "Set a neutral banner: Set-ImapSettings -Banner \"IMAP4 service ready\" and "
        "Set-PopSettings -Banner \"POP3 service ready\" (Exchange 2010 and later), then "
        "restart the services; for dovecot, login_greeting. Better, put the service behind a "
        "reverse proxy or close it (CAS-09)."
    ),
    severity_rationale=(
        "Low: it aids reconnaissance and version targeting but exposes no data or credential."
    ),
    references=(
        "Microsoft Learn, Set-ImapSettings -Banner / Set-PopSettings -Banner",
        "nmap nmap-service-probes: Exchange and dovecot IMAP/POP3 signatures",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for item in mail_evidence(evidence):
        if (outcome := closed_or_unknown(item, "no greeting to read")) is not None:
            outcomes.append(outcome)
            continue
        if not item.speaks_protocol:
            # Silence or another protocol's words: no POP3/IMAP4 greeting was observed,
            # so "names no product" would be a pass on garbage.
            outcomes.append(no_greeting(item))
            continue
        banner = item.banner
        if banner is None:
            outcomes.append(Outcome(item.endpoint, CheckStatus.PASS,
                                    "the greeting names no product or version", (item.id,)))
            continue
        named = banner.product + (f" {banner.version}" if banner.version else "")
        host = f", host {banner.host}" if banner.host else ""
        outcomes.append(Outcome(
            item.endpoint, CheckStatus.FAIL, f"the greeting names {named}{host}", (item.id,),
            observed=(f"{NAMES[item.protocol]} on port {item.port} greets with {item.greeting!r}: "
                      f"{named}{host} ({banner.form})"),
        ))
    return outcomes
