"""http.form_cleartext: a logon form served on plain HTTP, or one that posts to an http:// URL."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from casaudit.web_checks import Answer, endpoints, read, unusable

CHECK = CheckMeta(
    id="http.form_cleartext",
    title="Logon form served or posted over cleartext HTTP",
    severity=Severity.CRITICAL,
    effort=Effort.LOW,
    recommendations=("CAS-05",),
    description=(
        "A Client Access URL serves a forms-based logon page (a form with a password field) "
        "on plain HTTP, or serves one whose form posts to an http:// URL. The user name and "
        "password typed into it cross the network in the clear, and a page served over HTTP "
        "can be altered on the way to post them anywhere."
    ),
    remediation=(
        "Require SSL on the Outlook Web Access virtual directories and redirect plain HTTP to "
        "HTTPS (or close port 80). Behind an SSL-offloading load balancer or reverse proxy, "
        "make sure the logon page's form action and redirects are rewritten to https:// URLs."
    ),
    severity_rationale=(
        "Critical: like Basic over HTTP, anyone on the path reads the domain password the "
        "user types; a logon form is an invitation to send it."
    ),
    references=(
        "Microsoft, Planning for Client Access Servers (Exchange 2007): Planning Considerations "
        "for Outlook Web Access",
        "OWASP ASVS 4.0, V9.1.1 (TLS for all client connectivity)",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for endpoint in endpoints(evidence):
        item = endpoint.item
        own = endpoint.url.transport_recommendations
        reading = read(endpoint)
        if not reading.usable:
            outcomes.append(unusable(endpoint, reading, own))
            continue
        forms = [(x, x.logon_form) for x in endpoint.own_chain if x.logon_form is not None]
        if not forms:
            if reading.answer in (Answer.TO_HTTPS, Answer.BLOCKED) and item.scheme == "http":
                # Plain HTTP hands the browser to HTTPS or refuses it: no form can be
                # served in clear here (the HTTPS side is judged on its own).
                outcomes.append(Outcome(item.endpoint, CheckStatus.PASS,
                                        f"{reading.reason}: no logon form in cleartext", (item.id,)))
            else:
                outcomes.append(Outcome(item.endpoint, CheckStatus.NOT_APPLICABLE,
                                        f"{reading.reason}: no logon form served", (item.id,)))
            continue
        bad = [
            (x, form) for x, form in forms
            if x.url.startswith("http://") or form.posts_cleartext
        ]
        if bad:
            page, form = bad[0]
            where = "served over plain HTTP" if page.url.startswith("http://") else "served"
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.FAIL,
                "a logon form is served over plain HTTP or posts to an http:// URL",
                (item.id,), own,
                observed=(
                    f"{page.method} {page.url} answered {page.status} with a logon form {where}, "
                    f"posting ({form.method}) to {form.action_url or repr(form.action)}"
                ),
            ))
            continue
        page, form = forms[0]
        outcomes.append(Outcome(
            item.endpoint, CheckStatus.PASS,
            f"the logon form at {page.url} is served over HTTPS and posts to {form.action_url}",
            (item.id,),
        ))
    return outcomes
