"""http.basic_offered: a Client Access URL offers Basic authentication over HTTPS."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from casaudit.web_checks import describe, endpoints, read, unusable

CHECK = CheckMeta(
    id="http.basic_offered",
    title="Basic authentication offered over HTTPS",
    severity=Severity.MEDIUM,
    effort=Effort.MEDIUM,
    recommendations=("CAS-14",),
    description=(
        "A Client Access URL answers an unauthenticated request over HTTPS with a 401 challenge "
        "that offers Basic authentication. TLS protects the password on the wire, but every "
        "request carries it, the endpoint accepts password guessing and spraying without a "
        "second factor, and the guide prefers Integrated Windows (or certificate) authentication."
    ),
    remediation=(
        "Disable Basic on the virtual directory where clients support Integrated Windows "
        "authentication or Modern Authentication (Set-ActiveSyncVirtualDirectory "
        "-BasicAuthEnabled $false, Set-OutlookAnywhere -IISAuthenticationMethods Negotiate,NTLM, "
        "...), or pre-authenticate at a reverse proxy."
    ),
    severity_rationale=(
        "Medium: no credential is exposed in transit, but Basic makes the endpoint a target "
        "for password spraying and credential replay; it is a preference the guide states, "
        "not an exposure like Basic over HTTP (critical, http.basic_cleartext)."
    ),
    references=(
        "Microsoft, Planning for Client Access Servers (Exchange 2007): Security Planning",
        "RFC 7617, The 'Basic' HTTP Authentication Scheme, section 4",
    ),
)


def _recommendations(role: str, owa_family: bool) -> tuple[str, ...]:
    if role == "activesync":
        return ("CAS-02",)
    return ("CAS-05",) if owa_family else ()


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for endpoint in endpoints(evidence):
        item = endpoint.item
        if item.scheme != "https":
            continue  # Basic on plain HTTP is http.basic_cleartext's finding.
        reading = read(endpoint)
        own = _recommendations(endpoint.url.role, endpoint.url.owa_family)
        if not reading.usable:
            outcomes.append(unusable(endpoint, reading, own))
            continue
        basic = [
            x for x in item.exchanges
            if x.url.startswith("https://") and x.status == 401 and "Basic" in x.auth_schemes
        ]
        if not basic:
            last = reading.last or item.exchanges[-1]
            offered = f" (offers {', '.join(last.auth_schemes)})" if last.auth_schemes else ""
            # Observed without Basic: that is what CAS-02 (ActiveSync) and CAS-05 (OWA) ask.
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.PASS,
                f"{reading.reason} without a Basic challenge{offered}", (item.id,), own,
            ))
            continue
        first = basic[0]
        outcomes.append(Outcome(
            item.endpoint, CheckStatus.FAIL, "a 401 over HTTPS offers Basic", (item.id,),
            own, observed=f"{describe(first)} offering {', '.join(first.auth_schemes)}",
        ))
    return outcomes
