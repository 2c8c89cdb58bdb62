"""autodiscover.unreachable: no Autodiscover method Outlook uses leads to a working endpoint."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from checks._autodiscover import by_method, describe, unanswered

CHECK = CheckMeta(
    id="autodiscover.unreachable",
    title="No Autodiscover method leads to a working endpoint",
    severity=Severity.HIGH,
    effort=Effort.MEDIUM,
    recommendations=("CAS-11",),
    description=(
        "Outlook and mobile clients find their server settings through Autodiscover: "
        "https://<domain>/autodiscover/autodiscover.xml, "
        "https://autodiscover.<domain>/autodiscover/autodiscover.xml, the plain-HTTP redirect "
        "from http://autodiscover.<domain>, and the _autodiscover._tcp SRV record. When none "
        "of them answers like Autodiscover over HTTPS with a valid certificate, clients "
        "cannot configure themselves, and users are trained to click through warnings or "
        "type settings by hand."
    ),
    remediation=(
        "Publish https://autodiscover.<domain>/autodiscover/autodiscover.xml on the Client "
        "Access server or reverse proxy, with a certificate naming autodiscover.<domain>; "
        "alternatively add an _autodiscover._tcp.<domain> SRV record pointing at a name the "
        "certificate covers."
    ),
    severity_rationale=(
        "High: Outlook Anywhere, EWS, OAB and ActiveSync clients depend on it; a broken "
        "Autodiscover is an outage for new profiles and pushes users towards insecure "
        "workarounds."
    ),
    references=(
        "Microsoft, Planning Considerations for Exchange 2007 Web Services (Autodiscover)",
        "Microsoft, Autodiscover service in Exchange Server (lookup methods)",
        "MS-OXDISCO, Autodiscover HTTP Service Protocol, section 3.1.5",
    ),
)

#: The JSON v2 endpoint only hands out a URL and classic Outlook against on-premises
#: Exchange does not use it; it is recorded, not counted.
COUNTED = ("root_domain", "autodiscover_host", "http_redirect", "srv")


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for _domain, items in by_method(evidence).items():
        counted = [item for item in items if item.method in COUNTED]
        if not counted:
            continue
        endpoint = counted[0].endpoint
        ids = tuple(item.id for item in counted)
        summary = "; ".join(describe(item) for item in counted)
        working = [item for item in counted if item.working]
        open_questions = [item for item in counted if unanswered(item) is not None]
        if working:
            outcomes.append(Outcome(
                endpoint, CheckStatus.PASS,
                f"working: {', '.join(i.method.replace('_', ' ') for i in working)} ({summary})",
                ids,
            ))
        elif open_questions:
            # A method that gave no usable answer (timeout, reset, 5xx) might work: the
            # failure would rest on silence.
            outcomes.append(Outcome(
                endpoint, CheckStatus.NOT_ASSESSED,
                f"no method answered like Autodiscover, and {len(open_questions)} gave no usable "
                f"answer: {summary}",
                ids,
            ))
        else:
            # Every method was observed to fail (refused, NXDOMAIN, 404, wrong certificate...).
            outcomes.append(Outcome(
                endpoint, CheckStatus.FAIL, summary, ids,
                observed=f"every Autodiscover method failed: {summary}",
            ))
    return outcomes
