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


# --------------------------------------------------------------------------- TLS

#: (service, STARTTLS protocol, Client Access features) for every TLS service a client uses.
TLS_SERVICES: tuple[tuple[str, str | None, tuple[str, ...]], ...] = (
    ("https", None, tuple(url.label for url in CLIENT_ACCESS_URLS)),
    ("imaps", None, ("IMAP4 over TLS",)),
    ("pop3s", None, ("POP3 over TLS",)),
    ("imap", "IMAP", ("IMAP4 with STARTTLS",)),
    ("pop3", "POP3", ("POP3 with STLS",)),
)


@dataclass(frozen=True)
class TlsServiceTask:
    """One TLS service for one name: the host on every port, other client names on HTTPS.

    `name_role` says why the name is scanned: `host`, `autodiscover`
    (autodiscover.<domain>) or `domain`. Only the host's own services are
    `primary`; another name on HTTPS needs its certificate checked (the name
    must be covered), and needs a full scan only if it resolves elsewhere.
    """

    evidence_id: str
    service: str
    host: str
    name_role: str
    port: int
    starttls: str | None
    features: tuple[str, ...]

    @property
    def primary(self) -> bool:
        return self.name_role == "host"

    @property
    def endpoint(self) -> str:
        return endpoint_url(self.service, self.host, self.port)


def plan_tls(target: Target) -> list[TlsServiceTask]:
    """The host's five TLS services, then HTTPS for autodiscover.<domain> and <domain>."""
    tasks: list[TlsServiceTask] = []
    for service, starttls, features in TLS_SERVICES:
        tasks.append(TlsServiceTask(
            f"tls-{len(tasks) + 1:03d}", service, target.host, "host", target.ports[service],
            starttls, features,
        ))
    for name in target.names[1:]:
        role = "autodiscover" if name.startswith("autodiscover.") else "domain"
        tasks.append(TlsServiceTask(
            f"tls-{len(tasks) + 1:03d}", "https", name, role, target.ports["https"], None,
            ("Autodiscover",),
        ))
    return tasks
