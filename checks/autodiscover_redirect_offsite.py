"""autodiscover.redirect_offsite: an Autodiscover redirect or SRV record leaves the organisation."""

from __future__ import annotations

from urllib.parse import urljoin

from casaudit.evidence.autodiscover import AutodiscoverEvidence
from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from checks._autodiscover import host_of, in_organisation, unanswered

CHECK = CheckMeta(
    id="autodiscover.redirect_offsite",
    title="Autodiscover redirects or points outside the organisation's domain",
    severity=Severity.MEDIUM,
    effort=Effort.MEDIUM,
    recommendations=("CAS-11",),
    description=(
        "The HTTP redirect method, an Autodiscover URL's redirect or the _autodiscover._tcp "
        "SRV record sends clients to a host outside the mail domain. Outlook follows it after "
        "a prompt users learn to accept, then sends the mailbox credentials to that host: a "
        "third party (a hoster, a lapsed domain, an attacker who took over the DNS record) "
        "receives them."
    ),
    remediation=(
        "Point the redirect and the SRV record at a name inside the mail domain that the "
        "organisation controls (autodiscover.<domain> or the Client Access host), with a "
        "certificate for that name. If a provider hosts Autodiscover, document it and make "
        "sure its name is still registered to it."
    ),
    severity_rationale=(
        "Medium: credentials would go to a host the organisation may not control, but only "
        "after a client-side prompt and only for clients that reach this method."
    ),
    references=(
        "MS-OXDISCO 3.1.5: the client warns the user of a redirection",
        "Microsoft, Autodiscover service in Exchange Server (HTTP redirect and SRV methods)",
    ),
)


def _pointers(item: AutodiscoverEvidence) -> list[tuple[str, str]]:
    """(what, host) for every place this method sends a client to."""
    found: list[tuple[str, str]] = []
    for exchange in item.exchanges:
        if exchange.status in (301, 302, 303, 307, 308):
            for location in exchange.header_values("location")[:1]:
                try:
                    target = urljoin(exchange.url, location.strip())
                except ValueError:
                    continue
                found.append((f"{exchange.status} from {exchange.url} to {target}", host_of(target)))
    if item.srv is not None:
        for record in item.srv.records:
            if record.target not in ("", "."):
                found.append((f"SRV {item.srv.name} -> {record.target}:{record.port}", record.target))
    return found


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for item in evidence.of(AutodiscoverEvidence):
        pointers = _pointers(item)
        offsite = [what for what, host in pointers if host and not in_organisation(host, item.domain)]
        if offsite:
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.FAIL, f"outside {item.domain}: {offsite[0]}", (item.id,),
                observed=f"{item.method.replace('_', ' ')} points outside {item.domain}: "
                f"{'; '.join(offsite[:3])}",
            ))
        elif pointers:
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.PASS, f"stays inside {item.domain}: {pointers[0][0]}",
                (item.id,)))
        elif (why := unanswered(item)) is not None:
            # No usable answer (timeout, reset, 5xx, a failed SRV query): a redirect may hide there.
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.NOT_ASSESSED, f"no usable answer: {why}", (item.id,)))
        else:
            # An answer without a redirect, a refused port, NXDOMAIN or an SRV record saying
            # "no service": observably nothing to follow, hence nothing to judge (never a pass).
            outcomes.append(Outcome(
                item.endpoint, CheckStatus.NOT_APPLICABLE,
                f"no redirect and no SRV target to follow: {item.detail}", (item.id,)))
    return outcomes
