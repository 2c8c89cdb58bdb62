"""http.cleartext_served: an Exchange URL answers on plain HTTP instead of redirecting or refusing."""

from __future__ import annotations

import dataclasses

from casaudit.model import CheckMeta, CheckStatus, EvidenceSet, Outcome, Severity
from casaudit.web_checks import describe, endpoints, unanswered

CHECK = CheckMeta(
    id="http.cleartext_served",
    title="Client Access URL served over cleartext HTTP",
    severity=Severity.HIGH,
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
)

#: A plain-HTTP answer with one of these statuses serves the service, not a refusal.
_SERVED = frozenset({200, 201, 202, 203, 204, 206, 207, 401, 449})


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for endpoint in endpoints(evidence):
        item = endpoint.item
        if item.scheme != "http":
            continue
        own = endpoint.url.transport_recommendations
        refused = "the port refused the connection: nothing is served in cleartext"
        if (outcome := unanswered(endpoint, refused)) is not None:
            if outcome.status is CheckStatus.PASS:
                # A closed port 80 is what the URL's SSL recommendation asks: it counts as met.
                outcome = dataclasses.replace(outcome, recommendations=own)
            outcomes.append(outcome)
            continue
        chain = endpoint.own_chain
        if (target := endpoint.leaves_for_https) is not None:
            # Redirecting plain HTTP to HTTPS is exactly what CAS-01/04/06/08/11/12 ask of the
            # URL, so this pass cites them; the other passes below prove nothing about SSL.
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.PASS, f"plain HTTP redirects to {target}", (item.id,),
                own,
            ))
            continue
        last = chain[-1]
        if last.status not in _SERVED:
            if last.status in (301, 302, 303, 307, 308) and item.redirect_stopped:
                outcomes.append(Outcome(
                    item.endpoint, CheckStatus.NOT_ASSESSED,
                    f"{describe(last)}, a redirect not followed ({item.redirect_stopped})",
                    (item.id,),
                ))
            else:
                outcomes.append(Outcome(
                    item.endpoint, CheckStatus.PASS,
                    f"{describe(last)}: nothing of the service is served in cleartext",
                    (item.id,),
                ))
            continue
        if not endpoint.signals.found:
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.PASS,
                f"not an Exchange endpoint: {endpoint.signals.reason}", (item.id,),
            ))
            continue
        what = "an authentication challenge" if last.status == 401 else "content"
        outcomes.append(Outcome(
            item.endpoint, CheckStatus.FAIL,
            f"plain HTTP serves {what} instead of redirecting to HTTPS",
            (item.id,), own,
            observed=f"{describe(last)} over plain HTTP ({endpoint.signals.reason})",
        ))
    return outcomes
