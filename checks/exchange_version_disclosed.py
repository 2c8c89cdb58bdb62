"""exchange.version_disclosed: anonymous answers tell anyone the Exchange build.

What fails is what the operator can stop serving (`Sighting.removable`): headers
such as X-OWA-Version, and the ECP export tool manifest, a static file any
stranger can fetch. Builds in OWA resource paths (``/owa/auth/15.2.2562/``) are
recorded but do not fail this check on their own: Exchange writes them into its logon page on every
version and no setting removes them, so flagging them would flag every Exchange
server and tell its operator nothing to do. The version checks still use them.

Each endpoint is judged on what it answered itself: a version seen on HTTPS
after plain HTTP redirected there is the HTTPS endpoint's, cited from the HTTPS
probes, never a second time from the plain-HTTP probe that followed the redirect.
"""

from __future__ import annotations

from casaudit.evidence.base import ErrorKind, EvidenceSet
from casaudit.evidence.http import HttpEvidence
from casaudit.identify import Identification, Sighting, identify, origin_of
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from casaudit.web_checks import at_own_origin, proves_something

CHECK = CheckMeta(
    id="exchange.version_disclosed",
    title="Exchange build disclosed to anonymous clients",
    severity=Severity.LOW,
    effort=Effort.LOW,
    # CAS-16 only on a failure (a visible build tells an attacker which flaws apply): not
    # disclosing a version proves nothing about running a supported one.
    recommendations=("CAS-15",),
    description=(
        "Anonymous responses carry the Exchange build or version in headers (X-OWA-Version, "
        "MS-Server-ActiveSync) or in the ECP export tool's deployment manifest "
        "(/ecp/Current/exporttool/...application, the full build). Anyone can match the "
        "build against the list of security updates and pick the flaws it still has, "
        "without sending a single exploit attempt. "
        "(Builds in OWA resource paths such as /owa/auth/<build>/ are part of every Exchange "
        "logon page and cannot be configured away; they are reported, not failed.)"
    ),
    remediation=(
        "Publish Exchange through a reverse proxy that removes X-OWA-Version, "
        "MS-Server-ActiveSync, X-FEServer, X-BEServer and X-AspNet-Version from responses "
        "(IIS: URL Rewrite outbound rules or requestFiltering removeServerHeader), and that "
        "does not publish /ecp to the Internet (or at least blocks /ecp/*/exporttool/). The "
        "build in OWA resource paths cannot be hidden: keep the build current instead, which "
        "is what makes its disclosure harmless."
    ),
    severity_rationale=(
        "Low: disclosure alone harms nothing, but it turns an Internet-wide search for a "
        "vulnerable build into a single request; its weight lies in the version checks."
    ),
    references=(
        "OWASP Secure Headers Project: headers to remove (X-OWA-Version, X-FEServer, X-BEServer)",
        "Microsoft, Exchange Server build numbers and release dates",
    ),
    # What strangers are told: every response read (a 404 too) is the observation.
    exposure=True,
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    identities = {ident.host: ident for ident in identify(evidence)}
    origins: dict[tuple[str, str], list[HttpEvidence]] = {}
    for item in evidence.of(HttpEvidence):
        origins.setdefault((item.host, origin_of(item.endpoint)), []).append(item)
    for (host, origin), items in origins.items():
        ident = identities[host]
        ids = tuple(item.id for item in items)
        everywhere = [s for s in ident.sightings if s.origin == origin and s.evidence_id in ids]
        seen = [s for s in everywhere if s.removable]
        if seen:
            what = _what(seen, ident)
            outcomes.append(Outcome(
                origin, CheckStatus.FAIL, f"the version is visible: {what}",
                tuple(dict.fromkeys(s.evidence_id for s in seen)), ("CAS-16",),
                observed=f"{what}, seen in: " + "; ".join(
                    f"{s.source} {s.value!r} at {s.url}" for s in seen[:4]
                ),
            ))
            continue
        if not any(proves_something(x) for item in items for x in at_own_origin(item)):
            errors = [item.error for item in items]
            if errors and all(e is not None and e.kind is ErrorKind.REFUSED for e in errors):
                outcomes.append(Outcome(origin, CheckStatus.NOT_APPLICABLE,
                                        "the port refused the connection: no response to read", ids))
            else:
                # Error pages (5xx) come from whatever stands in front: they show nothing.
                detail = next((e.detail for e in errors if e is not None), "only error answers (5xx)")
                outcomes.append(Outcome(origin, CheckStatus.NOT_ASSESSED,
                                        f"no usable HTTP answer ({detail})", ids))
            continue
        if everywhere:
            outcomes.append(Outcome(
                origin, CheckStatus.PASS,
                "neither a header nor the export tool manifest names the build; only "
                f"{_what(everywhere, ident)} shows in "
                f"{everywhere[0].source} (Exchange writes it into every logon page)",
                tuple(dict.fromkeys(s.evidence_id for s in everywhere)),
            ))
            continue
        hints = [h for h in ident.hints if h.origin == origin and h.evidence_id in ids]
        extra = ""
        if hints:
            extra = " (weak hints only: " + ", ".join(
                f"{h.source} {h.value!r}" for h in hints[:3]
            ) + ")"
        outcomes.append(Outcome(
            origin, CheckStatus.PASS,
            f"no Exchange build or version in {len(items)} responses{extra}", ids,
        ))
    return outcomes


def _what(seen: list[Sighting], ident: Identification) -> str:
    builds = {str(s.build) for s in seen if s.build is not None}
    if ident.build is not None and str(ident.build.build) in builds:
        return ident.build.label
    if builds:
        return "build " + ", ".join(sorted(builds))
    products = {s.product for s in seen if s.product}
    return " or ".join(sorted(products)) if products else f"version {seen[0].value!r}"
