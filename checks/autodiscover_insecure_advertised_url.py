"""autodiscover.insecure_advertised_url: a URL the settings advertise is http:// or fails TLS."""

from __future__ import annotations

from urllib.parse import urlsplit

from casaudit.evidence.autodiscover import AdvertisedUrl, AutodiscoverEvidence
from casaudit.evidence.base import EvidenceSet, endpoint_url
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from checks._autodiscover import by_method

CHECK = CheckMeta(
    id="autodiscover.insecure_advertised_url",
    title="Autodiscover advertises a URL that is not HTTPS or whose certificate fails",
    severity=Severity.HIGH,
    effort=Effort.MEDIUM,
    recommendations=("CAS-11", "CAS-13"),
    description=(
        "With a mailbox's credentials, Autodiscover returns the URLs Outlook and mobile "
        "clients will use: EWS, the offline address book, ActiveSync, OWA, the Outlook "
        "Anywhere host. A client follows them as given. An http:// URL makes it send its "
        "credentials and mail in the clear; an https URL whose certificate does not verify "
        "for its name gets a warning users learn to click through."
    ),
    remediation=(
        "Set the virtual directories' ExternalUrl (Set-WebServicesVirtualDirectory, "
        "Set-OabVirtualDirectory, Set-ActiveSyncVirtualDirectory, Set-OwaVirtualDirectory) "
        "and the Outlook Anywhere external host name to https:// URLs on names the "
        "certificate covers, with SSL required for Outlook Anywhere."
    ),
    severity_rationale=(
        "High: every client that uses Autodiscover is configured with this URL and sends "
        "the user's credentials to it."
    ),
    references=(
        "Microsoft, POX Autodiscover response for Exchange (EwsUrl, OABUrl, OWAUrl, EXPR)",
        "Microsoft, Security Planning for Client Access Servers (use SSL for all features)",
    ),
)


def _judge(advertised: AdvertisedUrl, evidence_id: str) -> Outcome:
    where = f"{advertised.protocol} {advertised.setting}"
    endpoint = advertised.url
    if advertised.host and advertised.port:
        path = urlsplit(advertised.url).path or "/"
        endpoint = endpoint_url(advertised.scheme, advertised.host, advertised.port, path)
    if advertised.scheme == "http":
        return Outcome(endpoint, CheckStatus.FAIL, f"{where} is plain http://", (evidence_id,),
                       observed=f"Autodiscover advertises {where} = {advertised.url} over plain HTTP")
    if advertised.scheme != "https":
        return Outcome(endpoint, CheckStatus.FAIL, f"{where} is not an https URL", (evidence_id,),
                       observed=f"Autodiscover advertises {where} = {advertised.url}")
    if not advertised.in_scope:
        return Outcome(endpoint, CheckStatus.NOT_ASSESSED,
                       f"{where} is on {advertised.host}, outside the target's names: not contacted; "
                       "audit it as a target of its own", (evidence_id,))
    certificate = advertised.certificate
    if certificate is None or certificate.verified is None:
        why = certificate.detail if certificate else "not checked"
        return Outcome(endpoint, CheckStatus.NOT_ASSESSED, f"{where}: no TLS handshake ({why})",
                       (evidence_id,))
    if certificate.verified is False:
        return Outcome(endpoint, CheckStatus.FAIL,
                       f"{where}: certificate failed ({certificate.problem})", (evidence_id,),
                       ("CAS-17",),
                       observed=f"Autodiscover advertises {where} = {advertised.url}, whose "
                       f"certificate does not verify: {certificate.detail}")
    return Outcome(endpoint, CheckStatus.PASS, f"{where}: https with a verified certificate",
                   (evidence_id,))


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for _domain, items in by_method(evidence).items():
        attempts = [(item, item.authenticated) for item in items if item.authenticated is not None]
        if not attempts:
            # Without --authenticated nothing was probed for this check: no row at all (the
            # recommendation says what it would take), rather than a row about nothing.
            continue
        sent = [(item, attempt) for item, attempt in attempts if attempt.sent]
        first: AutodiscoverEvidence = items[0]
        if not sent:
            reason = ("credentials were withheld from every method: "
                      + "; ".join(f"{i.method}: {a.withheld}" for i, a in attempts))
            outcomes.append(Outcome(first.endpoint, CheckStatus.NOT_ASSESSED, reason,
                                    tuple(i.id for i in items)))
            continue
        seen: set[str] = set()
        for item, attempt in sent:
            for advertised in attempt.advertised:
                if advertised.url in seen:
                    continue
                seen.add(advertised.url)
                outcomes.append(_judge(advertised, item.id))
        if not seen:
            outcomes.append(Outcome(first.endpoint, CheckStatus.NOT_ASSESSED,
                                    "the authenticated answers advertised no URL",
                                    tuple(item.id for item, _ in sent)))
    return outcomes
