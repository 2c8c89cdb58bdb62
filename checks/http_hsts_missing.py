"""http.hsts_missing: an HTTPS Client Access URL answers without Strict-Transport-Security."""

from __future__ import annotations

import re

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.http import HttpExchange
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from casaudit.web_checks import endpoints, read, unusable

_MAX_AGE = re.compile(r"(?:^|;)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:;|$)", re.IGNORECASE)

CHECK = CheckMeta(
    id="http.hsts_missing",
    title="HTTPS Client Access URL without HSTS",
    severity=Severity.LOW,
    effort=Effort.LOW,
    recommendations=("CAS-13",),
    description=(
        "The HTTPS answer carries no Strict-Transport-Security header (or one with max-age=0). "
        "Browsers then keep trying plain HTTP first, so an attacker on the path can strip TLS "
        "and serve the OWA logon form in clear text (SSL stripping)."
    ),
    remediation=(
        "Send 'Strict-Transport-Security: max-age=31536000' (add includeSubDomains once every "
        "subdomain has HTTPS) from the Default Web Site in IIS (HSTS settings, IIS 10 and later) "
        "or from the reverse proxy, on every HTTPS response."
    ),
    severity_rationale=(
        "Low: it protects browser users (OWA) against TLS stripping; ActiveSync, EWS, Outlook "
        "Anywhere and Autodiscover clients connect to https:// URLs and ignore the header."
    ),
    references=(
        "RFC 6797, HTTP Strict Transport Security (HSTS)",
        "Microsoft, Exchange Server and HSTS (Exchange Team Blog, 2022)",
    ),
)


def hsts(exchange: HttpExchange) -> int | None:
    """The max-age of the first Strict-Transport-Security header, None without a usable one."""
    for value in exchange.header_values("strict-transport-security"):
        match = _MAX_AGE.search(value)
        if match:
            return int(match.group(1))
    return None


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    # Only Client Access URLs that exist: a 404 or the catch-all answer of a path that
    # cannot exist (the baseline) protects nothing, and judging it would repeat one
    # finding per probed path on a server that is not Exchange.
    for endpoint in endpoints(evidence):
        item = endpoint.item
        if item.scheme != "https":
            continue
        own = endpoint.url.transport_recommendations
        reading = read(endpoint)
        if not reading.usable:
            # A closed port or a URL that is not there protects nothing; an error page or
            # a timeout shows nothing of the headers the service sends.
            outcomes.append(unusable(endpoint, reading, own))
            continue
        answered = [x for x in item.exchanges if x.status is not None and x.url.startswith("https://")]
        ages = [age for x in answered if (age := hsts(x)) is not None]
        if any(age > 0 for age in ages):
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.PASS,
                f"Strict-Transport-Security max-age={max(ages)}", (item.id,)))
            continue
        first = answered[0] if answered else item.first
        what = "with max-age=0, which removes HSTS" if ages else "without Strict-Transport-Security"
        outcomes.append(Outcome(
            item.endpoint, CheckStatus.FAIL, f"answered {what}", (item.id,), own,
            observed=f"{first.method} {first.url} answered {first.status} {what}",
        ))
    return outcomes
