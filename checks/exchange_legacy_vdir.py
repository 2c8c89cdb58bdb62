"""exchange.legacy_vdir: /exchange, /exchweb (or /public where it does not belong) answer."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.exchange import exchange_major
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from casaudit.web_checks import endpoints, exposure_outcome

CHECK = CheckMeta(
    id="exchange.legacy_vdir",
    title="Legacy Exchange virtual directory reachable from the Internet",
    severity=Severity.LOW,
    effort=Effort.LOW,
    recommendations=("CAS-07",),
    description=(
        "A legacy Outlook Web Access URL of the Exchange 2000/2003 era (/exchange, /exchweb, "
        "or /public on Exchange 2013 or later, which has no such directory) answers from the "
        "Internet. These directories exist only for mailboxes and public folders on old "
        "servers; published without need they add old code (WebDAV, Exprox) and another "
        "place to try passwords."
    ),
    remediation=(
        "Once no Exchange 2000/2003 mailbox or public folder is left, remove the legacy "
        "virtual directories or stop publishing them at the firewall or reverse proxy."
    ),
    severity_rationale=(
        "Low: attack surface rather than an exposure in itself; how these URLs are "
        "protected in transit and which authentication they offer is judged by the "
        "http.* checks."
    ),
    references=(
        "Microsoft, Planning for Client Access Servers (Exchange 2007): Planning Considerations "
        "for Outlook Web Access",
        "Microsoft TechNet bb885041, Outlook Web Access and Exchange 2007, Exchange 2003, "
        "and Exchange 2000 Coexistence",
    ),
    exposure=True,
)

_GENERATION = {6: "Exchange 2000/2003", 8: "Exchange 2007", 14: "Exchange 2010"}


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    major = exchange_major(evidence)
    for endpoint in endpoints(evidence):
        if not endpoint.url.legacy:
            continue
        outcome = exposure_outcome(endpoint, f"the legacy {endpoint.url.path} directory")
        if outcome.status is CheckStatus.FAIL and endpoint.url.role == "public":
            outcome = _public(outcome, major)
        outcomes.append(outcome)
    return outcomes


def _public(outcome: Outcome, major: int | None) -> Outcome:
    """/public is a default directory up to Exchange 2010; it fails only where it should not exist."""
    if major is None:
        return Outcome(
            outcome.endpoint, CheckStatus.NOT_ASSESSED,
            "/public answers but the Exchange version is unknown: it is a default directory "
            "up to Exchange 2010", outcome.evidence,
        )
    if major < 15:
        return Outcome(
            outcome.endpoint, CheckStatus.PASS,
            f"/public answers, a default directory of {_GENERATION.get(major, 'this version')}",
            outcome.evidence,
        )
    return Outcome(
        outcome.endpoint, CheckStatus.FAIL,
        "/public answers although Exchange 2013 and later have no such directory",
        outcome.evidence, outcome.recommendations,
        observed=f"{outcome.observed}; the front end is Exchange {major}.x",
    )
