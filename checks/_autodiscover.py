"""Helpers shared by the autodiscover.* checks (not a check: the catalog skips `_` modules)."""

from __future__ import annotations

from urllib.parse import urlsplit

from casaudit.evidence.autodiscover import (
    NO_ANSWER_FAILURES,
    AutodiscoverEvidence,
    AutodiscoverVerdict,
    Failure,
)
from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.dns import SrvError


def by_method(evidence: EvidenceSet) -> dict[str, list[AutodiscoverEvidence]]:
    """Autodiscover evidence grouped by mail domain, in Outlook's order."""
    domains: dict[str, list[AutodiscoverEvidence]] = {}
    for item in evidence.of(AutodiscoverEvidence):
        domains.setdefault(item.domain, []).append(item)
    for items in domains.values():
        items.sort(key=lambda item: item.order)
    return domains


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def in_organisation(host: str, domain: str) -> bool:
    """The mail domain itself or a name under it."""
    host, domain = host.lower().rstrip("."), domain.lower().rstrip(".")
    return host == domain or host.endswith(f".{domain}")


def describe(item: AutodiscoverEvidence) -> str:
    text = f"{item.method.replace('_', ' ')}: {item.verdict}"
    return text + (f" ({item.failure.replace('_', ' ')})" if item.failure else "")


def unanswered(item: AutodiscoverEvidence) -> str | None:
    """Why this method's outcome proves nothing, or None when it rests on an observed answer.

    A method the probe could not judge (`unknown`: a timeout, a target out of scope),
    a failure that is no answer at all (reset, garbage, a body cut short), a DNS
    server that failed the SRV query, and a 5xx (an Autodiscover URL answering 503
    is not a working Autodiscover, nor a proof that none is there) all leave the
    question open.
    """
    if item.verdict is AutodiscoverVerdict.WORKING:
        return None
    if item.verdict is AutodiscoverVerdict.UNKNOWN or item.failure in NO_ANSWER_FAILURES:
        return item.detail or (item.failure or "no answer").replace("_", " ")
    if item.method == "srv" and item.srv is not None and item.srv.error in (SrvError.TIMEOUT, SrvError.DNS):
        return f"the SRV query failed: {item.srv.detail or item.srv.error}"
    last = item.exchanges[-1] if item.exchanges else None
    if item.failure is Failure.UNEXPECTED_STATUS and last is not None and (last.status or 0) >= 500:
        return f"{last.url} answered {last.status}, a server error that proves nothing"
    return None
