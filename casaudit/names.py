"""The names an organisation's clients use, as pure functions (knowledge, no I/O).

Shared by the planner (which invents the names a scan contacts) and the checks
(which tell the target's own names from disclosed ones), so that a check never
imports the planner.
"""

from __future__ import annotations

import ipaddress


def default_domain(host: str) -> str:
    """mail.example.com -> example.com; a bare name or an IP stays as it is."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    return ".".join(labels[1:]) if len(labels) > 2 else host


def own_names(host: str, domain: str | None = None) -> frozenset[str]:
    """The host, the mail domain (by default the host's parent) and autodiscover.<domain>."""
    domain = domain or default_domain(host)
    return frozenset({host, domain, f"autodiscover.{domain}"})
