"""http.cleartext_served: an Exchange URL answers on plain HTTP instead of redirecting or refusing."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from casaudit.web_checks import Answer, Reading, describe, endpoints, read

CHECK = CheckMeta(
    id="http.cleartext_served",
    title="Client Access URL served over cleartext HTTP",
    severity=Severity.HIGH,
    effort=Effort.LOW,
    recommendations=("CAS-13",),
    description=(
        "An Exchange Client Access URL answers on plain HTTP with content or an authentication "
        "challenge instead of redirecting to HTTPS or refusing. Whatever the client sends or "
        "receives there (NTLM exchanges that can be relayed, session cookies, mail, an altered "
        "logon page) travels in the clear."
    ),
    remediation=(
        "Tick Require SSL on every Exchange virtual directory (and on the Default Web Site), "
        "then either answer port 80 only with a redirect to the HTTPS URL or close it at the "
        "firewall or reverse proxy."
    ),
    severity_rationale=(
        "High: an active attacker on the path can read and alter the session and relay "
        "Windows authentication; critical findings cover the case where a password itself "
        "is invited in clear (http.basic_cleartext, http.form_cleartext)."
    ),
    references=(
        "Microsoft, Planning for Client Access Servers (Exchange 2007): Security Planning",
        "Microsoft Learn, Default settings for Exchange virtual directories",
    ),
    # Whether a URL is served in clear is an exposure question: a closed port 80 answers it.
    exposure=True,
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    all_endpoints = list(endpoints(evidence))
    over_https = {
        (e.item.host, e.url.role): read(e) for e in all_endpoints if e.item.scheme == "https"
    }
    outcomes = []
    for endpoint in all_endpoints:
        item = endpoint.item
        if item.scheme != "http":
            continue
        own = endpoint.url.transport_recommendations
        reading = read(endpoint)
        ids = (item.id,)
        if reading.answer in (Answer.TO_HTTPS, Answer.BLOCKED):
            # Redirecting plain HTTP to HTTPS, or refusing it (IIS "Require SSL" answers 403.4),
            # is exactly what the URL's SSL recommendation asks: the pass cites it.
            outcomes.append(Outcome(item.endpoint, CheckStatus.PASS, reading.reason, ids, own))
        elif reading.absent:
            outcomes.append(_not_in_cleartext(item.endpoint, ids, own, reading,
                                              over_https.get((item.host, endpoint.url.role))))
        elif reading.answer is Answer.SERVED:
            last = reading.last
            assert last is not None
            what = "an authentication challenge" if last.status == 401 else "content"
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.FAIL,
                f"plain HTTP serves {what} instead of redirecting to HTTPS", ids, own,
                observed=f"{describe(last)} over plain HTTP ({endpoint.signals.reason})",
            ))
        else:
            # No answer, an error page, or a plain-HTTP redirect not followed: what the
            # client ends up with is unknown.
            outcomes.append(Outcome(item.endpoint, CheckStatus.NOT_ASSESSED, reading.reason, ids, own))
    return outcomes


def _not_in_cleartext(
    endpoint: str, ids: tuple[str, ...], own: tuple[str, ...], reading: Reading,
    https: Reading | None,
) -> Outcome:
    """Plain HTTP refuses or has no such URL: what that proves depends on the HTTPS side."""
    if https is not None and https.usable:
        return Outcome(
            endpoint, CheckStatus.PASS,
            f"not served over plain HTTP ({reading.reason}); the service answers over HTTPS", ids, own,
        )
    if https is None or https.absent:
        # Cites the URL's SSL recommendation: with no such URL anywhere it has nothing to ask.
        return Outcome(endpoint, CheckStatus.NOT_APPLICABLE,
                       f"no such URL on this host: {reading.reason}", ids, own)
    # Nothing is served in clear, but whether the service exists over HTTPS is unknown:
    # the pass proves the port's behaviour, not the URL's SSL recommendation.
    return Outcome(
        endpoint, CheckStatus.PASS,
        f"nothing served over plain HTTP ({reading.reason}); over HTTPS: {https.reason}", ids,
    )
