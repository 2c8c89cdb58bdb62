"""autodiscover.url_failed: one of the two Autodiscover URLs the planning guide names fails."""

from __future__ import annotations

from casaudit.evidence.autodiscover import (
    ABSENT_FAILURES,
    CERTIFICATE_FAILURES,
    GUIDE_METHODS,
    AutodiscoverEvidence,
)
from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from checks._autodiscover import unanswered

CHECK = CheckMeta(
    id="autodiscover.url_failed",
    title="An Autodiscover URL named by the planning guide fails",
    severity=Severity.LOW,
    effort=Effort.MEDIUM,
    recommendations=("CAS-11",),
    description=(
        "The guide says clients try https://<domain>/autodiscover/autodiscover.xml and "
        "https://autodiscover.<domain>/autodiscover/autodiscover.xml. This one does not answer "
        "like Autodiscover (a 401 to an anonymous request, or Autodiscover XML): it answers "
        "404, an HTML page, a catch-all proxy's page, fails TLS, or presents a certificate "
        "for another name. Outlook then waits for it, or shows a certificate warning, before "
        "trying the next method."
    ),
    remediation=(
        "Serve /autodiscover/autodiscover.xml on this name from the Client Access server "
        "(or publish it on the reverse proxy) with a certificate that names it, or make the "
        "name not resolve / refuse connections so clients move on at once. A web site on the "
        "bare domain should not answer /autodiscover/ with its own pages."
    ),
    severity_rationale=(
        "Low: the other URL or another method may still work; the failure costs time, and a "
        "certificate warning on it teaches users to accept warnings."
    ),
    references=(
        "Microsoft, Planning Considerations for Exchange 2007 Web Services (Autodiscover)",
        "Microsoft KB3211279, Outlook 2016 Autodiscover order",
    ),
)

def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for item in evidence.of(AutodiscoverEvidence):
        if item.method not in GUIDE_METHODS:
            continue
        if item.working:
            outcomes.append(Outcome(item.endpoint, CheckStatus.PASS, item.detail, (item.id,)))
        elif (why := unanswered(item)) is not None:
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.NOT_ASSESSED,
                f"could not be judged ({(item.failure or 'no answer').replace('_', ' ')}): {why}",
                (item.id,),
            ))
        elif item.failure in ABSENT_FAILURES:
            # What the remediation asks for when the URL is not served: clients move on at once.
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.NOT_APPLICABLE,
                f"no Autodiscover URL here to fail ({item.failure.replace('_', ' ')}: "
                f"{item.detail}); clients move on at once", (item.id,),
            ))
        else:
            extra = ("CAS-17",) if item.failure in CERTIFICATE_FAILURES else ()
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.FAIL,
                f"{(item.failure or 'failed').replace('_', ' ')}: {item.detail}",
                (item.id,), extra,
                observed=f"{item.endpoint} failed as an Autodiscover URL "
                f"({(item.failure or '').replace('_', ' ')}): {item.detail}",
            ))
    return outcomes
