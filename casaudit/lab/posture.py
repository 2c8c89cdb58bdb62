"""Postures: what an emulated Client Access server answers, as validated data.

A posture is a TOML file shipped in ``casaudit/lab/postures/``. It is read once,
checked key by key and turned into frozen dataclasses, so a typo in a posture
fails at load time with the key's dotted path instead of surfacing later as a
lab that silently answers 404. The servers in this package never look at raw
TOML.

Placeholders ``{host}``, ``{http_port}`` and ``{https_port}`` may appear in
header values and bodies; they are filled in when the lab's ports are known.
Only these three are recognised (bodies are HTML and CSS full of braces).
"""

from __future__ import annotations

import binascii
import ipaddress
import re
import ssl
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

PLACEHOLDERS = ("{host}", "{http_port}", "{https_port}")

#: Headers the server computes itself: a posture setting them would break framing.
_RESERVED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "date"})
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_POSTURE_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")

T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    """One canned HTTP answer."""

    status: int
    #: Reason phrase on the status line; IIS sends the standard phrase.
    reason: str
    #: (name, value) pairs in order; a name may repeat (WWW-Authenticate).
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    #: Answer with ``Location: https://{host}:{https_port}<request path>``.
    redirect_to_https: bool = False


@dataclass(frozen=True)
class Route:
    """A virtual directory: a case-insensitive path prefix and its reply."""

    #: Matched on whole path segments: ``/owa`` covers ``/OWA/`` and ``/owa/x``, not ``/owax``.
    path: str
    reply: Reply
    #: Methods answered with ``reply``; others get 405 with Allow. Empty: every method.
    methods: tuple[str, ...] = ()
    #: (user, password) this route accepts with Basic; then it answers ``authorized``.
    #: For test postures only: the lab records every Authorization header it receives.
    credentials: tuple[str, str] | None = None
    authorized: Reply | None = None


@dataclass(frozen=True)
class HttpService:
    """One listener (plain HTTP or HTTPS) and everything it serves."""

    #: Added to every response of this listener, before the reply's own headers.
    headers: tuple[tuple[str, str], ...]
    #: The answer for a path no route covers.
    default: Reply
    routes: tuple[Route, ...] = ()
    #: IIS answering a request without Host (HTTP/1.0): ``{host}`` becomes this address, and a
    #: request for a route's directory without its trailing slash gets IIS's courtesy 301 to
    #: ``<scheme>://<address><path>/``. None: ``{host}`` stays the posture's host name.
    hostless_address: str | None = None
    #: Path prefixes (whole segments, as routes match) whose requests get no answer at all:
    #: the connection is held until the client gives up, as behind a proxy whose backend
    #: for those URLs is stuck. Checked before the routes.
    hang_paths: tuple[str, ...] = ()
    #: Header names (lower-cased) removed from every answer, as a reverse proxy that strips
    #: X-OWA-Version does: routes keep what Exchange sends, the proxy takes it out.
    strip_headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class NtlmIdentity:
    """What the emulated Windows host answers an NTLM NEGOTIATE with (MS-NLMP CHALLENGE).

    A route whose reply offers ``WWW-Authenticate: NTLM`` answers a request carrying
    ``Authorization: NTLM <Type-1>`` with 401 and ``WWW-Authenticate: NTLM <Type-2>`` built
    from these fields, laid out as Windows lays them out.
    """

    netbios_domain: str
    netbios_computer: str
    dns_domain: str
    dns_computer: str
    dns_tree: str
    #: Windows major.minor.build (6.0.6002 Server 2008 SP2, 6.3.9600, 10.0.17763); None: no VERSION.
    os_version: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class SrvRecord:
    name: str
    target: str
    port: int
    priority: int = 0
    weight: int = 0
    #: "http" or "https": the record carries the lab's port for that listener
    #: (``port = "https"`` in TOML), since the lab binds port 0.
    port_of: str | None = None


@dataclass(frozen=True)
class VirtualHost:
    """What one lab name answers when it differs from the posture's own services.

    The lab has one HTTP and one HTTPS port; requests are told apart by the Host
    header, as IIS bindings do. A scheme left out falls back to the posture's.
    """

    name: str
    http: HttpService | None = None
    https: HttpService | None = None


TLS_PROTOCOL_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
CERT_ISSUERS = ("ca", "intermediate", "self")
SIGNATURE_HASHES = ("sha256", "sha384", "sha1")
#: The listeners that speak TLS (the cleartext mail ones after STARTTLS/STLS).
TLS_SERVICES = ("https", "imaps", "pop3s", "imap", "pop3")
TLSLITE_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2")


@dataclass(frozen=True)
class TlsliteSettings:
    """Listeners served by tlslite-ng instead of OpenSSL, and what they accept.

    For what this machine's OpenSSL no longer implements: SSL 3.0, RC4, 3DES at a
    sane security level. Same certificate chain and key as the OpenSSL listeners
    (`TlsSettings`), so only suites for an RSA certificate can be listed.
    """

    #: Services (``https``, ``imaps``, ``pop3s``, ``imap``, ``pop3``) this stack serves.
    services: tuple[str, ...]
    #: IANA suite names in the server's order of preference, as Schannel lists them
    #: (``TLS_RSA_WITH_RC4_128_SHA``...). Each is accepted in every version in range that
    #: defines it: SHA-256/384 and GCM suites from TLS 1.2, ECDHE ones from TLS 1.0.
    suites: tuple[str, ...]
    min_version: str = "SSLv3"
    max_version: str = "TLSv1.2"


@dataclass(frozen=True)
class TlsSettings:
    """The HTTPS listener's certificate, protocol versions and cipher suites.

    The defaults are a sound modern server: a 2048-bit RSA leaf signed with
    SHA-256 by the lab CA, valid from an hour ago for a year, TLS 1.2 and 1.3
    with Python's default (ECDHE-only) suites. Each other value reproduces a flaw
    real servers show.
    """

    #: Subject alternative names; the first is also the common name.
    names: tuple[str, ...]
    valid_days: int = 365
    #: When validity starts, in days from the lab's start: -400 with valid_days 365
    #: gives a certificate expired 35 days ago; 10 gives one not yet valid.
    starts_days: int = 0
    key_bits: int = 2048
    signature_hash: str = "sha256"
    #: Who signs the leaf: the lab root CA ("ca"), an intermediate CA under it
    #: ("intermediate"), or the leaf itself ("self": self-signed).
    issuer: str = "ca"
    #: With issuer "intermediate": False leaves it out of the chain sent (incomplete chain).
    send_intermediate: bool = True
    min_version: str = "TLSv1.2"
    max_version: str = "TLSv1.3"
    #: OpenSSL cipher string for TLS 1.2 and below; None keeps Python's ECDHE-only default.
    ciphers: str | None = None
    #: Listeners served by tlslite-ng instead (versions and ciphers above then do not apply
    #: to them); None: OpenSSL serves every TLS listener.
    tlslite: TlsliteSettings | None = None


@dataclass(frozen=True)
class MailService:
    """A POP3 or IMAP4 listener: what it says, and what it accepts before and after TLS.

    STARTTLS (IMAP) or STLS (POP3) works exactly when ``capabilities`` lists it, so
    the posture cannot advertise one thing and do another by accident.
    """

    #: ``imap`` or ``pop3``.
    protocol: str
    #: TLS from the first byte (993, 995) with the lab's certificate.
    implicit_tls: bool
    #: The whole first line, e.g. ``* OK The Microsoft Exchange IMAP4 service is ready.``
    greeting: str
    #: Before TLS on a cleartext port, the only list on an implicit-TLS port: IMAP
    #: CAPABILITY tokens (``AUTH=NTLM``, ``LOGINDISABLED``...) or POP3 CAPA lines.
    capabilities: tuple[str, ...]
    #: After STARTTLS/STLS (cleartext ports only).
    capabilities_tls: tuple[str, ...] = ()
    #: POP3: the reply to ``USER <name>`` before TLS (``+OK`` when plaintext login is allowed).
    user_before_tls: str = "+OK"
    #: Base64 NTLM CHALLENGE_MESSAGE answered to a Type-1, when NTLM is offered.
    ntlm_challenge: str | None = None
    #: Said on LOGOUT/QUIT.
    goodbye: str = ""

    def offers_starttls(self) -> bool:
        word = "STARTTLS" if self.protocol == "imap" else "STLS"
        return not self.implicit_tls and any(c.upper() == word for c in self.capabilities)


#: The mail sections a posture may have: section -> (protocol, implicit TLS).
MAIL_SECTIONS: Mapping[str, tuple[str, bool]] = {
    "pop3": ("pop3", False),
    "pop3s": ("pop3", True),
    "imap": ("imap", False),
    "imaps": ("imap", True),
}


@dataclass(frozen=True)
class Posture:
    """Everything the lab needs to emulate one Client Access configuration."""

    name: str
    summary: str
    host: str
    domain: str
    extra_names: tuple[str, ...] = ()
    srv: tuple[SrvRecord, ...] = ()
    tls: TlsSettings | None = None
    #: None: nothing listens for that scheme.
    http: HttpService | None = None
    https: HttpService | None = None
    #: None: nothing listens on that mail port (the lab points scans at a closed port).
    pop3: MailService | None = None
    pop3s: MailService | None = None
    imap: MailService | None = None
    imaps: MailService | None = None

    @property
    def mail(self) -> dict[str, MailService]:
        """The mail listeners the posture opens, by service name (``imap``, ``pop3s``...)."""
        return {name: getattr(self, name) for name in MAIL_SECTIONS if getattr(self, name)}
    #: None: NTLM Type-1 requests get the route's ordinary reply (no challenge).
    ntlm: NtlmIdentity | None = None
    #: Per-name services (``[vhosts."autodiscover.example.test"]``).
    vhosts: tuple[VirtualHost, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every DNS name the lab answers A queries for, host first, no duplicates."""
        names = (self.host, self.domain, f"autodiscover.{self.domain}", *self.extra_names)
        return tuple(dict.fromkeys(names))


def posture_names() -> list[str]:
    """Sorted names of the postures shipped with casaudit."""
    directory = resources.files("casaudit.lab") / "postures"
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in directory.iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    )


def load_posture(name_or_path: str | Path) -> Posture:
    """A shipped posture by name, or any posture file given as a Path or ``*.toml``."""
    if isinstance(name_or_path, Path) or str(name_or_path).endswith(".toml"):
        path = Path(name_or_path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read posture file {path}: {exc.strerror}") from None
        return parse_posture(text, source=str(path))
    shipped = posture_names()
    if name_or_path not in shipped:
        raise ValueError(f"unknown posture {name_or_path!r}; shipped postures: {', '.join(shipped)}")
    entry = resources.files("casaudit.lab") / "postures" / f"{name_or_path}.toml"
    return parse_posture(entry.read_text(encoding="utf-8"), source=f"{name_or_path}.toml")


def parse_posture(text: str, source: str = "<posture>") -> Posture:
    """Validate posture TOML; a ValueError names the source file and the offending key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    return _PostureReader(source).posture(data)


class _PostureReader:
    """Reads one posture document; every error message starts with source and key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, problem: str) -> ValueError:
        return ValueError(f"{self.source}: key {key!r}: {problem}")

    # -- generic typed accessors -------------------------------------------------

    def table(self, data: Any, key: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(data, dict):
            raise self.error(key, f"expected a table, got {type(data).__name__}")
        for name in data:
            if name not in allowed:
                where = f"{key}.{name}" if key else name
                raise self.error(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return data

    def required(self, data: Mapping[str, Any], key: str, prefix: str) -> Any:
        if key not in data:
            raise self.error(_join(prefix, key), "is required")
        return data[key]

    def string(self, value: Any, key: str, *, empty_ok: bool = False) -> str:
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {type(value).__name__}")
        if not value and not empty_ok:
            raise self.error(key, "must not be empty")
        return value

    def integer(self, value: Any, key: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {type(value).__name__}")
        if not low <= value <= high:
            raise self.error(key, f"must be from {low} to {high}, got {value}")
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {type(value).__name__}")
        return value

    def array(self, value: Any, key: str, item: Callable[[Any, str], T]) -> tuple[T, ...]:
        if not isinstance(value, list):
            raise self.error(key, f"expected an array, got {type(value).__name__}")
        return tuple(item(element, f"{key}[{index}]") for index, element in enumerate(value))

    def dns_name(self, value: Any, key: str, *, wildcard_ok: bool = False) -> str:
        name = self.string(value, key).lower().rstrip(".")
        labels = name.split(".")
        if wildcard_ok and labels[0] == "*":
            labels = labels[1:]
        if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels):
            raise self.error(key, f"{value!r} is not a DNS name with at least two labels")
        return name

    # -- posture sections -------------------------------------------------------------

    def posture(self, data: Mapping[str, Any]) -> Posture:
        allowed = {
            "name",
            "summary",
            "host",
            "domain",
            "extra_names",
            "dns",
            "tls",
            "http",
            "https",
            "bodies",
            *MAIL_SECTIONS,
            "ntlm",
            "vhosts",
        }
        data = self.table(data, "", allowed)
        name = self.string(self.required(data, "name", ""), "name")
        if not _POSTURE_NAME.match(name):
            raise self.error("name", "use lower-case letters, digits, '.' and '-'")
        host = self.dns_name(self.required(data, "host", ""), "host")
        domain = self.dns_name(self.required(data, "domain", ""), "domain")
        if host != domain and not host.endswith(f".{domain}"):
            raise self.error("host", f"{host!r} is not inside domain {domain!r}")
        bodies = self.bodies(data.get("bodies", {}))
        http = self.service(data["http"], "http", bodies) if "http" in data else None
        https = self.service(data["https"], "https", bodies) if "https" in data else None
        tls = self.tls(data["tls"]) if "tls" in data else None
        if https is not None and tls is None:
            tls = TlsSettings(names=(host,))
        posture = Posture(
            name=name,
            summary=self.string(self.required(data, "summary", ""), "summary"),
            host=host,
            domain=domain,
            extra_names=self.array(data.get("extra_names", []), "extra_names", self.dns_name),
            srv=self.dns(data.get("dns", {}), domain),
            tls=tls,
            http=http,
            https=https,
            **{name: self.mail(data[name], name) for name in MAIL_SECTIONS if name in data},
            ntlm=self.ntlm(data["ntlm"]) if "ntlm" in data else None,
            vhosts=self.vhosts(data.get("vhosts", {}), bodies, http, https),
        )
        if any(name not in posture.names for name in (v.name for v in posture.vhosts)):
            bad = next(v.name for v in posture.vhosts if v.name not in posture.names)
            raise self.error(f"vhosts.{bad}", "not a lab name: add it to extra_names")
        self.check_placeholders(posture)
        if posture.tls is not None and posture.tls.tlslite is not None:
            opened = {name for name in TLS_SERVICES if getattr(posture, name) is not None}
            for index, service in enumerate(posture.tls.tlslite.services):
                if service not in opened:
                    raise self.error(f"tls.tlslite.services[{index}]",
                                     f"the posture has no [{service}] listener")
        return posture

    def mail(self, value: Any, key: str) -> MailService:
        protocol, implicit = MAIL_SECTIONS[key]
        allowed = {"greeting", "capabilities", "ntlm_challenge", "goodbye"}
        if not implicit:
            allowed |= {"capabilities_tls"} | ({"user_before_tls"} if protocol == "pop3" else set())
        data = self.table(value, key, allowed)
        greeting = self.line(self.required(data, "greeting", key), f"{key}.greeting")
        capabilities = self.array(self.required(data, "capabilities", key), f"{key}.capabilities",
                                  self.line)
        service = MailService(
            protocol=protocol,
            implicit_tls=implicit,
            greeting=greeting,
            capabilities=capabilities,
            capabilities_tls=self.array(
                data.get("capabilities_tls", _after_tls(protocol, capabilities)),
                f"{key}.capabilities_tls", self.line,
            ),
            user_before_tls=self.line(data.get("user_before_tls", "+OK"), f"{key}.user_before_tls"),
            ntlm_challenge=(self.base64(data["ntlm_challenge"], f"{key}.ntlm_challenge")
                            if "ntlm_challenge" in data else None),
            goodbye=self.line(data.get("goodbye", ""), f"{key}.goodbye", empty_ok=True),
        )
        if "capabilities_tls" in data and not service.offers_starttls():
            word = "STARTTLS" if protocol == "imap" else "STLS"
            raise self.error(f"{key}.capabilities_tls", f"{key}.capabilities does not offer {word}")
        if service.ntlm_challenge is not None:
            lists = service.capabilities + service.capabilities_tls
            offered = (any(c.upper() == "AUTH=NTLM" for c in lists) if protocol == "imap"
                       else any(c.upper().startswith("SASL ") and "NTLM" in c.upper().split()
                                for c in lists))
            if not offered:
                raise self.error(f"{key}.ntlm_challenge", "NTLM is not offered in any capability list")
        return service

    def line(self, value: Any, key: str, *, empty_ok: bool = False) -> str:
        text = self.string(value, key, empty_ok=empty_ok)
        if any(c in text for c in "\r\n\0"):
            raise self.error(key, "must be one line (no CR, LF or NUL)")
        if len(text) > 2000:
            raise self.error(key, "longer than 2000 characters")
        return text

    def base64(self, value: Any, key: str) -> str:
        text = self.string(value, key)
        try:
            binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError):
            raise self.error(key, "is not base64") from None
        return text

    def vhosts(
        self,
        value: Any,
        bodies: Mapping[str, str],
        http: HttpService | None,
        https: HttpService | None,
    ) -> tuple[VirtualHost, ...]:
        if not isinstance(value, dict):
            raise self.error("vhosts", f"expected a table, got {type(value).__name__}")
        hosts = []
        for raw_name, table in value.items():
            key = f"vhosts.{raw_name}"
            name = self.dns_name(raw_name, key)
            data = self.table(table, key, {"http", "https"})
            for scheme, listener in (("http", http), ("https", https)):
                if scheme in data and listener is None:
                    raise self.error(f"{key}.{scheme}", f"the posture has no [{scheme}] listener")
            hosts.append(VirtualHost(
                name=name,
                http=self.service(data["http"], f"{key}.http", bodies) if "http" in data else None,
                https=self.service(data["https"], f"{key}.https", bodies) if "https" in data else None,
            ))
        return tuple(hosts)

    def bodies(self, value: Any) -> Mapping[str, str]:
        if not isinstance(value, dict):
            raise self.error("bodies", f"expected a table, got {type(value).__name__}")
        return {name: self.string(text, f"bodies.{name}", empty_ok=True) for name, text in value.items()}

    def dns(self, value: Any, domain: str) -> tuple[SrvRecord, ...]:
        data = self.table(value, "dns", {"srv"})
        records = self.array(data.get("srv", []), "dns.srv", self.srv_record)
        for index, record in enumerate(records):
            if record.name != domain and not record.name.endswith(f".{domain}"):
                raise self.error(f"dns.srv[{index}].name", f"not inside domain {domain!r}")
        return records

    def srv_record(self, value: Any, key: str) -> SrvRecord:
        data = self.table(value, key, {"name", "target", "port", "priority", "weight"})
        port = self.required(data, "port", key)
        port_of = port if port in ("http", "https") else None
        return SrvRecord(
            name=self.dns_name(self.required(data, "name", key), f"{key}.name"),
            target=self.dns_name(self.required(data, "target", key), f"{key}.target"),
            port=0 if port_of else self.integer(port, f"{key}.port", 0, 65535),
            priority=self.integer(data.get("priority", 0), f"{key}.priority", 0, 65535),
            weight=self.integer(data.get("weight", 0), f"{key}.weight", 0, 65535),
            port_of=port_of,
        )

    def tls(self, value: Any) -> TlsSettings:
        allowed = {
            "names", "valid_days", "starts_days", "key_bits", "signature_hash", "issuer",
            "send_intermediate", "min_version", "max_version", "ciphers", "tlslite",
        }
        data = self.table(value, "tls", allowed)
        names = self.array(
            self.required(data, "names", "tls"),
            "tls.names",
            lambda item, key: self.dns_name(item, key, wildcard_ok=True),
        )
        if not names:
            raise self.error("tls.names", "needs at least one name")
        days = self.integer(data.get("valid_days", 365), "tls.valid_days", 1, 3650)
        min_version = self.choice(data.get("min_version", "TLSv1.2"), "tls.min_version",
                                  TLS_PROTOCOL_VERSIONS)
        max_version = self.choice(data.get("max_version", "TLSv1.3"), "tls.max_version",
                                  TLS_PROTOCOL_VERSIONS)
        if TLS_PROTOCOL_VERSIONS.index(max_version) < TLS_PROTOCOL_VERSIONS.index(min_version):
            raise self.error("tls.max_version", f"{max_version} is below min_version {min_version}")
        issuer = self.choice(data.get("issuer", "ca"), "tls.issuer", CERT_ISSUERS)
        send = self.boolean(data.get("send_intermediate", True), "tls.send_intermediate")
        if not send and issuer != "intermediate":
            raise self.error("tls.send_intermediate", "only meaningful with issuer = \"intermediate\"")
        ciphers = None
        if "ciphers" in data:
            ciphers = self.string(data["ciphers"], "tls.ciphers")
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(f"{ciphers}:@SECLEVEL=0")
            except ssl.SSLError:
                raise self.error("tls.ciphers", f"{ciphers!r} selects no cipher suite this "
                                 "OpenSSL offers") from None
        return TlsSettings(
            names=names,
            valid_days=days,
            starts_days=self.integer(data.get("starts_days", 0), "tls.starts_days", -3650, 3650),
            key_bits=self.integer(data.get("key_bits", 2048), "tls.key_bits", 1024, 4096),
            signature_hash=self.choice(data.get("signature_hash", "sha256"), "tls.signature_hash",
                                       SIGNATURE_HASHES),
            issuer=issuer,
            send_intermediate=send,
            min_version=min_version,
            max_version=max_version,
            ciphers=ciphers,
            tlslite=self.tlslite(data["tlslite"]) if "tlslite" in data else None,
        )

    def tlslite(self, value: Any) -> TlsliteSettings:
        key = "tls.tlslite"
        data = self.table(value, key, {"services", "suites", "min_version", "max_version"})

        def names(name: str, item: Callable[[Any, str], str]) -> tuple[str, ...]:
            chosen = self.array(self.required(data, name, key), f"{key}.{name}", item)
            if not chosen:
                raise self.error(f"{key}.{name}", "needs at least one entry")
            return tuple(dict.fromkeys(chosen))

        settings = TlsliteSettings(
            services=names("services", lambda item, where: self.choice(item, where, TLS_SERVICES)),
            suites=names("suites", self.string),
            min_version=self.choice(data.get("min_version", "SSLv3"), f"{key}.min_version",
                                    TLSLITE_VERSIONS),
            max_version=self.choice(data.get("max_version", "TLSv1.2"), f"{key}.max_version",
                                    TLSLITE_VERSIONS),
        )
        if TLSLITE_VERSIONS.index(settings.max_version) < TLSLITE_VERSIONS.index(
                settings.min_version):
            raise self.error(f"{key}.max_version",
                             f"{settings.max_version} is below min_version {settings.min_version}")
        from casaudit.lab.tlslite_server import suite_ids

        try:
            suite_ids(settings.suites)
        except ValueError as exc:
            raise self.error(f"{key}.suites", str(exc)) from None
        return settings

    def choice(self, value: Any, key: str, allowed: tuple[str, ...]) -> str:
        text = self.string(value, key)
        if text not in allowed:
            raise self.error(key, f"{text!r} is not one of {', '.join(allowed)}")
        return text

    def ntlm(self, value: Any) -> NtlmIdentity:
        keys = ("netbios_domain", "netbios_computer", "dns_domain", "dns_computer", "dns_tree")
        data = self.table(value, "ntlm", {*keys, "os_version"})
        texts = {}
        for name in keys:
            text = self.string(self.required(data, name, "ntlm"), f"ntlm.{name}")
            if len(text) > 255 or any(ord(c) < 32 for c in text):
                raise self.error(f"ntlm.{name}", "at most 255 printable characters")
            texts[name] = text
        version = None
        if "os_version" in data:
            text = self.string(data["os_version"], "ntlm.os_version")
            parts = text.split(".")
            if len(parts) != 3 or not all(p.isdigit() for p in parts):
                raise self.error("ntlm.os_version", f"{text!r} is not MAJOR.MINOR.BUILD")
            major, minor, build = (int(p) for p in parts)
            if major > 255 or minor > 255 or build > 65535:
                raise self.error("ntlm.os_version", f"{text!r} does not fit the VERSION structure")
            version = (major, minor, build)
        return NtlmIdentity(**texts, os_version=version)

    def service(self, value: Any, key: str, bodies: Mapping[str, str]) -> HttpService:
        data = self.table(
            value, key, {"headers", "default", "routes", "hostless", "hang_paths", "strip_headers"}
        )
        default = self.reply(self.required(data, "default", key), f"{key}.default", bodies, extra=set())
        routes = self.array(
            data.get("routes", []),
            f"{key}.routes",
            lambda item, where: self.route(item, where, bodies),
        )
        seen: dict[str, str] = {}
        for index, route in enumerate(routes):
            where = f"{key}.routes[{index}].path"
            if route.path.lower() in seen:
                raise self.error(where, f"{route.path!r} repeats {seen[route.path.lower()]}")
            seen[route.path.lower()] = where
        return HttpService(
            headers=self.headers(data.get("headers", []), f"{key}.headers"),
            default=default,
            routes=routes,
            hostless_address=self.hostless(data["hostless"], f"{key}.hostless")
            if "hostless" in data else None,
            hang_paths=self.array(data.get("hang_paths", []), f"{key}.hang_paths", self.path),
            strip_headers=self.array(
                data.get("strip_headers", []), f"{key}.strip_headers", self.header_name
            ),
        )

    def hostless(self, value: Any, key: str) -> str:
        data = self.table(value, key, {"address"})
        text = self.string(self.required(data, "address", key), f"{key}.address")
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            raise self.error(f"{key}.address", f"{text!r} is not an IP address") from None

    def route(self, value: Any, key: str, bodies: Mapping[str, str]) -> Route:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {type(value).__name__}")
        normalised = self.path(self.required(value, "path", key), f"{key}.path")
        methods = self.array(value.get("methods", []), f"{key}.methods", self.method)
        if "methods" in value and not methods:
            raise self.error(f"{key}.methods", "leave it out to allow every method")
        reply = self.reply(value, key, bodies, extra={"path", "methods", "credentials", "authorized"})
        if ("credentials" in value) != ("authorized" in value):
            raise self.error(f"{key}.credentials", "credentials and authorized go together")
        credentials = None
        authorized = None
        if "credentials" in value:
            pair = self.array(value["credentials"], f"{key}.credentials", self.string)
            if len(pair) != 2 or ":" in pair[0]:
                raise self.error(f"{key}.credentials", "expected [user, password], no ':' in user")
            credentials = (pair[0], pair[1])
            authorized = self.reply(value["authorized"], f"{key}.authorized", bodies, extra=set())
        return Route(path=normalised, reply=reply, methods=methods,
                     credentials=credentials, authorized=authorized)

    def path(self, value: Any, key: str) -> str:
        """A URL path prefix without its trailing slash (``/`` stays ``/``)."""
        path = self.string(value, key)
        if not path.startswith("/") or any(c in path for c in "?# \t\r\n"):
            raise self.error(key, f"{path!r} must start with '/' and hold no query")
        return path.rstrip("/") or "/"

    def method(self, value: Any, key: str) -> str:
        method = self.string(value, key)
        if not _TOKEN.match(method):
            raise self.error(key, f"{method!r} is not an HTTP method token")
        return method.upper()

    def reply(self, value: Any, key: str, bodies: Mapping[str, str], extra: set[str]) -> Reply:
        allowed = {"status", "reason", "headers", "body", "body_ref", "redirect_to_https"}
        data = self.table(value, key, allowed | extra)
        status = self.integer(self.required(data, "status", key), f"{key}.status", 200, 599)
        if "reason" in data:
            reason = self.string(data["reason"], f"{key}.reason")
            if any(c in reason for c in "\r\n"):
                raise self.error(f"{key}.reason", "must not contain line breaks")
        else:
            try:
                reason = HTTPStatus(status).phrase
            except ValueError:
                raise self.error(f"{key}.reason", f"needed: {status} has no standard phrase") from None
        if "body" in data and "body_ref" in data:
            raise self.error(f"{key}.body_ref", "give either body or body_ref, not both")
        body = self.string(data.get("body", ""), f"{key}.body", empty_ok=True)
        if "body_ref" in data:
            ref = self.string(data["body_ref"], f"{key}.body_ref")
            if ref not in bodies:
                raise self.error(f"{key}.body_ref", f"no [bodies] entry named {ref!r}")
            body = bodies[ref]
        if status in (204, 304) and body:
            raise self.error(f"{key}.body", f"a {status} response has no body")
        headers = self.headers(data.get("headers", []), f"{key}.headers")
        redirect = self.boolean(data.get("redirect_to_https", False), f"{key}.redirect_to_https")
        if redirect and any(name.lower() == "location" for name, _ in headers):
            raise self.error(f"{key}.redirect_to_https", "conflicts with a Location header")
        return Reply(status=status, reason=reason, headers=headers, body=body, redirect_to_https=redirect)

    def header_name(self, value: Any, key: str) -> str:
        name = self.string(value, key)
        if not _TOKEN.match(name):
            raise self.error(key, f"{name!r} is not a header name")
        return name.lower()

    def headers(self, value: Any, key: str) -> tuple[tuple[str, str], ...]:
        return self.array(value, key, self.header)

    def header(self, value: Any, key: str) -> tuple[str, str]:
        if not isinstance(value, list) or len(value) != 2:
            raise self.error(key, "expected a [name, value] pair")
        name = self.string(value[0], f"{key}[0]")
        text = self.string(value[1], f"{key}[1]", empty_ok=True)
        if not _TOKEN.match(name):
            raise self.error(f"{key}[0]", f"{name!r} is not a header name")
        if name.lower() in _RESERVED_HEADERS:
            raise self.error(f"{key}[0]", f"{name} is set by the lab server itself")
        if any(c in text for c in "\r\n\0"):
            raise self.error(f"{key}[1]", "header values must not contain line breaks")
        return name, text

    def check_placeholders(self, posture: Posture) -> None:
        """A placeholder or redirect naming a listener the posture does not open is an error."""
        services = [("http", posture.http), ("https", posture.https)]
        for vhost in posture.vhosts:
            services += [(f"vhosts.{vhost.name}.http", vhost.http),
                         (f"vhosts.{vhost.name}.https", vhost.https)]
        for key, service in services:
            if service is None:
                continue
            replies = [(f"{key}.default", service.default)]
            replies += [(f"{key}.routes[{i}]", r.reply) for i, r in enumerate(service.routes)]
            replies += [(f"{key}.routes[{i}].authorized", r.authorized)
                        for i, r in enumerate(service.routes) if r.authorized is not None]
            texts = [(f"{key}.headers", v) for _, v in service.headers]
            for where, reply in replies:
                texts += [(f"{where}.headers", v) for _, v in reply.headers]
                texts.append((f"{where}.body", reply.body))
                if reply.redirect_to_https and posture.https is None:
                    raise self.error(f"{where}.redirect_to_https", "the posture has no [https]")
            for where, text in texts:
                if "{http_port}" in text and posture.http is None:
                    raise self.error(where, "uses {http_port} but the posture has no [http]")
                if "{https_port}" in text and posture.https is None:
                    raise self.error(where, "uses {https_port} but the posture has no [https]")


def _after_tls(protocol: str, capabilities: tuple[str, ...]) -> list[str]:
    """The default list after STARTTLS/STLS: the same, without the upgrade and LOGINDISABLED."""
    dropped = {"STARTTLS", "LOGINDISABLED"} if protocol == "imap" else {"STLS"}
    return [c for c in capabilities if c.upper() not in dropped]


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
