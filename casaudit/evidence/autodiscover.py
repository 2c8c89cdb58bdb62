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
The verdict is an observation ("answered like Autodiscover"), decided in one
pure place, `casaudit.autodiscover_judge`, from the facts recorded here; how
much a failure matters is for the checks to say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from casaudit.evidence.base import settle
from casaudit.evidence.dns import SrvLookup
from casaudit.evidence.http import HttpExchange
from casaudit.parse.autodiscover import JsonV2Summary, PoxSummary

#: The POX path every method leads to (the plan invents the URLs; the judge checks redirects).
AUTODISCOVER_PATH = "/autodiscover/autodiscover.xml"
METHODS = ("root_domain", "autodiscover_host", "http_redirect", "srv", "json_v2")
#: The two URLs Microsoft's planning guide names (CAS-11).
GUIDE_METHODS = ("root_domain", "autodiscover_host")


class AutodiscoverVerdict(StrEnum):
    """Did the method answer like Autodiscover? Decided by `casaudit.autodiscover_judge`."""

    #: A 401 to the anonymous request, Autodiscover XML, or a v2 JSON Url, over HTTPS with a
    #: verified certificate.
    WORKING = "working"
    #: An observed answer that is not a working Autodiscover (`failure` names it).
    FAILED = "failed"
    #: Nothing could be learnt: a timeout, a target casaudit may not contact.
    UNKNOWN = "unknown"


#: Short names for the three verdicts.
WORKING = AutodiscoverVerdict.WORKING
FAILED = AutodiscoverVerdict.FAILED
UNKNOWN = AutodiscoverVerdict.UNKNOWN


class Failure(StrEnum):
    """Why a method is not working: the `failure` of the JSON contract."""

    # The transport failed (from the exchange's ProbeError).
    REFUSED = "refused"
    TIMEOUT = "timeout"
    CONNECTION_RESET = "connection_reset"
    TLS_FAILURE = "tls_failure"
    PROTOCOL_ERROR = "protocol_error"
    UNREACHABLE = "unreachable"
    ERROR = "error"
    # DNS: the name (or the SRV record) is not there.
    DNS_NXDOMAIN = "dns_nxdomain"
    DNS_FAILURE = "dns_failure"
    NO_RECORD = "no_record"
    # The certificate a verifying client gets.
    CERTIFICATE_FOR_ANOTHER_NAME = "certificate_for_another_name"
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_UNTRUSTED = "certificate_untrusted"
    # An HTTP answer that is not Autodiscover.
    NOT_FOUND = "not_found"
    HTML_PAGE = "html_page"
    CATCH_ALL = "catch_all"
    NOT_AUTODISCOVER = "not_autodiscover"
    UNEXPECTED_STATUS = "unexpected_status"
    REDIRECT_NOT_FOLLOWED = "redirect_not_followed"
    # Plain HTTP and redirects.
    CLEARTEXT_CONTENT = "cleartext_content"
    REDIRECT_TO_HTTP = "redirect_to_http"
    REDIRECT_UNEXPECTED_URL = "redirect_unexpected_url"
    REDIRECT_UNUSABLE = "redirect_unusable"
    TARGET_OUT_OF_SCOPE = "target_out_of_scope"
    # A 2xx XML body that was not read (casaudit.parse.autodiscover.unread_failure).
    XML_FORBIDDEN = "xml_forbidden"
    XML_MALFORMED = "xml_malformed"
    XML_TOO_LARGE = "xml_too_large"
    XML_CUT_SHORT = "xml_cut_short"


#: Failures in which the server gave no usable answer: nothing was learnt about Autodiscover.
#: (`refused`, `dns_nxdomain`, 404s, HTML pages, certificates and TLS alerts are answers.)
NO_ANSWER_FAILURES = frozenset({
    Failure.TIMEOUT, Failure.CONNECTION_RESET, Failure.PROTOCOL_ERROR, Failure.UNREACHABLE,
    Failure.ERROR, Failure.XML_CUT_SHORT,
})
#: The name does not resolve or refuses connections: the URL is observably not there.
ABSENT_FAILURES = frozenset({Failure.REFUSED, Failure.DNS_NXDOMAIN, Failure.DNS_FAILURE})
#: A verifying client (Outlook) rejects the certificate.
CERTIFICATE_FAILURES = frozenset({
    Failure.CERTIFICATE_FOR_ANOTHER_NAME, Failure.CERTIFICATE_EXPIRED, Failure.CERTIFICATE_UNTRUSTED,
})


class CertificateProblem(StrEnum):
    """Why a verifying client got no verified certificate (see `CertificateCheck`)."""

    #: A certificate for another name.
    NAME_MISMATCH = "name_mismatch"
    EXPIRED = "expired"
    #: Any other verification failure (unknown issuer, self-signed, ...).
    UNTRUSTED = "untrusted"
    #: No handshake completed.
    HANDSHAKE = "handshake"
    #: No connection (or the name did not resolve).
    UNREACHABLE = "unreachable"


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
    problem: CertificateProblem | None
    detail: str

    def __post_init__(self) -> None:
        settle(self, "problem", CertificateProblem)


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
    verdict: AutodiscoverVerdict = AutodiscoverVerdict.UNKNOWN
    failure: Failure | None = None
    #: One sentence: what came back.
    detail: str = ""
    authenticated: AuthenticatedAttempt | None = None
    kind: str = field(default="autodiscover", init=False)

    def __post_init__(self) -> None:
        # Plain strings (the JSON words) are accepted and become their enum members.
        settle(self, "verdict", AutodiscoverVerdict)
        settle(self, "failure", Failure)

    @property
    def working(self) -> bool:
        return self.verdict is AutodiscoverVerdict.WORKING


__all__ = [
    "ABSENT_FAILURES", "AUTODISCOVER_PATH", "CERTIFICATE_FAILURES", "FAILED", "GUIDE_METHODS", "METHODS",
    "NO_ANSWER_FAILURES", "UNKNOWN", "WORKING", "AdvertisedUrl", "AuthenticatedAttempt",
    "AutodiscoverEvidence", "AutodiscoverVerdict", "CertificateCheck", "CertificateProblem", "Failure",
]
