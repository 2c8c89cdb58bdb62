"""What casaudit knows about Exchange Client Access URLs, as data, and how to read answers.

Each URL carries the recommendation that asks for it to be on SSL, so a check
that finds it in the clear can cite the URL's own recommendation as well as
its generic one, and the request a real client of that service sends (so
"not found" means not found, not "wrong verb").

`exchange_signals` tells an Exchange endpoint from a generic 404 page or a
catch-all reverse proxy: every scan also asks each scheme for one random path
that cannot exist (the *baseline*); a URL whose answer is indistinguishable
from the baseline's is not there, whatever its status. Exchange and IIS
markers (X-OWA-Version, MS-Server-ActiveSync, the OwaPage comment, a
Negotiate/NTLM challenge...) then say how sure the answer is Exchange's.
These are pure functions over evidence, for checks to call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import StrEnum
from urllib.parse import quote, urlsplit

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.http import HttpEvidence, HttpExchange

#: The role of the random nonexistent path probed once per scheme.
BASELINE_ROLE = "baseline"


@dataclass(frozen=True)
class ClientAccessUrl:
    path: str
    role: str
    label: str
    #: The recommendation of the guide that governs this URL's transport.
    transport_recommendation: str
    #: The method a real client of this service sends; "not found" must mean not found.
    method: str = "GET"
    #: An Outlook Web Access family URL (CAS-06: every such virtual directory on SSL).
    owa_family: bool = False
    #: A legacy Exchange 2000/2003-era URL (CAS-07).
    legacy: bool = False
    #: An administration endpoint (Exchange Control Panel, remote PowerShell).
    admin: bool = False

    @property
    def transport_recommendations(self) -> tuple[str, ...]:
        """The URL's own SSL recommendation, plus CAS-06 for the OWA family."""
        extra = ("CAS-06",) if self.owa_family else ()
        return tuple(dict.fromkeys((self.transport_recommendation, *extra)))


CLIENT_ACCESS_URLS: tuple[ClientAccessUrl, ...] = (
    ClientAccessUrl("/owa", "owa", "Outlook Web Access", "CAS-04", owa_family=True),
    ClientAccessUrl(
        "/public", "public", "Public folders (legacy OWA)", "CAS-04", owa_family=True, legacy=True
    ),
    ClientAccessUrl(
        "/exchange", "exchange", "Legacy OWA and WebDAV", "CAS-06", owa_family=True, legacy=True
    ),
    ClientAccessUrl(
        "/exchweb", "exchweb", "Legacy OWA resources", "CAS-06", owa_family=True, legacy=True
    ),
    ClientAccessUrl(
        "/Microsoft-Server-ActiveSync", "activesync", "Exchange ActiveSync", "CAS-01", "OPTIONS"
    ),
    ClientAccessUrl(
        "/rpc/rpcproxy.dll", "outlook_anywhere", "Outlook Anywhere", "CAS-08", "RPC_IN_DATA"
    ),
    ClientAccessUrl("/EWS/Exchange.asmx", "ews", "Exchange Web Services", "CAS-12"),
    ClientAccessUrl(
        "/autodiscover/autodiscover.xml", "autodiscover", "Autodiscover", "CAS-11", "POST"
    ),
    ClientAccessUrl("/oab", "oab", "Offline Address Book", "CAS-13"),
    ClientAccessUrl(
        "/ecp", "ecp", "Exchange Control Panel", "CAS-06", owa_family=True, admin=True
    ),
    ClientAccessUrl("/mapi/emsmdb", "mapi", "MAPI over HTTP", "CAS-13"),
    ClientAccessUrl("/powershell", "powershell", "Remote PowerShell", "CAS-13", admin=True),
)

ROLE_BY_NAME = {url.role: url for url in CLIENT_ACCESS_URLS}


@dataclass(frozen=True)
class BuildCarrier:
    """A URL Exchange answers anonymously with its build, asked only to read that build.

    Plain GETs of what any browser or Outlook fetches; not a Client Access service
    of its own, so the web checks do not judge it (its role is not in ROLE_BY_NAME).
    """

    path: str
    role: str
    label: str


#: Role of the ECP export tool's ClickOnce manifest (the 4-part build in assemblyIdentity).
EXPORT_TOOL_ROLE = "exporttool_manifest"
EXPORT_TOOL_PATH = "/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application"

#: EXCHANGE-FACTS 3.1 and 13: X-OWA-Version on OWA's service endpoint (EWS, Autodiscover and
#: /owa are Client Access URLs already), and the export tool manifest, which survives a
#: proxy stripping X-OWA-Version. Never an exploit-shaped request (no X-AnonResource
#: cookies, no autodiscover.json path confusion).
BUILD_CARRIERS: tuple[BuildCarrier, ...] = (
    BuildCarrier("/owa/service.svc", "owa_service", "OWA service endpoint"),
    BuildCarrier(EXPORT_TOOL_PATH, EXPORT_TOOL_ROLE, "ECP export tool manifest"),
)

#: The Outlook POX request (EXCHANGE-FACTS 5.1), for an address that cannot exist.
_POX_REQUEST = (
    '<?xml version="1.0" encoding="utf-8"?>\r\n'
    '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/'
    'requestschema/2006">\r\n'
    "  <Request>\r\n"
    "    <EMailAddress>{address}</EMailAddress>\r\n"
    "    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/"
    "responseschema/2006a</AcceptableResponseSchema>\r\n"
    "  </Request>\r\n"
    "</Autodiscover>\r\n"
)


def probe_address(domain: str) -> str:
    """The obviously fake mailbox Autodiscover is asked about; never a real user's."""
    return f"casaudit-probe@{domain}"


def service_request(url: ClientAccessUrl, domain: str) -> tuple[tuple[tuple[str, str], ...], bytes]:
    """(extra headers, body) of the request a real client of `url` sends, without credentials.

    Outlook Anywhere: RPC_IN_DATA with the MS-RPCH client headers and an empty
    body (Content-Length 0, so the proxy answers at once instead of waiting for
    the 2 GB a real IN channel announces). Autodiscover: the Outlook POX POST.
    """
    if url.method == "RPC_IN_DATA":
        return (
            ("User-Agent", "MSRPC"),
            ("Accept", "application/rpc"),
            ("Cache-Control", "no-cache"),
            ("Pragma", "No-cache"),
            ("Content-Length", "0"),
        ), b""
    if url.method == "POST" and url.role == "autodiscover":
        body = _POX_REQUEST.format(address=probe_address(domain)).encode("utf-8")
        return (("Content-Type", "text/xml; charset=utf-8"),), body
    return (), b""


# --------------------------------------------------------------------------- classification


class Presence(StrEnum):
    #: Answers unlike a nonexistent path, with Exchange or IIS markers.
    EXCHANGE = "exchange"
    #: Answers unlike a nonexistent path, without markers (a proxy's own page, stripped headers).
    PRESENT = "present"
    #: Not found: 404/410, a verb the URL's service does not know, or the baseline's answer.
    ABSENT = "absent"
    #: No answer: the request failed (refused, timed out, TLS failed).
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Signals:
    """How an endpoint's answer reads: is something there, and is it Exchange."""

    presence: Presence
    #: Exchange-specific markers seen ("X-OWA-Version: 15.2.1748.39", "OwaPage comment").
    exchange_markers: tuple[str, ...]
    #: Generic IIS/Windows markers seen ("Server: Microsoft-IIS/10.0", "NTLM challenge").
    iis_markers: tuple[str, ...]
    reason: str

    @property
    def found(self) -> bool:
        return self.presence in (Presence.EXCHANGE, Presence.PRESENT)


_EXCHANGE_HEADERS = (
    "x-owa-version", "x-feserver", "x-beserver", "x-calculatedbetarget", "x-diaginfo",
    "x-targetbeserver", "ms-server-activesync", "ms-asprotocolversions", "ms-asprotocolcommands",
    "x-owa-minimumsupportedowsversion",
)
_OWA_PAGE = re.compile(r"<!--\s*OwaPage\s*=", re.IGNORECASE)
_OWA_BUILD_PATH = re.compile(r"/owa/(?:auth/)?\d+\.\d+\.\d+", re.IGNORECASE)
_OWA_AUTH_PATH = re.compile(r"/owa/auth(?:/|\.owa|\b)", re.IGNORECASE)
_EXCHWEB_AUTH = re.compile(r"/exchweb/bin/auth/", re.IGNORECASE)
_MAPI_ENDPOINT = re.compile(r"Exchange MAPI/HTTP Connectivity Endpoint", re.IGNORECASE)
_NOT_FOUND = frozenset({404, 410})
_UNKNOWN_VERB = frozenset({405, 501})


def exchange_markers(exchange: HttpExchange) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(Exchange-specific markers, generic IIS/Windows markers) in one answer."""
    strong: list[str] = []
    weak: list[str] = []
    for name, value in exchange.headers:
        lower = name.lower()
        shown = f"{name}: {value[:80]}"
        if lower in _EXCHANGE_HEADERS:
            strong.append(shown)
        elif lower == "x-serverapplication" and value.lower().startswith("exchange/"):
            strong.append(shown)
        elif lower == "set-cookie" and value.lower().startswith("x-backendcookie"):
            strong.append("X-BackEndCookie cookie")
        elif lower == "location" and (
            _OWA_AUTH_PATH.search(value) or _EXCHWEB_AUTH.search(value)
        ):
            strong.append(f"redirect to an OWA logon path ({value[:80]})")
        elif lower == "server" and value.lower().startswith("microsoft-iis"):
            weak.append(shown)
        elif lower in ("x-powered-by", "x-aspnet-version") and (
            lower == "x-aspnet-version" or "asp.net" in value.lower()
        ):
            weak.append(shown)
    body = exchange.body_excerpt
    if _OWA_PAGE.search(body):
        strong.append("OwaPage comment in the page")
    if match := _OWA_BUILD_PATH.search(body):
        strong.append(f"OWA build path {match.group(0)}")
    elif _OWA_AUTH_PATH.search(body) or _EXCHWEB_AUTH.search(body):
        strong.append("OWA logon path in the page")
    if _MAPI_ENDPOINT.search(body):
        strong.append("MAPI/HTTP connectivity endpoint page")
    if exchange.status == 401:
        windows = [s for s in exchange.auth_schemes if s.lower() in ("negotiate", "ntlm")]
        if windows:
            weak.append(f"401 offering {', '.join(windows)}")
    return tuple(dict.fromkeys(strong)), tuple(dict.fromkeys(weak))


def baseline_for(evidence: EvidenceSet, item: HttpEvidence) -> HttpEvidence | None:
    """The nonexistent-path probe of the same scheme, host and port as `item`."""
    for other in evidence.of(HttpEvidence):
        if (
            other.role == BASELINE_ROLE
            and other.scheme == item.scheme
            and other.host == item.host
            and other.port == item.port
        ):
            return other
    return None


def exchange_signals(item: HttpEvidence, baseline: HttpEvidence | None) -> Signals:
    """Classify one endpoint's answer against the baseline of its scheme."""
    strong: list[str] = []
    weak: list[str] = []
    for exchange in item.exchanges:
        found_strong, found_weak = exchange_markers(exchange)
        strong += found_strong
        weak += found_weak
    markers = tuple(dict.fromkeys(strong)), tuple(dict.fromkeys(weak))

    def verdict(presence: Presence, reason: str) -> Signals:
        return Signals(presence, markers[0], markers[1], reason)

    last = item.exchanges[-1]
    if last.error is not None or last.status is None:
        detail = last.error.detail if last.error else "no answer"
        return verdict(Presence.UNKNOWN, f"no answer ({detail})")
    if last.status in _NOT_FOUND:
        return verdict(Presence.ABSENT, f"{last.url} answered {last.status}: not found")
    if baseline is not None and _same_answer(item, baseline):
        return verdict(
            Presence.ABSENT,
            f"answers exactly like the nonexistent path {baseline.path} "
            f"({_statuses(item)}): a catch-all, not this service",
        )
    if last.status in _UNKNOWN_VERB and not markers[0]:
        return verdict(
            Presence.ABSENT,
            f"{last.method} {last.url} answered {last.status}: the verb this service "
            "expects is unknown there",
        )
    if markers[0]:
        return verdict(Presence.EXCHANGE, f"Exchange markers: {'; '.join(markers[0][:3])}")
    if markers[1]:
        return verdict(Presence.EXCHANGE, f"IIS/Windows markers: {'; '.join(markers[1][:3])}")
    return verdict(
        Presence.PRESENT, f"answers {_statuses(item)}, unlike a nonexistent path, without markers"
    )


def classify(evidence: EvidenceSet) -> dict[str, Signals]:
    """Signals for every Client Access URL in the scan, keyed by evidence id."""
    return {
        item.id: exchange_signals(item, baseline_for(evidence, item))
        for item in evidence.of(HttpEvidence)
        if item.role != BASELINE_ROLE
    }


def _statuses(item: HttpEvidence) -> str:
    return " -> ".join(str(x.status) for x in item.exchanges if x.status is not None)


def _same_answer(item: HttpEvidence, baseline: HttpEvidence) -> bool:
    """True when nothing but the requested path tells `item`'s chain from the baseline's."""
    if baseline.exchanges[-1].error is not None or baseline.exchanges[-1].status is None:
        return False
    ours, theirs = item.exchanges, baseline.exchanges
    if [x.status for x in ours] != [x.status for x in theirs]:
        return False
    if item.redirect_stopped is None and baseline.redirect_stopped is not None:
        return False
    paths_ours = _paths(ours)
    paths_theirs = _paths(theirs)
    for mine, other in zip(ours, theirs, strict=True):
        if tuple(mine.auth_schemes) != tuple(other.auth_schemes):
            return False
        mine_location = _normalise(" ".join(mine.header_values("location")), paths_ours)
        other_location = _normalise(" ".join(other.header_values("location")), paths_theirs)
        if mine_location != other_location:
            return False
    return _similar(
        _normalise(ours[-1].body_excerpt, paths_ours),
        _normalise(theirs[-1].body_excerpt, paths_theirs),
    )


def _paths(chain: Iterable[HttpExchange]) -> tuple[str, ...]:
    """Every request path of a chain, longest first, with and without a trailing slash."""
    found: set[str] = set()
    for exchange in chain:
        try:
            path = urlsplit(exchange.url).path
        except ValueError:
            continue
        stripped = path.rstrip("/")
        if len(stripped) > 1:
            # With and without the trailing slash: the baseline path has one, /owa not.
            for variant in (stripped + "/", stripped):
                found.update({variant, quote(variant, safe=""), quote(variant, safe="/")})
    return tuple(sorted(found, key=len, reverse=True))


_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


def _normalise(text: str, paths: tuple[str, ...]) -> str:
    """Remove what legitimately differs between two answers of a catch-all: path echoes, numbers."""
    text = text.lower()
    for path in paths:
        text = text.replace(path.lower(), "{path}")
    return _SPACE.sub(" ", _DIGITS.sub("0", text)).strip()


def _similar(first: str, second: str) -> bool:
    if first == second:
        return True
    if not first or not second:
        return False
    if min(len(first), len(second)) / max(len(first), len(second)) < 0.9:
        return False
    # Bounded: excerpts are at most a few KiB; compare the first 2000 characters.
    return SequenceMatcher(None, first[:2000], second[:2000], autojunk=False).ratio() >= 0.95


# --------------------------------------------------------------------------- product generation

_MAJOR_FROM_HEADER = re.compile(r"^\s*(\d{1,2})\.")
_MAJOR_FROM_PATH = re.compile(r"/owa/(?:auth/)?(\d{1,2})\.\d+\.\d+", re.IGNORECASE)


def exchange_major(evidence: EvidenceSet) -> int | None:
    """The Exchange major version (6, 8, 14, 15) the front end reveals, if any.

    Only the generation (which default virtual directories it has), not the
    build: X-OWA-Version, MS-Server-ActiveSync and /owa/ build paths. When
    answers disagree (a new front end proxying for an old server), the newest wins.
    """
    majors: set[int] = set()
    for item in evidence.of(HttpEvidence):
        for exchange in item.exchanges:
            for name in ("x-owa-version", "ms-server-activesync"):
                for value in exchange.header_values(name):
                    if match := _MAJOR_FROM_HEADER.match(value):
                        majors.add(int(match.group(1)))
            if match := _MAJOR_FROM_PATH.search(exchange.body_excerpt):
                majors.add(int(match.group(1)))
    known = {m for m in majors if m in (6, 8, 14, 15)}
    return max(known) if known else None
