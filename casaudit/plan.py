"""The only place URLs and ports are invented, and where scope is decided.

A scan's target is a host and a mail domain; the plan turns it into the list of
probe tasks, each with a stable evidence id, so evidence ids are the same from
one scan of the same target to the next.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from casaudit.errors import UsageError
from casaudit.exchange import CLIENT_ACCESS_URLS

DEFAULT_PORTS: Mapping[str, int] = {
    "http": 80,
    "https": 443,
    "pop3": 110,
    "pop3s": 995,
    "imap": 143,
    "imaps": 993,
}

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def normalise_host(text: str, what: str = "HOST") -> str:
    """A DNS name or IP literal, lower-cased; anything else is a usage error."""
    name = text.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        pass
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise UsageError(f"{what} {text!r} is not a valid host name or IP address")
    return name


def default_domain(host: str) -> str:
    """mail.example.com -> example.com; a bare name or an IP stays as it is."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    return ".".join(labels[1:]) if len(labels) > 2 else host


def parse_port_override(text: str) -> tuple[str, int]:
    service, sep, port = text.partition("=")
    service = service.strip().lower()
    if not sep or service not in DEFAULT_PORTS:
        raise UsageError(
            f"--port expects SERVICE=PORT with SERVICE one of {', '.join(DEFAULT_PORTS)}; "
            f"got {text!r}"
        )
    if not port.strip().isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--port {text!r}: the port must be a number from 1 to 65535")
    return service, int(port)


@dataclass(frozen=True)
class Target:
    host: str
    domain: str
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    #: The mailbox address Autodiscover is asked about (--email), if given.
    email: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The names clients of this organisation use: host, autodiscover host, domain."""
        names = [self.host]
        if self.domain != self.host:
            names += [f"autodiscover.{self.domain}", self.domain]
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Scope:
    """The hosts casaudit may talk to for one target.

    A redirect, SRV record or advertised URL pointing elsewhere is recorded as
    evidence and not followed.
    """

    names: frozenset[str]

    @classmethod
    def of(cls, target: Target) -> Scope:
        return cls(frozenset(target.names))

    def allows(self, host: str) -> bool:
        return host.lower().rstrip(".").strip("[]") in self.names


def endpoint_url(scheme: str, host: str, port: int, path: str = "") -> str:
    """The endpoint form of the JSON contract: scheme, name, explicit port, path."""
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}{path}"


@dataclass(frozen=True)
class HttpProbeTask:
    evidence_id: str
    scheme: str
    host: str
    port: int
    path: str
    role: str
    method: str

    @property
    def url(self) -> str:
        return endpoint_url(self.scheme, self.host, self.port, self.path)


def plan_http(target: Target) -> list[HttpProbeTask]:
    """Every Client Access URL on plain HTTP and on HTTPS for the target host.

    Evidence ids carry the probe family ("http-001"), so adding another family
    never renumbers this one's.
    """
    tasks = []
    number = 1
    for scheme in ("http", "https"):
        for url in CLIENT_ACCESS_URLS:
            tasks.append(
                HttpProbeTask(
                    evidence_id=f"http-{number:03d}",
                    scheme=scheme,
                    host=target.host,
                    port=target.ports[scheme],
                    path=url.path,
                    role=url.role,
                    method=url.method,
                )
            )
            number += 1
    return tasks


# --------------------------------------------------------------------------- autodiscover

AUTODISCOVER_PATH = "/autodiscover/autodiscover.xml"
AUTODISCOVER_JSON_PATH = "/autodiscover/autodiscover.json"
#: A path no Exchange serves: a 200 there reveals a catch-all proxy.
CANARY_PATH = "/casaudit-canary-7d1f3b/autodiscover/autodiscover.xml"
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@([A-Za-z0-9.-]{1,253})$")


def parse_email(text: str) -> tuple[str, str]:
    """`user@domain` -> (address, domain); anything else is a usage error."""
    match = _EMAIL.match(text.strip())
    if not match:
        raise UsageError(f"--email expects an address like user@example.com, got {text!r}")
    domain = normalise_host(match.group(1), "--email domain")
    return f"{text.strip().rpartition('@')[0]}@{domain}", domain


def probe_address(target: Target) -> str:
    """The address Autodiscover is asked about: --email, else a made-up one in the domain.

    A fabricated address gets the same anonymous answer (a 401 or an error 600)
    as a real one; no real mailbox is named unless the user gives one.
    """
    return target.email or f"casaudit-probe@{target.domain}"


@dataclass(frozen=True)
class AutodiscoverTask:
    evidence_id: str
    #: root_domain | autodiscover_host | http_redirect | srv | json_v2
    method: str
    order: int
    domain: str
    email: str
    #: The URL tried first; for srv the DNS name queried (no URL until the answer).
    url: str
    scheme: str = "https"
    host: str = ""
    port: int = 0


def plan_autodiscover(target: Target) -> list[AutodiscoverTask]:
    """Every Autodiscover method Outlook uses for the mail domain, in Outlook's order."""
    domain, email = target.domain, probe_address(target)
    https, http = target.ports["https"], target.ports["http"]
    auto = f"autodiscover.{domain}"
    json_path = f"{AUTODISCOVER_JSON_PATH}?Email={quote(email, safe='@')}&Protocol=AutodiscoverV1"
    rows = [
        ("root_domain", endpoint_url("https", domain, https, AUTODISCOVER_PATH), "https", domain, https),
        ("autodiscover_host", endpoint_url("https", auto, https, AUTODISCOVER_PATH), "https", auto, https),
        ("http_redirect", endpoint_url("http", auto, http, AUTODISCOVER_PATH), "http", auto, http),
        ("srv", f"dns://_autodiscover._tcp.{domain}:53/SRV", "dns", f"_autodiscover._tcp.{domain}", 53),
        ("json_v2", endpoint_url("https", auto, https, json_path), "https", auto, https),
    ]
    return [
        AutodiscoverTask(
            evidence_id=f"ad-{order:03d}", method=method, order=order, domain=domain,
            email=email, url=url, scheme=scheme, host=host, port=port,
        )
        for order, (method, url, scheme, host, port) in enumerate(rows, start=1)
    ]
