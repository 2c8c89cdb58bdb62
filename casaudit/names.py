"""The names an organisation's clients use, as pure functions (knowledge, no I/O).

Shared by the planner (which invents the names a scan contacts) and the checks
(which tell the target's own names from disclosed ones), so that a check never
imports the planner.
"""

from __future__ import annotations

import ipaddress


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def mail_domain_problem(host: str, domain: str | None) -> str | None:
    """Why no mail domain can be used for `host` (given `domain`, or derived), else None.

    Autodiscover is found from the mail domain (autodiscover.<domain>, _autodiscover._tcp.<domain>):
    an IP address has none, so a host given as an address needs its domain named.
    """
    if domain is not None and is_ip_literal(domain):
        return f"the mail domain {domain!r} is an IP address: give the organisation's domain name"
    if domain is None and is_ip_literal(host):
        return (f"{host!r} is an IP address, so it has no mail domain to look Autodiscover up in: "
                "name the domain too")
    return None


def default_domain(host: str) -> str:
    """mail.example.com -> example.com; a bare name or an IP stays as it is."""
    if is_ip_literal(host):
        return host
    labels = host.split(".")
    return ".".join(labels[1:]) if len(labels) > 2 else host


def own_names(host: str, domain: str | None = None) -> frozenset[str]:
    """The host, the mail domain (by default the host's parent) and autodiscover.<domain>."""
    domain = domain or default_domain(host)
    return frozenset({host, domain, f"autodiscover.{domain}"})
