"""What the tls.* checks share: which TLS evidence to judge, names, dates, suites.

Pure helpers over `TlsEvidence`: no I/O, no clock (dates are measured from the
evidence's own scan time). Not a check itself (the leading underscore keeps it
out of the catalog).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime

from casaudit.evidence.base import ErrorKind, EvidenceSet
from casaudit.evidence.tls import TlsCertificate, TlsChain, TlsEvidence
from casaudit.model import CheckStatus, Outcome
from casaudit.web_checks import Answer, endpoints, read

MAIL_SERVICES = frozenset({"imaps", "pop3s", "imap", "pop3"})


def own_recommendations(item: TlsEvidence) -> tuple[str, ...]:
    """The endpoint's own recommendation, beyond CAS-13/CAS-17.

    The host's HTTPS service carries every web Client Access feature at once, so
    it cites only the generic ones (the features are named in `observed`); the
    Autodiscover names cite CAS-11; POP3/IMAP4 cite CAS-10.
    """
    if item.service in MAIL_SERVICES:
        return ("CAS-10",)
    if item.name_role in ("autodiscover", "domain"):
        return ("CAS-11",)
    return ()


#: What an HTTPS URL must have answered to count as a service of its port: content, a
#: challenge or a redirect. A 404, a refused port, silence or an error page is not one,
#: nor a 403 (blocked in front: no client reaches that service through this port).
_SERVING = frozenset({Answer.SERVED, Answer.REDIRECTED})


def where(item: TlsEvidence) -> str:
    """`imaps://mail.example.com:993 (IMAP4 over TLS)` for `observed` sentences.

    The host's HTTPS service is named by its endpoint alone: which Client Access
    URLs it carries is what the HTTP probe saw answer there (`with_services`),
    not the list of URLs the plan asks about (`item.features`).
    """
    if _carries_web_urls(item):
        return item.endpoint
    return f"{item.endpoint} ({', '.join(item.features)})"


def _carries_web_urls(item: TlsEvidence) -> bool:
    return item.service == "https" and item.name_role == "host"


def served_here(item: TlsEvidence, evidence: EvidenceSet) -> str:
    """The clause naming the Client Access URLs observed answering on this HTTPS port."""
    probed = [e for e in endpoints(evidence) if e.item.scheme == "https"
              and e.item.host.lower() == item.host.lower() and e.item.port == item.port]
    if not probed:
        return "which Client Access URLs answer on this port was not probed"
    labels = dict.fromkeys(e.url.label for e in probed if read(e).answer in _SERVING)
    if not labels:
        return f"none of the {len(probed)} Client Access URLs probed answered on this port"
    return "Client Access URLs answering on this port: " + ", ".join(labels)


def with_services(outcome: Outcome, item: TlsEvidence, evidence: EvidenceSet) -> Outcome:
    """A failure on the host's HTTPS service, its `observed` naming the URLs that use it."""
    if outcome.status is not CheckStatus.FAIL or not _carries_web_urls(item):
        return outcome
    return replace(outcome, observed=f"{outcome.observed}; {served_here(item, evidence)}")


def judged(
    evidence: EvidenceSet, *, certificate_check: bool = False, every_name: bool = False
) -> Iterator[tuple[TlsEvidence, Outcome | None]]:
    """Each TLS service a check should judge, with the outcome that stands in when it cannot.

    A port that refused the connection, or a STARTTLS/STLS port whose server refused
    the upgrade, has no TLS to judge: `not_applicable` (a row, never a silent skip,
    so the report shows the service was looked at). Any other failure (timeout,
    reset, handshake failure, an upgrade that got no answer) is `not_assessed`.
    Left out quietly: other names that do not resolve (only the name check speaks
    of them) and, for checks other than certificate checks, names scanned only for
    their certificate. Certificate checks also leave out a name whose certificate is
    the very one the host's service already showed, unless `every_name` (the name
    check, for which each name is a question).
    """
    host_leaves = {
        (item.address, item.port): item.certificate.leaf.sha256
        for item in evidence.of(TlsEvidence)
        if item.scope == "full" and item.certificate is not None
    }
    for item in evidence.of(TlsEvidence):
        if item.scope != "full":
            if not certificate_check:
                continue
            if not every_name and item.certificate is not None and (
                host_leaves.get((item.address, item.port)) == item.certificate.leaf.sha256
            ):
                continue
        if item.error is not None:
            if item.error.kind is ErrorKind.DNS and item.name_role != "host":
                continue
            yield item, unjudged(item)
            continue
        if certificate_check and item.certificate is None:
            failure = item.command_error("certificate_info")
            reason = failure.detail if failure else "the server sent no certificate"
            yield item, not_assessed(item, f"no certificate to judge: {reason}")
            continue
        yield item, None


def unjudged(item: TlsEvidence) -> Outcome:
    """The row of a service with no TLS session (`item.error` set): absent or unknown."""
    assert item.error is not None
    if item.error.kind is ErrorKind.REFUSED:
        return not_applicable(item, f"the port refused the connection: no TLS service to judge "
                                    f"({item.error.detail})")
    if item.starttls_offered is False:
        # The evidence says so structurally (the probe saw the server refuse the command);
        # the missing upgrade itself is mail.starttls_missing's finding, not a TLS flaw.
        word = "STLS" if item.starttls == "POP3" else "STARTTLS"
        return not_applicable(item, f"{word} is not offered: no TLS to judge "
                                    f"(mail.starttls_missing judges its absence)")
    return not_assessed(item, f"no TLS session: {item.error.detail}")


def not_applicable(item: TlsEvidence, reason: str) -> Outcome:
    return Outcome(item.endpoint, CheckStatus.NOT_APPLICABLE, reason, (item.id,),
                   own_recommendations(item))


def not_assessed(item: TlsEvidence, reason: str) -> Outcome:
    return Outcome(item.endpoint, CheckStatus.NOT_ASSESSED, reason, (item.id,),
                   own_recommendations(item))


def passed(item: TlsEvidence, reason: str) -> Outcome:
    return Outcome(item.endpoint, CheckStatus.PASS, reason, (item.id,))


def failed(item: TlsEvidence, reason: str, observed: str) -> Outcome:
    return Outcome(item.endpoint, CheckStatus.FAIL, reason, (item.id,),
                   own_recommendations(item), observed=observed)


def chains(item: TlsEvidence) -> tuple[TlsChain, ...]:
    return ((item.certificate,) if item.certificate else ()) + item.other_chains


def sent_below_root(item: TlsEvidence) -> Iterator[TlsCertificate]:
    """Every certificate of every chain the service sent, roots left out (see `below_root`)."""
    for chain in chains(item):
        yield from below_root(chain)


def below_root(chain: TlsChain) -> tuple[TlsCertificate, ...]:
    """The certificates sent, without a self-signed root (clients never check its signature).

    A self-signed leaf is kept: it is the certificate clients are asked to accept.
    """
    return tuple(
        c for index, c in enumerate(chain.certificates) if index == 0 or not c.self_issued
    )


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def describe(certificate: TlsCertificate) -> str:
    return certificate.common_name or certificate.subject or certificate.sha256[:16]


# --------------------------------------------------------------------------- names


def covers(certificate: TlsCertificate, name: str) -> bool:
    """RFC 6125: subjectAltName DNS names, or the CN only when there are none; one-label wildcards."""
    patterns = certificate.dns_names or (
        (certificate.common_name,) if certificate.common_name else ()
    )
    wanted = name.lower().rstrip(".")
    return any(_matches(pattern.lower().rstrip("."), wanted) for pattern in patterns)


def _matches(pattern: str, name: str) -> bool:
    if pattern == name:
        return True
    if pattern.startswith("*.") and "*" not in pattern[2:]:
        head, _, tail = name.partition(".")
        return bool(head) and tail == pattern[2:] and tail.count(".") >= 1
    return False


# --------------------------------------------------------------------------- suites


def suite_tokens(name: str) -> set[str]:
    return set(name.upper().replace("-", "_").split("_"))


def weak_reason(name: str) -> str | None:
    """Why an IANA-named suite is weak (NULL, anonymous, EXPORT, RC4, DES, 3DES), or None."""
    tokens = suite_tokens(name)
    upper = name.upper()
    if "NULL" in tokens:
        return "NULL encryption"
    if "ANON" in tokens:
        return "anonymous"
    if "EXPORT" in upper or "EXPORT40" in upper or "EXPORT1024" in upper:
        return "EXPORT"
    if "RC4" in tokens:
        return "RC4"
    if "3DES" in tokens or "DES192" in upper or ("EDE3" in upper):
        return "3DES"
    if "DES" in tokens or "DES40" in tokens or "DES64" in tokens:
        return "DES"
    return None


def forward_secret(name: str, version: str) -> bool:
    """TLS 1.3 suites always are; before, only (EC)DHE key exchange."""
    if version == "TLS 1.3":
        return True
    tokens = suite_tokens(name)
    if "ANON" in tokens:
        # Anonymous (EC)DH is ephemeral too; its lack of authentication is tls.weak_cipher's.
        return bool({"DH", "ECDH"} & tokens)
    return bool({"ECDHE", "DHE", "EDH"} & tokens)


def judge_protocols(
    evidence: EvidenceSet,
    judge: Callable[[TlsEvidence], Outcome],
) -> list[Outcome]:
    """Apply `judge` to every fully scanned service, after the usual not-assessed gates."""
    return [blocked or with_services(judge(item), item, evidence) for item, blocked in judged(evidence)]


def judge_certificates(
    evidence: EvidenceSet,
    judge: Callable[[TlsEvidence], Outcome],
) -> list[Outcome]:
    """Apply `judge` to every service with a certificate to judge, after the usual gates."""
    return [blocked or with_services(judge(item), item, evidence)
            for item, blocked in judged(evidence, certificate_check=True)]


def flaw(
    evidence: EvidenceSet,
    *,
    command: str,
    read: Callable[[TlsEvidence], object | None],
    is_bad: Callable[[object], bool],
    bad: Callable[[object], str],
    good: Callable[[object], str],
) -> list[Outcome]:
    """A vulnerability test's verdict per service: `read` the result, None when it did not run."""
    outcomes = []
    for item, blocked in judged(evidence):
        if blocked:
            outcomes.append(blocked)
            continue
        value = read(item)
        if value is None:
            failure = item.command_error(command)
            reason = failure.detail if failure else "the test did not run"
            outcomes.append(not_assessed(item, f"{command}: {reason}"))
        elif is_bad(value):
            outcomes.append(with_services(failed(item, bad(value), f"{where(item)}: {bad(value)}"),
                                          item, evidence))
        else:
            outcomes.append(passed(item, good(value)))
    return outcomes
