"""mail.starttls_missing: a cleartext POP3/IMAP4 port without a working STARTTLS/STLS."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.mail import MailEvidence
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from checks._mail import NAMES, judge_cleartext_ports

CHECK = CheckMeta(
    id="mail.starttls_missing",
    title="POP3/IMAP4 cleartext port offers no working STARTTLS",
    severity=Severity.MEDIUM,
    effort=Effort.MEDIUM,
    recommendations=("CAS-10", "CAS-13"),
    description=(
        "The cleartext POP3 (110) or IMAP4 (143) port does not offer STLS/STARTTLS, or offers "
        "it and the upgrade fails. Every session on that port then runs unencrypted from "
        "start to end: mail contents, and any login the server accepts (see "
        "mail.cleartext_login), cross the network in the clear."
    ),
    remediation=(
        "Bind a certificate to the POP3/IMAP4 services (Enable-ExchangeCertificate -Services "
        "POP,IMAP) so STARTTLS/STLS is offered and works, or close the cleartext port and "
        "publish only 995/993."
    ),
    severity_rationale=(
        "Medium: mail contents are readable on the path; credentials are rated separately by "
        "mail.cleartext_login (high)."
    ),
    references=(
        "RFC 2595, Using TLS with IMAP, POP3 and ACAP",
        "RFC 8314, Cleartext Considered Obsolete",
        "Microsoft, Planning for Client Access Servers (Exchange 2007): Security Planning",
    ),
)


#: Upgrade failures that are the server's own answer: it refused the command (`protocol`)
#: or the TLS handshake after it failed (`tls`). Anything else is not an observation.
OBSERVED_FAILURES = frozenset({"protocol", "tls"})


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return judge_cleartext_ports(evidence, _judge)


def _judge(item: MailEvidence) -> Outcome:
    word = "STARTTLS" if item.protocol == "imap" else "STLS"
    what = NAMES[item.protocol]
    listing = item.capabilities_clear
    if listing is None or listing.error is not None or item.starttls is None:
        why = listing.error.detail if listing and listing.error else "no capability list"
        return Outcome(item.endpoint, CheckStatus.NOT_ASSESSED,
                       f"no capability list before TLS ({why})", (item.id,))
    upgrade = item.starttls
    if not upgrade.offered:
        return Outcome(
            item.endpoint, CheckStatus.FAIL, f"{word} is not offered", (item.id,),
            observed=f"{what} on port {item.port} does not list {word}: sessions stay in clear",
        )
    if upgrade.ok:
        version = f" ({item.tls.version})" if item.tls and item.tls.version else ""
        return Outcome(item.endpoint, CheckStatus.PASS, f"{word} offered and works{version}",
                       (item.id,))
    if upgrade.error is not None and upgrade.error.kind not in OBSERVED_FAILURES:
        # A timeout, a reset or a broken connection says nothing about the upgrade itself.
        return Outcome(item.endpoint, CheckStatus.NOT_ASSESSED,
                       f"{word} offered, the attempt gave no usable answer ({upgrade.error.detail})",
                       (item.id,))
    why = upgrade.error.detail if upgrade.error else upgrade.reply
    return Outcome(
        item.endpoint, CheckStatus.FAIL, f"{word} offered but the upgrade fails: {why}", (item.id,),
        observed=f"{what} on port {item.port} lists {word} but the upgrade fails ({why}; "
                 f"server said {upgrade.reply!r})",
    )
