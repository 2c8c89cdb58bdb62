"""http.hsts_weak: HSTS on OWA/ECP shorter than a year, or a redirect loop beside it."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from casaudit.web_checks import endpoints, read, unusable
from checks.http_hsts_missing import hsts

#: One year, the max-age Microsoft's Exchange HSTS article configures (and RFC 6797 section
#: 11.2 calls a reasonable long-term value).
ONE_YEAR = 31_536_000
#: Where Microsoft documents HSTS for Exchange: the browser-facing virtual directories.
BROWSER_ROLES = ("owa", "ecp")

CHECK = CheckMeta(
    id="http.hsts_weak",
    title="HSTS on OWA/ECP shorter than one year, or caught in a redirect loop",
    severity=Severity.LOW,
    effort=Effort.LOW,
    recommendations=("CAS-13",),
    description=(
        "Outlook on the web or the Exchange admin center sends Strict-Transport-Security, but "
        "with a max-age below one year (31536000 seconds, the value Microsoft's Exchange HSTS "
        "guidance sets), so a browser forgets it between visits and the first plain-HTTP "
        "request can be stripped again; or the URL's redirects come back to a URL already "
        "visited, the loop Microsoft warns of when IIS's redirectHttpToHttps is turned on "
        "together with HSTS for Exchange's sites. A missing header is http.hsts_missing's."
    ),
    remediation=(
        "Set max-age=31536000 (one year) in the HSTS settings of the Default Web Site in IIS, or "
        "on the reverse proxy; leave IIS's redirectHttpToHttps off on Exchange's sites and "
        "redirect plain HTTP to HTTPS as Microsoft's Exchange guidance describes, so no URL "
        "redirects back to itself."
    ),
    severity_rationale=(
        "Low: HSTS is a browser-side defence in depth for OWA/ECP users; a short max-age "
        "weakens it and a loop breaks logons, but neither exposes data by itself."
    ),
    references=(
        "Microsoft Learn, Configure HTTP Strict Transport Security (HSTS) in Exchange Server "
        "(max-age=31536000; do not combine with IIS redirectHttpToHttps)",
        "Microsoft Learn, IIS configuration reference: HSTS settings for a web site <hsts>",
        "RFC 6797, HTTP Strict Transport Security (HSTS), section 11.2",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for endpoint in endpoints(evidence):
        item = endpoint.item
        if item.scheme != "https" or item.role not in BROWSER_ROLES:
            continue
        own = endpoint.url.transport_recommendations
        reading = read(endpoint)
        stopped = item.redirect_stopped or ""
        if stopped.startswith("redirect loop"):
            # A loop is an answer of its own: the chain is the observation.
            chain = " -> ".join(f"{x.status} {x.url}" for x in item.exchanges[:6])
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.FAIL, f"its redirects loop ({stopped})", (item.id,), own,
                observed=f"{item.exchanges[0].method} {item.endpoint}: {chain}; {stopped}",
            ))
            continue
        if not reading.usable:
            outcomes.append(unusable(endpoint, reading, own))
            continue
        answered = [x for x in item.exchanges if x.status is not None and x.url.startswith("https://")]
        ages = [(age, x) for x in answered if (age := hsts(x)) is not None and age > 0]
        if not ages:
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.NOT_APPLICABLE,
                "no Strict-Transport-Security to judge (http.hsts_missing judges its absence)",
                (item.id,)))
            continue
        age, weakest = min(ages, key=lambda pair: pair[0])
        if age < ONE_YEAR:
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.FAIL, f"HSTS max-age={age}, below one year", (item.id,),
                own,
                observed=(f"{weakest.method} {weakest.url} answered {weakest.status} with "
                          f"Strict-Transport-Security max-age={age} ({_duration(age)}; one year "
                          f"is {ONE_YEAR})"),
            ))
            continue
        outcomes.append(Outcome(item.endpoint, CheckStatus.PASS,
                                f"Strict-Transport-Security max-age={age} (at least one year)",
                                (item.id,)))
    return outcomes


def _duration(seconds: int) -> str:
    if seconds >= 86_400:
        return f"{seconds // 86_400} days"
    if seconds >= 3_600:
        return f"{seconds // 3_600} hours"
    return f"{seconds} seconds"
