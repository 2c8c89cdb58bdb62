"""http.basic_cleartext: a Client Access URL on plain HTTP asks for Basic credentials."""

from __future__ import annotations

from casaudit.exchange import ROLE_BY_NAME
from casaudit.model import CheckMeta, CheckStatus, EvidenceSet, HttpEvidence, Outcome, Severity

CHECK = CheckMeta(
    id="http.basic_cleartext",
    title="Basic authentication offered over cleartext HTTP",
    severity=Severity.CRITICAL,
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
    for item in evidence.of(HttpEvidence):
        url = ROLE_BY_NAME.get(item.role)
        if item.scheme != "http" or url is None:
            # HTTPS is another check's business; so is the baseline (not a Client Access URL).
            continue
        # A failure here breaks the URL's own SSL recommendation too; a pass does
        # not prove it (a logon form may still be served in clear), so passes
        # cite only this check's own recommendation.
        own = url.transport_recommendations
        if item.error is not None:
            if item.error.kind == "refused":
                outcomes.append(Outcome(
                    item.endpoint, CheckStatus.PASS,
                    "the port refused the connection: nothing is served in cleartext",
                    (item.id,),
                ))
            else:
                outcomes.append(Outcome(
                    item.endpoint, CheckStatus.NOT_ASSESSED,
                    f"no HTTP answer ({item.error.detail})", (item.id,), own,
                ))
            continue
        offending = [
            exchange for exchange in item.exchanges
            if exchange.url.startswith("http://")
            and exchange.status == 401
            and "Basic" in exchange.auth_schemes
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
        last = item.exchanges[-1]
        answer = f"answered {last.status}" if last.status else "gave no answer"
        outcomes.append(Outcome(
            item.endpoint, CheckStatus.PASS,
            f"{last.url} {answer} without a Basic challenge in cleartext", (item.id,),
        ))
    return outcomes
