"""What the mail.* checks share: reading MailEvidence the same way everywhere.

A module name starting with "_" is not a check (the catalog skips it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.mail import MailEvidence, Reachability
from casaudit.model import CheckStatus, Outcome, Severity

NAMES = {"pop3": "POP3", "imap": "IMAP4"}


def mail_evidence(evidence: EvidenceSet, *, protocol: str | None = None,
                  cleartext_only: bool = False) -> Iterator[MailEvidence]:
    for item in evidence.of(MailEvidence):
        if protocol is not None and item.protocol != protocol:
            continue
        if cleartext_only and item.implicit_tls:
            continue
        yield item


def closed_or_unknown(item: MailEvidence, absent: str, *, exposure: bool = False) -> Outcome | None:
    """The outcome for a port that did not open, or None when it is open and the check looks further.

    A refused port is observed absence: for an exposure check (is POP3/IMAP4
    reachable?) it is the very answer, a pass; for a check of a property of the
    service (its login, its STARTTLS, its banner) there is nothing to judge,
    not applicable. `absent` says what the refusal means for the check. A port
    that did not answer at all (filtered, unreachable) leaves it unknown.
    """
    if item.is_open:
        return None
    if item.reachability is Reachability.REFUSED:
        status = CheckStatus.PASS if exposure else CheckStatus.NOT_APPLICABLE
        return Outcome(item.endpoint, status, f"the port refused the connection: {absent}",
                       (item.id,))
    detail = item.error.detail if item.error else item.reachability
    return Outcome(item.endpoint, CheckStatus.NOT_ASSESSED, f"no answer on the port ({detail})",
                   (item.id,))


def no_greeting(item: MailEvidence) -> Outcome:
    what = NAMES[item.protocol]
    why = f" ({item.error.detail})" if item.error else ""
    return Outcome(item.endpoint, CheckStatus.NOT_ASSESSED,
                   f"the port is open but gave no {what} greeting{why}", (item.id,))


def judge_cleartext_ports(
    evidence: EvidenceSet, judge: Callable[[MailEvidence], Outcome]
) -> list[Outcome]:
    """One outcome per cleartext mail port (110, 143): closed, silent, or `judge`'s verdict."""
    outcomes = []
    for item in mail_evidence(evidence, cleartext_only=True):
        if (outcome := closed_or_unknown(item, "nothing listens in clear, nothing to judge")) is not None:
            outcomes.append(outcome)
        elif not item.speaks_protocol:
            outcomes.append(no_greeting(item))
        else:
            outcomes.append(judge(item))
    return outcomes


def exposure(evidence: EvidenceSet, protocol: str) -> list[Outcome]:
    """mail.pop3_exposed / mail.imap4_exposed: low on the cleartext port, info on implicit TLS."""
    what = NAMES[protocol]
    outcomes = []
    for item in mail_evidence(evidence, protocol=protocol):
        if (outcome := closed_or_unknown(item, f"{what} is not reachable here",
                                         exposure=True)) is not None:
            outcomes.append(outcome)
            continue
        if not item.speaks_protocol:
            outcomes.append(no_greeting(item))
            continue
        transport = "over implicit TLS" if item.implicit_tls else "in clear (TLS only if upgraded)"
        outcomes.append(Outcome(
            item.endpoint, CheckStatus.FAIL, f"{what} answers on port {item.port} {transport}",
            (item.id,),
            severity=Severity.INFO if item.implicit_tls else None,
            observed=f"{what} answers on port {item.port} {transport}: {item.greeting}",
        ))
    return outcomes
