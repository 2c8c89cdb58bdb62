"""The only place URLs and ports are invented, and where scope is decided.

A scan's target is a host and a mail domain; the plan turns it into the list of
probe tasks, each with a stable evidence id, so evidence ids are the same from
one scan of the same target to the next. Pure helpers it shares with the
checks live elsewhere: the endpoint form of evidence (`endpoint_url`, in
`casaudit.evidence`) and the default mail domain (`casaudit.names`).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from casaudit.errors import UsageError
from casaudit.evidence.autodiscover import AUTODISCOVER_PATH
from casaudit.evidence.base import endpoint_url
from casaudit.exchange import BASELINE_ROLE, BUILD_CARRIERS, CLIENT_ACCESS_URLS, service_request

DEFAULT_PORTS: Mapping[str, int] = {
    "http": 80,
    "https": 443,
    "pop3": 110,
    "pop3s": 995,
    "imap": 143,
    "imaps": 993,
}

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


#: How the command line sets a port; a targets file passes its own (`ports = { https = 443 }`).
PORT_OPTION = "--port {service}={port}"
_SCHEME_SERVICES = {"http": "http", "https": "https", "pop": "pop3", "pop3": "pop3", "pop3s": "pop3s",
                    "pops": "pop3s", "imap": "imap", "imaps": "imaps"}


def normalise_host(text: str, what: str = "HOST", port_syntax: str = PORT_OPTION) -> str:
    """A DNS name or IP literal, lower-cased; anything else is a usage error, which says how
    to give a URL's or a `host:port`'s parts when that is what `text` is."""
    name = _host_or_none(text)
    if name is not None:
        return name
    hint = _url_or_port_hint(text.strip(), port_syntax)
    if hint is not None:
        raise UsageError(f"{what} {text!r} is a host name, not {hint}")
    raise UsageError(f"{what} {text!r} is not a valid host name or IP address")


def _host_or_none(text: str) -> str | None:
    name = text.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        pass
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        return None
    return name


def _url_or_port_hint(text: str, port_syntax: str) -> str | None:
    """"a URL: give mail.example.com ..." for https://mail.example.com/, and the like for
    mail.example.com:443 or [::1]:443; None when `text` is neither."""
    scheme, is_url, rest = text.partition("://")
    if is_url:
        authority = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
        service = _SCHEME_SERVICES.get(scheme.lower(), "https")
    else:
        authority, service = text, None
    host_text, port_text = _split_authority(authority)
    host = _host_or_none(host_text)
    if host is None or (not is_url and not port_text):
        return None
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None
    if port is not None:
        service = service or _service_for(port)
        how = f"give {host} and the port with {port_syntax.format(service=service, port=port)}"
    else:
        how = f"give {host} (ports with {port_syntax.format(service='https', port=8443)})"
    return f"{'a URL' if is_url else 'a host:port'}: {how}"


def _split_authority(authority: str) -> tuple[str, str]:
    """host and port of "host:port" or "[v6]:port"; a bare IPv6 address has no port."""
    bracketed = re.fullmatch(r"\[([^\]]+)\](?::(.*))?", authority)
    if bracketed:
        return bracketed.group(1), bracketed.group(2) or ""
    if authority.count(":") == 1:
        host, _, port = authority.partition(":")
        return host, port
    return authority, ""


def _service_for(port: int) -> str:
    """The service that listens on `port` by default; https for a port of no default service."""
    return next((service for service, number in DEFAULT_PORTS.items() if number == port), "https")


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


@dataclass(frozen=True)
class HttpProbeTask:
    evidence_id: str
    scheme: str
    host: str
    port: int
    path: str
    role: str
    method: str
    #: Headers of the request the service expects (e.g. MS-RPCH's), over the probe's defaults.
    headers: tuple[tuple[str, str], ...] = ()
    #: The request body (Autodiscover's POX request); never a credential.
    body: bytes = b""

    @property
    def url(self) -> str:
        return endpoint_url(self.scheme, self.host, self.port, self.path)


def baseline_path(token: str | None = None) -> str:
    """A path no server has: `/casaudit-<random hex>/`, new for every scan."""
    return f"/casaudit-{token or secrets.token_hex(8)}/"


def plan_http(target: Target, baseline_token: str | None = None) -> list[HttpProbeTask]:
    """Every Client Access URL on plain HTTP and on HTTPS for the target host.

    Each URL is asked with the request its service expects; after the URLs of
    a scheme comes one random path that cannot exist (the baseline), so checks
    can tell an Exchange endpoint from a catch-all answering 200 everywhere.
    Evidence ids carry the probe family ("http-001"), so adding another family
    never renumbers this one's; the baseline's path is random, its id is not.
    """
    tasks = []
    number = 1
    baseline = baseline_path(baseline_token)
    for scheme in ("http", "https"):
        for url in CLIENT_ACCESS_URLS:
            headers, body = service_request(url, target.domain)
            tasks.append(
                HttpProbeTask(
                    evidence_id=f"http-{number:03d}",
                    scheme=scheme,
                    host=target.host,
                    port=target.ports[scheme],
                    path=url.path,
                    role=url.role,
                    method=url.method,
                    headers=headers,
                    body=body,
                )
            )
            number += 1
        tasks.append(
            HttpProbeTask(
                evidence_id=f"http-{number:03d}",
                scheme=scheme,
                host=target.host,
                port=target.ports[scheme],
                path=baseline,
                role=BASELINE_ROLE,
                method="GET",
            )
        )
        number += 1
    return tasks


def plan_build_carriers(target: Target) -> list[HttpProbeTask]:
    """One anonymous GET per build carrier on HTTPS; ids ``build-001``...

    HTTPS only: Exchange 2013 and later, which serve these, publish on HTTPS
    and redirect plain HTTP there; one request each is all the build needs.
    """
    return [
        HttpProbeTask(
            evidence_id=f"build-{number:03d}",
            scheme="https",
            host=target.host,
            port=target.ports["https"],
            path=carrier.path,
            role=carrier.role,
            method="GET",
        )
        for number, carrier in enumerate(BUILD_CARRIERS, start=1)
    ]


# --------------------------------------------------------------------------- mail (POP3, IMAP4)

#: (service, protocol, implicit TLS), in evidence order: mail-001 is POP3 on 110.
MAIL_SERVICES: tuple[tuple[str, str, bool], ...] = (
    ("pop3", "pop3", False),
    ("pop3s", "pop3", True),
    ("imap", "imap", False),
    ("imaps", "imap", True),
)


@dataclass(frozen=True)
class MailProbeTask:
    evidence_id: str
    #: The --port service name: pop3, pop3s, imap, imaps (also the endpoint's scheme).
    service: str
    protocol: str
    implicit_tls: bool
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return endpoint_url(self.service, self.host, self.port)


def plan_mail(target: Target) -> list[MailProbeTask]:
    """POP3 (110), POP3S (995), IMAP4 (143) and IMAPS (993), or their --port overrides."""
    return [
        MailProbeTask(
            evidence_id=f"mail-{number:03d}",
            service=service,
            protocol=protocol,
            implicit_tls=implicit,
            host=target.host,
            port=target.ports.get(service, DEFAULT_PORTS[service]),
        )
        for number, (service, protocol, implicit) in enumerate(MAIL_SERVICES, start=1)
    ]


# --------------------------------------------------------------------------- NTLM

#: Exchange URLs that typically offer NTLM (Windows authentication), most likely first:
#: Outlook Anywhere, EWS and Autodiscover offer it by default on every version; OAB and MAPI
#: are Windows-only vdirs; ActiveSync, ECP and OWA only when reconfigured (EXCHANGE-FACTS 4.2).
NTLM_PATHS: tuple[str, ...] = (
    "/rpc/rpcproxy.dll", "/EWS/Exchange.asmx", "/autodiscover/autodiscover.xml", "/oab",
    "/mapi/emsmdb", "/Microsoft-Server-ActiveSync", "/ecp", "/owa",
)


@dataclass(frozen=True)
class NtlmProbeTask:
    """One listener: its NTLM URLs tried in order, each with a fixed evidence id."""

    scheme: str
    host: str
    port: int
    #: (evidence id, path) in the order they are tried.
    attempts: tuple[tuple[str, str], ...]


def plan_ntlm(target: Target) -> list[NtlmProbeTask]:
    """HTTPS first, then plain HTTP; ids ``ntlm-001``... fixed per (scheme, path)."""
    tasks = []
    number = 1
    for scheme in ("https", "http"):
        attempts = []
        for path in NTLM_PATHS:
            attempts.append((f"ntlm-{number:03d}", path))
            number += 1
        tasks.append(NtlmProbeTask(scheme, target.host, target.ports[scheme], tuple(attempts)))
    return tasks


# --------------------------------------------------------------------------- Host-less requests

#: Paths IIS answers with its own address when a request names no Host (EXCHANGE-FACTS 10;
#: Metasploit owa_iis_internal_ip). Directories without a trailing slash draw IIS's redirect.
HOSTLESS_PATHS: tuple[str, ...] = (
    "/owa", "/Microsoft-Server-ActiveSync", "/autodiscover/autodiscover.xml",
    "/EWS/Exchange.asmx", "/ecp", "/rpc", "/OAB",
)


@dataclass(frozen=True)
class HostlessProbeTask:
    evidence_id: str
    scheme: str
    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        return endpoint_url(self.scheme, self.host, self.port, self.path)


def plan_hostless(target: Target) -> list[HostlessProbeTask]:
    """Every HOSTLESS_PATHS entry on HTTPS and plain HTTP; ids ``hostless-001``..."""
    tasks = []
    number = 1
    for scheme in ("https", "http"):
        for path in HOSTLESS_PATHS:
            tasks.append(HostlessProbeTask(
                f"hostless-{number:03d}", scheme, target.host, target.ports[scheme], path
            ))
            number += 1
    return tasks


# --------------------------------------------------------------------------- autodiscover

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
