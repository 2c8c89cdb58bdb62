"""Evidence of the Autodiscover probe: one record per method Outlook tries.

Methods, in Outlook's order (EXCHANGE-FACTS §5.4), then the v2 endpoint:

    1 root_domain        POST https://<domain>/autodiscover/autodiscover.xml
    2 autodiscover_host  POST https://autodiscover.<domain>/autodiscover/autodiscover.xml
    3 http_redirect      GET  http://autodiscover.<domain>/autodiscover/autodiscover.xml,
                         then POST to the https URL it redirects to, if in scope
    4 srv                SRV _autodiscover._tcp.<domain>, then POST to its best target, if in scope
    5 json_v2            GET  https://autodiscover.<domain>/autodiscover/autodiscover.json?Email=..

Each record says what was tried (`exchanges`, `srv`), what the certificate of
each HTTPS name did under a verifying client (`certificates`), and the
method's `verdict`: `working`, `failed` (with a named `failure`) or `unknown`
(nothing could be learnt: a timeout, a target casaudit may not contact).
The verdict is an observation ("answered like Autodiscover"); how much a
failure matters is for the checks to say.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from casaudit.evidence.dns import SrvLookup
from casaudit.evidence.http import HttpExchange
from casaudit.parse.autodiscover import JsonV2Summary, PoxSummary

METHODS = ("root_domain", "autodiscover_host", "http_redirect", "srv", "json_v2")
#: The two URLs Microsoft's planning guide names (CAS-11).
GUIDE_METHODS = ("root_domain", "autodiscover_host")

WORKING, FAILED, UNKNOWN = "working", "failed", "unknown"


@dataclass(frozen=True)
class CertificateCheck:
    """Did the certificate served for `host` verify (system store + --ca-file, name check)?

    `verified` is None when no handshake completed (then `problem` says why:
    `unreachable`, `handshake`). `problem` on a failed verification is
    `name_mismatch` (a certificate for another name), `expired` or `untrusted`.
    """

    host: str
    port: int
    verified: bool | None
    problem: str | None
    detail: str


@dataclass(frozen=True)
class AdvertisedUrl:
    """A URL an authenticated settings response advertised, and what casaudit saw of it."""

    protocol: str
    setting: str
    url: str
    scheme: str
    host: str
    port: int
    #: Inside the target's names (host, autodiscover.<domain>, <domain>).
    in_scope: bool
    #: For in-scope https URLs: did its certificate verify? None otherwise.
    certificate: CertificateCheck | None = None


@dataclass(frozen=True)
class AuthenticatedAttempt:
    """The one credentialed request of a method (authenticated mode only).

    `sent` is False when casaudit withheld the credentials, and `withheld`
    says why (not HTTPS, not in scope, certificate not verified, method not
    working). The exchange's request headers never carry the credentials.
    """

    url: str | None
    sent: bool
    withheld: str | None = None
    exchange: HttpExchange | None = None
    xml: PoxSummary | None = None
    advertised: tuple[AdvertisedUrl, ...] = ()


@dataclass(frozen=True)
class AutodiscoverEvidence:
    id: str
    endpoint: str
    #: One of METHODS.
    method: str
    #: Position in Outlook's order (1-5).
    order: int
    domain: str
    #: The address in the request: --email, else casaudit-probe@<domain>.
    email: str
    started_at: str
    finished_at: str
    #: What casaudit sent first, e.g. "POST POX (outlook 2006 request schema)".
    request: str
    exchanges: tuple[HttpExchange, ...] = ()
    redirect_stopped: str | None = None
    #: The URL the method led to (redirect or SRV target), when it leads elsewhere.
    target_url: str | None = None
    #: A GET of a path no Exchange has, sent when a 200 came back: a 200 there too means a catch-all.
    canary: HttpExchange | None = None
    certificates: tuple[CertificateCheck, ...] = ()
    srv: SrvLookup | None = None
    xml: PoxSummary | None = None
    json_v2: JsonV2Summary | None = None
    verdict: str = UNKNOWN
    failure: str | None = None
    #: One sentence: what came back.
    detail: str = ""
    authenticated: AuthenticatedAttempt | None = None
    kind: str = field(default="autodiscover", init=False)

    @property
    def working(self) -> bool:
        return self.verdict == WORKING


__all__ = [
    "FAILED", "GUIDE_METHODS", "METHODS", "UNKNOWN", "WORKING", "AdvertisedUrl", "AuthenticatedAttempt",
    "AutodiscoverEvidence", "CertificateCheck",
]
