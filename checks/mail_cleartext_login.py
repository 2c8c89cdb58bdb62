"""mail.cleartext_login: a POP3/IMAP4 login would be accepted before TLS.

Judged without any credential: IMAP from the capability list (no LOGINDISABLED,
or AUTH=PLAIN/LOGIN offered in clear), POP3 from the answer to `USER <made-up
name>` sent before STLS, and from SASL PLAIN/LOGIN offered in clear.
"""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.mail import LoginOutcome, MailEvidence
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from casaudit.parse.mail import CLEARTEXT_SASL
from checks._mail import judge_cleartext_ports

CHECK = CheckMeta(
    id="mail.cleartext_login",
    title="POP3/IMAP4 accepts a login before TLS",
    severity=Severity.HIGH,
    effort=Effort.LOW,
    recommendations=("CAS-10", "CAS-14"),
    description=(
        "On the cleartext POP3 (110) or IMAP4 (143) port the server would take a user name and "
        "password before the connection is encrypted: IMAP4 does not announce LOGINDISABLED "
        "(so LOGIN works in clear) or offers AUTH=PLAIN/LOGIN in clear; POP3 accepts USER "
        "before STLS or offers SASL PLAIN/LOGIN in clear. Any client configured without TLS, "
        "or tricked into skipping it, sends reusable domain credentials across the network in "
        "the clear. casaudit finds this without sending any password."
    ),
    remediation=(
        "Require TLS before authentication: Set-ImapSettings -LoginType SecureLogin and "
        "Set-PopSettings -LoginType SecureLogin (the default on Exchange 2010 and later), then "
        "restart the POP3/IMAP4 services; on Exchange 2007 the same parameters exist. For "
        "dovecot: disable_plaintext_auth = yes (2.3) or auth_allow_cleartext = no (2.4)."
    ),
    severity_rationale=(
        "High: a passive listener collects domain passwords from any client that logs in "
        "without TLS; unlike Basic over HTTP the port is usually not browsed, hence not critical."
    ),
    references=(
        "Microsoft, Planning for Client Access Servers (Exchange 2007): Security Planning",
        "RFC 3501 section 6.2.3 (LOGINDISABLED); RFC 2595 (STARTTLS/STLS); RFC 8314",
        "Microsoft Learn, Set-ImapSettings / Set-PopSettings -LoginType",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return judge_cleartext_ports(
        evidence, lambda item: _imap(item) if item.protocol == "imap" else _pop3(item))


def _clear_sasl(item: MailEvidence) -> list[str]:
    listing = item.capabilities_clear
    return [m for m in (listing.sasl if listing else ()) if m in CLEARTEXT_SASL]


def _imap(item: MailEvidence) -> Outcome:
    listing = item.capabilities_clear
    if listing is None or listing.error is not None:
        why = listing.error.detail if listing and listing.error else "no CAPABILITY answer"
        return Outcome(item.endpoint, CheckStatus.NOT_ASSESSED,
                       f"no capability list before TLS ({why})", (item.id,))
    sasl = _clear_sasl(item)
    if not listing.logindisabled:
        extra = f"; AUTH={', AUTH='.join(sasl)} offered too" if sasl else ""
        return Outcome(
            item.endpoint, CheckStatus.FAIL,
            "LOGINDISABLED is not announced before TLS: LOGIN is accepted in clear", (item.id,),
            observed=(f"IMAP4 on port {item.port} announces no LOGINDISABLED before STARTTLS, so "
                      f"LOGIN with a password is accepted in clear{extra}"),
        )
    if sasl:
        return Outcome(
            item.endpoint, CheckStatus.FAIL,
            f"AUTH={', AUTH='.join(sasl)} offered before TLS", (item.id,),
            observed=(f"IMAP4 on port {item.port} announces LOGINDISABLED but offers "
                      f"AUTH={', AUTH='.join(sasl)} before STARTTLS: a password can still cross in clear"),
        )
    return Outcome(item.endpoint, CheckStatus.PASS,
                   "LOGINDISABLED before TLS and no cleartext SASL mechanism offered", (item.id,))


def _pop3(item: MailEvidence) -> Outcome:
    test = item.login_in_clear
    sasl = _clear_sasl(item)
    offered = f"SASL {' '.join(sasl)} is offered before STLS" if sasl else ""
    if test is None or test.outcome is LoginOutcome.NO_ANSWER:
        why = test.error.detail if test and test.error else "the USER test did not run"
        if sasl:
            return Outcome(item.endpoint, CheckStatus.FAIL, offered, (item.id,),
                           observed=f"POP3 on port {item.port}: {offered}")
        return Outcome(item.endpoint, CheckStatus.NOT_ASSESSED, f"no answer to USER ({why})",
                       (item.id,))
    if test.outcome is LoginOutcome.ACCEPTED:
        return Outcome(
            item.endpoint, CheckStatus.FAIL, "USER is accepted before TLS", (item.id,),
            observed=(f"POP3 on port {item.port} answered {test.command!r} before STLS with "
                      f"{test.reply!r}: it waits for the password in clear"),
        )
    if test.outcome is LoginOutcome.REFUSED_TLS_REQUIRED:
        return Outcome(
            item.endpoint, CheckStatus.PASS,
            f"USER before TLS is refused ({test.wording} wording: {test.reply})", (item.id,),
        )
    if sasl:
        return Outcome(
            item.endpoint, CheckStatus.FAIL, f"{offered}; USER refused with unknown wording",
            (item.id,),
            observed=(f"POP3 on port {item.port}: {offered}; USER before STLS was answered "
                      f"{test.reply!r}, a wording casaudit does not know as 'TLS required'"),
        )
    return Outcome(
        item.endpoint, CheckStatus.NOT_ASSESSED,
        f"USER before TLS answered with an unknown refusal: {test.reply}", (item.id,),
    )
