"""exchange.internal_address_disclosure: responses name internal addresses or host names.

Where names are looked for: Location and Content-Location (absolute URLs), the
realm of Basic/Digest challenges (IIS puts its address there when no realm is
set), and Exchange's diagnostic headers (X-FEServer, X-BEServer,
X-CalculatedBETarget, X-TargetBEServer, X-DiagInfo), in the answers to the
Host-less HTTP/1.0 requests and to the ordinary HTTP probe.

Each endpoint (scheme, host, port) is judged on the answers it gave itself,
one row per endpoint, like the other exchange.* disclosure checks: a plain-HTTP
URL that redirects to HTTPS is judged on its redirect, and what the HTTPS side
then said is the HTTPS endpoint's finding, citing the HTTPS probes. A value
seen on both ports is a finding on each, each citing its own answers.

The rule, and why (the lab runs on 127.0.0.1, a real target may sit on a
private address too):

* an IP literal counts when it lies in a non-public range (RFC 1918,
  100.64/10, loopback 127/8 and ::1, link-local 169.254/16 and fe80::/10, ULA
  fc00::/7) AND it is not an address the scan itself connected to for this
  host (``peer`` in the evidence). Only the exact connected addresses are
  excused, never a whole range: a scan of a server pinned to 127.0.0.1 still
  flags 127.0.0.2, 10.x or 192.168.x in a response;
* a host name counts when it is not one of the target's names (the host,
  ``autodiscover.<domain>``, ``<domain>``) and looks internal: a single label
  (NetBIOS style, ``EXCH01``) or an internal-only suffix (.local, .lan,
  .internal, .intranet, .corp, .home, .localdomain, .private, .ad). Public
  names elsewhere (a login provider) are not internal; ``localhost`` says
  nothing about the inside and is ignored. Diagnostic headers count for any
  name other than the target's, as they exist only to name back-end servers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from casaudit.evidence.base import ErrorKind, EvidenceSet
from casaudit.evidence.hostless import HostlessEvidence
from casaudit.evidence.http import HttpEvidence
from casaudit.identify import origin_of
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from casaudit.names import own_names
from casaudit.web_checks import at_own_origin

CHECK = CheckMeta(
    id="exchange.internal_address_disclosure",
    title="Internal IP address or host name disclosed in responses",
    severity=Severity.LOW,
    effort=Effort.LOW,
    recommendations=("CAS-15",),
    description=(
        "A response names an internal address or server: IIS answering an HTTP/1.0 request "
        "without a Host header builds its redirect (Location, Content-Location) or its Basic "
        "realm from its own, private, address; Exchange's X-FEServer and X-BEServer headers "
        "name front-end and back-end servers. It maps the internal network for an attacker and "
        "shows the Client Access server answers the Internet without a reverse proxy in between."
    ),
    remediation=(
        "Publish through a reverse proxy that answers Host-less requests itself; on IIS set "
        "the alternateHostName of the site (system.webServer/serverRuntime) or a URL Rewrite "
        "rule for requests with an empty HTTP_HOST, and strip X-FEServer, X-BEServer, "
        "X-CalculatedBETarget and X-DiagInfo at the proxy."
    ),
    severity_rationale=(
        "Low: it hands out reconnaissance, not access; it matters as a sign of a Client Access "
        "server exposed directly (CAS-15)."
    ),
    references=(
        "Microsoft KB834141: IIS 6.0 may reveal its IP address in Content-Location or Location",
        "nmap http-internal-ip-disclosure; Metasploit auxiliary/scanner/http/owa_iis_internal_ip",
    ),
    # What strangers are told: every response read (a 404 too) is the observation.
    exposure=True,
)

_Item = HostlessEvidence | HttpEvidence
_INTERNAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
    "169.254.0.0/16", "::1/128", "fe80::/10", "fc00::/7",
))
_INTERNAL_SUFFIXES = ("local", "lan", "internal", "intranet", "corp", "home", "localdomain", "private", "ad")
_DIAGNOSTIC = ("x-feserver", "x-beserver", "x-calculatedbetarget", "x-targetbeserver", "x-diaginfo")
_REALM = re.compile(r'realm\s*=\s*"([^"]{1,255})"', re.I)
_NAME = re.compile(r"^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*$")


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    peers: dict[str, set[str]] = {}
    origins: dict[str, tuple[str, list[_Item]]] = {}
    for item in evidence:
        if isinstance(item, HostlessEvidence | HttpEvidence):
            origins.setdefault(origin_of(item.endpoint), (item.host, []))[1].append(item)
            for peer in _peers(item):
                peers.setdefault(item.host, set()).add(peer)
    return [
        _judge(origin, host, items, peers.get(host, set())) for origin, (host, items) in origins.items()
    ]


def _peers(item: HostlessEvidence | HttpEvidence) -> Iterable[str]:
    values = [item.peer] if isinstance(item, HostlessEvidence) else [x.peer for x in item.exchanges]
    for value in values:
        if value:
            yield value.rsplit(":", 1)[0].strip("[]")


def _responses(item: _Item) -> Iterable[tuple[str, str, int | None, tuple[tuple[str, str], ...]]]:
    """(what was sent, URL, status, response headers) for each answer in an evidence item."""
    if isinstance(item, HostlessEvidence):
        if item.status is not None:
            yield (f"{item.request} (no Host header) to {item.endpoint}", item.endpoint, item.status,
                   item.headers)
    elif isinstance(item, HttpEvidence):
        for exchange in at_own_origin(item):
            if exchange.status is not None:
                yield f"{exchange.method} {exchange.url}", exchange.url, exchange.status, exchange.headers


def _judge(origin: str, host: str, items: list[_Item], peers: set[str]) -> Outcome:
    ids = tuple(item.id for item in items)
    own = own_names(host)
    found: list[tuple[str, str]] = []
    hits: list[str] = []
    readable = False
    for item in items:
        for sent, _url, status, headers in _responses(item):
            readable = readable or (status is not None and 200 <= status < 500)
            for name, value in headers:
                for shown in _disclosures(name, value, own, peers):
                    found.append((item.id, f"{name}: {value[:200]!r} in the answer to {sent}"))
                    hits.append(shown)
    if found:
        return Outcome(
            origin, CheckStatus.FAIL,
            "internal address or name in a response: " + ", ".join(dict.fromkeys(hits)),
            tuple(dict.fromkeys(i for i, _ in found)),
            observed="; ".join(text for _, text in found[:3])
            + (f"; and {len(found) - 3} more" if len(found) > 3 else ""),
        )
    if readable:
        return Outcome(origin, CheckStatus.PASS, "no internal address or host name in any response", ids)
    errors = [item.error for item in items]
    if errors and all(e is not None and e.kind is ErrorKind.REFUSED for e in errors):
        return Outcome(origin, CheckStatus.NOT_APPLICABLE,
                       "the port refused the connection: no response to read", ids)
    # Error pages (5xx) come from whatever stands in front; they show nothing of Exchange.
    detail = next((e.detail for e in errors if e is not None), "only error answers (5xx)")
    return Outcome(origin, CheckStatus.NOT_ASSESSED, f"no usable HTTP answer ({detail})", ids)


def _disclosures(name: str, value: str, own: frozenset[str], peers: set[str]) -> list[str]:
    lowered = name.lower()
    candidates: list[tuple[str, bool]] = []
    if lowered in ("location", "content-location"):
        try:
            parts = urlsplit(value.strip())
            if parts.scheme and parts.hostname:
                candidates.append((parts.hostname, False))
        except ValueError:
            pass
    elif lowered == "www-authenticate":
        candidates += [(m.group(1).strip(), False) for m in _REALM.finditer(value)]
    elif lowered in _DIAGNOSTIC:
        candidates += [(v.strip(), True) for v in value.split(",") if v.strip()]
    return [text for text, diagnostic in candidates if _internal(text, own, peers, diagnostic)]


def _internal(text: str, own: frozenset[str], peers: set[str], diagnostic: bool) -> bool:
    candidate = text.strip().strip("[]").lower().rstrip(".")
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        address = None
    if address is not None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if str(address) in peers:
            return False
        return any(address in network for network in _INTERNAL_NETWORKS)
    if not _NAME.match(candidate) or candidate in own or candidate == "localhost":
        return False
    if diagnostic:
        return True
    labels = candidate.split(".")
    return len(labels) == 1 or labels[-1] in _INTERNAL_SUFFIXES
