"""autodiscover.cleartext: Autodiscover content (not just a redirect) served on plain HTTP."""

from __future__ import annotations

from casaudit.evidence_autodiscover import AutodiscoverEvidence
from casaudit.model import CheckMeta, CheckStatus, EvidenceSet, HttpEvidence, Outcome, Severity

CHECK = CheckMeta(
    id="autodiscover.cleartext",
    title="Autodiscover served over plain HTTP",
    severity=Severity.HIGH,
    recommendations=("CAS-11", "CAS-13"),
    description=(
        "An Autodiscover URL answers on plain HTTP with Autodiscover itself (a 401 asking "
        "for credentials, or Autodiscover XML) instead of only redirecting to HTTPS. A client "
        "that answers the challenge sends the mailbox password across the network in the "
        "clear, and the settings it receives (server names, URLs) can be altered on the way "
        "to send the client anywhere."
    ),
    remediation=(
        "Tick Require SSL on the Autodiscover virtual directory and let plain HTTP only "
        "redirect (302) to https://.../autodiscover/autodiscover.xml, or close port 80."
    ),
    severity_rationale=(
        "High: credentials and client configuration over cleartext are open to anyone on "
        "the path; Autodiscover is what tells Outlook where to send its password."
    ),
    references=(
        "Microsoft, Security Planning for Client Access Servers (use SSL for all features)",
        "MS-OXDISCO 3.1.5.3: the HTTP redirect method must only redirect",
    ),
)

_MARK = "schemas.microsoft.com/exchange/autodiscover"


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for item in evidence.of(AutodiscoverEvidence):
        if item.method != "http_redirect":
            continue
        if item.failure == "cleartext_content":
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.FAIL, item.detail, (item.id,),
                observed=f"GET {item.endpoint} {item.detail}",
            ))
        elif item.failure == "timeout":
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.NOT_ASSESSED, f"no answer: {item.detail}", (item.id,)))
        else:
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.PASS,
                f"no Autodiscover content on plain HTTP: {item.detail}", (item.id,)))
    for http in evidence.of(HttpEvidence):
        if http.role != "autodiscover" or http.scheme != "http":
            continue
        if http.error is not None:
            status = CheckStatus.PASS if http.error.kind == "refused" else CheckStatus.NOT_ASSESSED
            outcomes.append(Outcome(http.endpoint, status, http.error.detail, (http.id,)))
            continue
        served = [
            exchange for exchange in http.exchanges
            if exchange.url.startswith("http://")
            and (exchange.status == 401 or _MARK in exchange.body_excerpt)
        ]
        if served:
            first = served[0]
            what = "a 401 challenge" if first.status == 401 else "Autodiscover XML"
            outcomes.append(Outcome(
                http.endpoint, CheckStatus.FAIL, f"{what} over plain HTTP", (http.id,),
                observed=f"{first.method} {first.url} answered {first.status} with {what} over "
                f"plain HTTP",
            ))
        else:
            last = http.exchanges[-1]
            outcomes.append(Outcome(
                http.endpoint, CheckStatus.PASS,
                f"{last.url} answered {last.status} with no Autodiscover content in cleartext",
                (http.id,),
            ))
    return outcomes
