"""Helpers shared by the autodiscover.* checks (not a check: the catalog skips `_` modules)."""

from __future__ import annotations

from urllib.parse import urlsplit

from casaudit.evidence_autodiscover import AutodiscoverEvidence
from casaudit.model import EvidenceSet


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
