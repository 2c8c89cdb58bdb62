"""http.basic_cleartext: a Client Access URL on plain HTTP asks for Basic credentials."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from casaudit.web_checks import endpoints, read, unusable

CHECK = CheckMeta(
    id="http.basic_cleartext",
    title="Basic authentication offered over cleartext HTTP",
    severity=Severity.CRITICAL,
    effort=Effort.LOW,
    recommendations=("CAS-14",),
    description=(
        "A Client Access URL answers on plain HTTP with a 401 challenge offering Basic "
        "authentication. A client that answers it sends the user name and password, only "
        "base64-encoded, across the network in the clear."
    ),
    remediation=(
        "Require SSL on the virtual directory (IIS: Require SSL) and redirect plain HTTP to "
        "HTTPS, or close port 80 at the firewall or reverse proxy. Prefer Integrated Windows "
        "authentication to Basic where the clients support it."
    ),
    severity_rationale=(
        "Critical: anyone on the path reads reusable domain credentials; Basic over "
        "cleartext is an exposure, not a preference."
    ),
    references=(
        "Microsoft, Planning for Client Access Servers (Exchange 2007): Security Planning",
        "RFC 7617, The 'Basic' HTTP Authentication Scheme, section 4",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for endpoint in endpoints(evidence):
        item = endpoint.item
        if item.scheme != "http":
            continue  # HTTPS is http.basic_offered's business.
        # A failure here breaks the URL's own SSL recommendation too; a pass does
        # not prove it (a logon form may still be served in clear), so passes
        # cite only this check's own recommendation.
        own = endpoint.url.transport_recommendations
        reading = read(endpoint)
        if not reading.usable:
            outcomes.append(unusable(endpoint, reading, own))
            continue
        offending = [
            exchange for exchange in endpoint.own_chain
            if exchange.status == 401 and "Basic" in exchange.auth_schemes
        ]
        if offending:
            first = offending[0]
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.FAIL,
                "a 401 over plain HTTP offers Basic",
                (item.id,), own,
                observed=(
                    f"{first.method} {first.url} answered {first.status} offering "
                    f"{', '.join(first.auth_schemes)} over plain HTTP"
                ),
            ))
            continue
        outcomes.append(Outcome(
            item.endpoint, CheckStatus.PASS,
            f"{reading.reason}: no Basic challenge in cleartext", (item.id,),
        ))
    return outcomes
