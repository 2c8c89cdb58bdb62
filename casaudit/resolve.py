"""Name resolution for a scan: --resolve pins first, then --dns-server or the system.

Every connection casaudit opens asks this resolver, so a pin applies to every
port (as curl's --resolve does) while the name stays the one used for SNI, the
Host header and certificate matching. What an SRV query returned is evidence
(`casaudit.evidence.dns`); `SrvAnswer` and `SrvLookup` are re-exported here.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Mapping

from casaudit.errors import UsageError
from casaudit.evidence.dns import NXDOMAIN_DETAIL, SrvAnswer, SrvError, SrvLookup
from casaudit.plan import normalise_host


class ResolutionError(Exception):
    """The name has no address: carries the resolver's own words."""


def parse_pin(text: str) -> tuple[str, str]:
    """`NAME:ADDR` (ADDR may be an IPv6 literal, bracketed or not) -> (name, addr)."""
    name, sep, addr = text.partition(":")
    addr = addr.strip("[]")
    if not sep or not name or not addr:
        raise UsageError(f"--resolve expects NAME:ADDR, got {text!r}")
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise UsageError(f"--resolve {text!r}: {addr!r} is not an IP address") from None
    return normalise_host(name, "--resolve NAME"), addr


def parse_dns_server(text: str) -> tuple[str, int]:
    """`ADDR[:PORT]`, `[v6]:PORT` or a bare IPv6 address -> (addr, port)."""
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _port(port_text, text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--dns-server expects ADDR[:PORT] with an IP address, got {text!r}") from None
    return host, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"--dns-server {whole!r}: bad port {text!r}")
    return int(text)


class Resolver:
    """Thread-safe, caching resolver honouring pins and an optional DNS server."""

    def __init__(
        self,
        pins: Mapping[str, str] | None = None,
        dns_server: tuple[str, int] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._pins = {name.lower().rstrip("."): addr for name, addr in (pins or {}).items()}
        self._dns_server = dns_server
        self._timeout = timeout
        self._cache: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def how(self, name: str) -> str:
        """How `name` is resolved, in words for the report."""
        if name.lower().rstrip(".") in self._pins:
            return "pinned with --resolve"
        if self._dns_server:
            return f"DNS server {self._dns_server[0]} port {self._dns_server[1]}"
        return "system resolver"

    def resolve(self, name: str) -> tuple[str, ...]:
        key = name.lower().rstrip(".")
        try:
            ipaddress.ip_address(key.strip("[]"))
            return (key.strip("[]"),)
        except ValueError:
            pass
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        if key in self._pins:
            addresses: tuple[str, ...] = (self._pins[key],)
        elif self._dns_server:
            addresses = self._ask_dns_server(key)
        else:
            addresses = self._ask_system(key)
        with self._lock:
            self._cache[key] = addresses
        return addresses

    def _ask_dns_server(self, name: str) -> tuple[str, ...]:
        # dnspython is imported when a query is due: a scan whose names are all pinned
        # (--resolve) never pays for it.
        import dns.exception
        import dns.rdatatype
        import dns.resolver

        assert self._dns_server is not None
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [self._dns_server[0]]
        resolver.port = self._dns_server[1]
        resolver.lifetime = self._timeout
        addresses: list[str] = []
        problems: list[str] = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            try:
                answer = resolver.resolve(name, rdtype, search=False)
                addresses.extend(record.to_text() for record in answer)
            except dns.resolver.NoAnswer:
                continue
            except dns.resolver.NXDOMAIN:
                raise ResolutionError(NXDOMAIN_DETAIL) from None
            except dns.exception.Timeout:
                problems.append("no answer from the DNS server")
            except dns.exception.DNSException as exc:
                problems.append(str(exc) or type(exc).__name__)
        if not addresses:
            raise ResolutionError(problems[0] if problems else "no A or AAAA record")
        return tuple(addresses)

    def srv(self, name: str, limit: int = 20) -> SrvLookup:
        """The SRV records of `name`, from --dns-server or the system's configured servers.

        Pins (--resolve) hold addresses only, so an SRV query always goes to a
        DNS server. At most `limit` records are kept, sorted by priority, then
        by weight (highest first), as a client would try them.
        """
        import dns.exception
        import dns.rdatatype
        import dns.resolver

        if self._dns_server:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [self._dns_server[0]]
            resolver.port = self._dns_server[1]
            server = f"{self._dns_server[0]}:{self._dns_server[1]}"
        else:
            server = "system resolver"
            try:
                resolver = dns.resolver.Resolver()
            except dns.exception.DNSException as exc:
                return SrvLookup(name, server, error=SrvError.DNS,
                                 detail=f"no DNS configuration: {exc}"[:300])
        resolver.lifetime = self._timeout
        try:
            answer = resolver.resolve(name, dns.rdatatype.SRV, search=False)
        except dns.resolver.NXDOMAIN:
            return SrvLookup(name, server, error=SrvError.NXDOMAIN, detail=NXDOMAIN_DETAIL)
        except dns.resolver.NoAnswer:
            return SrvLookup(name, server, error=SrvError.NO_RECORD, detail="the name has no SRV record")
        except dns.exception.Timeout:
            return SrvLookup(name, server, error=SrvError.TIMEOUT, detail="no answer from the DNS server")
        except dns.exception.DNSException as exc:
            return SrvLookup(name, server, error=SrvError.DNS, detail=(str(exc) or type(exc).__name__)[:300])
        records = [
            SrvAnswer(
                priority=int(record.priority),
                weight=int(record.weight),
                port=int(record.port),
                target=record.target.to_text().rstrip(".").lower()[:253],
            )
            for record in list(answer)[:limit]
        ]
        records.sort(key=lambda r: (r.priority, -r.weight, r.target, r.port))
        return SrvLookup(name, server, records=tuple(records))

    def _ask_system(self, name: str) -> tuple[str, ...]:
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ResolutionError(str(getattr(exc, "strerror", None) or exc)) from None
        return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


__all__ = ["ResolutionError", "Resolver", "SrvAnswer", "SrvLookup", "parse_dns_server", "parse_pin"]
