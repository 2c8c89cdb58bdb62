"""Did an Autodiscover method answer like Autodiscover? The one place that decides.

Pure functions over what the Autodiscover probe observed (exchanges, the body
bytes it kept, the certificate checks, the parsed XML, the SRV lookup): they
return a `Judgement` (verdict, named `Failure`, one sentence of detail) and
never do I/O. The probe calls them to fill in `AutodiscoverEvidence.verdict`,
`failure` and `detail`, and its credential gate (`credentials_withheld`) asks
the verdict before anything is sent; the `autodiscover.*` checks read the same
enums (`casaudit.evidence.autodiscover`).

A verdict is still an observation ("answered like Autodiscover: a 401, or
Autodiscover XML, over HTTPS with a verified certificate"); how much a failure
matters is for the checks to say.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from casaudit.evidence.autodiscover import (
    AUTODISCOVER_PATH,
    AutodiscoverVerdict,
    CertificateCheck,
    CertificateProblem,
    Failure,
)
from casaudit.evidence.base import ErrorKind, ProbeError
from casaudit.evidence.dns import NXDOMAIN_DETAIL, SrvError, SrvLookup
from casaudit.evidence.http import REDIRECT_STATUSES, HttpExchange
from casaudit.parse.autodiscover import PoxSummary, looks_like_html, unread_failure

WORKING, FAILED, UNKNOWN = (
    AutodiscoverVerdict.WORKING, AutodiscoverVerdict.FAILED, AutodiscoverVerdict.UNKNOWN)


@dataclass(frozen=True)
class Judgement:
    """A method's verdict, its named failure (None when working) and what came back, in words."""

    verdict: AutodiscoverVerdict
    failure: Failure | None
    detail: str

    def fields(self) -> dict[str, Any]:
        """As the keyword arguments of `AutodiscoverEvidence`."""
        return {"verdict": self.verdict, "failure": self.failure, "detail": self.detail}


class RedirectStop(StrEnum):
    """Why the probe did not follow a redirect (the words go to `redirect_stopped`)."""

    #: To a plain http:// URL: credentials must not follow.
    TO_PLAIN_HTTP = "to_plain_http"
    #: To a name outside the target's: casaudit may not contact it.
    OUT_OF_SCOPE = "out_of_scope"
    #: A loop, or more redirects than the probe follows.
    LOOP_OR_LIMIT = "loop_or_limit"
    #: A Location that is no http(s) URL.
    UNUSABLE = "unusable"


@dataclass(frozen=True)
class Stop:
    """A redirect not followed: why (for judging) and the sentence recorded as evidence."""

    why: RedirectStop
    text: str


_TRANSPORT_FAILURES = {
    ErrorKind.REFUSED: Failure.REFUSED,
    ErrorKind.TLS: Failure.TLS_FAILURE,
    ErrorKind.RESET: Failure.CONNECTION_RESET,
    ErrorKind.PROTOCOL: Failure.PROTOCOL_ERROR,
    ErrorKind.UNREACHABLE: Failure.UNREACHABLE,
}
_CERTIFICATE_PROBLEMS = {
    CertificateProblem.NAME_MISMATCH: Failure.CERTIFICATE_FOR_ANOTHER_NAME,
    CertificateProblem.EXPIRED: Failure.CERTIFICATE_EXPIRED,
}
_SRV_FAILURES = {
    SrvError.NXDOMAIN: Failure.DNS_NXDOMAIN,
    SrvError.DNS: Failure.DNS_FAILURE,
    SrvError.NO_RECORD: Failure.NO_RECORD,
    SrvError.TIMEOUT: Failure.TIMEOUT,
}


def transport(error: ProbeError) -> Judgement:
    """No HTTP answer: a timeout (or a port skipped after it stopped answering) proves nothing;
    anything else is an observed failure."""
    if error.kind in (ErrorKind.TIMEOUT, ErrorKind.SKIPPED):
        return Judgement(UNKNOWN, Failure.TIMEOUT, error.detail)
    if error.kind == ErrorKind.DNS:
        failure = Failure.DNS_NXDOMAIN if NXDOMAIN_DETAIL in error.detail else Failure.DNS_FAILURE
        return Judgement(FAILED, failure, error.detail)
    return Judgement(FAILED, _TRANSPORT_FAILURES.get(ErrorKind(error.kind), Failure.ERROR), error.detail)


def certificates(checks: tuple[CertificateCheck, ...]) -> Judgement | None:
    """The first certificate a verifying client rejects, if any (no handshake is not a rejection)."""
    for check in checks:
        if check.verified is False:
            failure = (_CERTIFICATE_PROBLEMS.get(check.problem, Failure.CERTIFICATE_UNTRUSTED)
                       if check.problem is not None else Failure.CERTIFICATE_UNTRUSTED)
            return Judgement(FAILED, failure, f"certificate for {check.host}: {check.detail}")
    return None


def _content_type(exchange: HttpExchange) -> str:
    values = exchange.header_values("content-type")
    return values[0] if values else ""


def plain_answer(exchange: HttpExchange, body: bytes, canary: HttpExchange | None) -> Judgement:
    """What a non-Autodiscover answer is: 404, HTML page, catch-all, other status."""
    if exchange.error is not None:
        return transport(exchange.error)
    status = exchange.status
    if status == 404:
        return Judgement(FAILED, Failure.NOT_FOUND, "404 Not Found")
    if status == 200:
        if canary is not None and canary.status == 200:
            return Judgement(FAILED, Failure.CATCH_ALL,
                             "200 with non-Autodiscover content, as for a path no Exchange has "
                             "(a catch-all site or proxy)")
        if looks_like_html(_content_type(exchange), body):
            return Judgement(FAILED, Failure.HTML_PAGE, "200 with an HTML page, not Autodiscover")
        return Judgement(FAILED, Failure.NOT_AUTODISCOVER, "200 with content that is not Autodiscover")
    if status in REDIRECT_STATUSES:
        return Judgement(FAILED, Failure.REDIRECT_NOT_FOLLOWED, f"{status} redirect not followed")
    return Judgement(FAILED, Failure.UNEXPECTED_STATUS, f"{status} {exchange.reason}"[:200])


_STOP_FAILURES = {
    RedirectStop.TO_PLAIN_HTTP: Failure.REDIRECT_TO_HTTP,
    RedirectStop.OUT_OF_SCOPE: Failure.TARGET_OUT_OF_SCOPE,
}


def https_answer(
    exchange: HttpExchange,
    body: bytes,
    stop: Stop | None,
    checks: tuple[CertificateCheck, ...],
    xml: PoxSummary | None,
    canary: HttpExchange | None,
) -> Judgement:
    """The last answer of an HTTPS chain (POX or JSON v2 URL) and how the chain ended."""
    if exchange.error is not None:
        return transport(exchange.error)
    certificate = certificates(checks)
    if certificate is not None:
        return certificate
    if stop is not None:
        failure = _STOP_FAILURES.get(stop.why, Failure.REDIRECT_NOT_FOLLOWED)
        verdict = UNKNOWN if failure is Failure.TARGET_OUT_OF_SCOPE else FAILED
        return Judgement(verdict, failure, f"{exchange.status}: {stop.text}")
    if exchange.status == 401:
        offered = ", ".join(exchange.auth_schemes) or "no scheme named"
        return Judgement(WORKING, None, f"401 to an anonymous request ({offered})")
    if xml is not None and xml.autodiscover:
        if xml.error_code:
            return Judgement(WORKING, None,
                             f"{exchange.status} Autodiscover error {xml.error_code} ({xml.message or ''})")
        return Judgement(WORKING, None, f"{exchange.status} Autodiscover response")
    if xml is not None and xml.parse_error is not None and 200 <= (exchange.status or 0) < 300:
        # XML that could not be read safely (a DTD, entities, XXE), broken, too big or cut.
        return Judgement(FAILED, Failure(unread_failure(xml) or Failure.XML_MALFORMED),
                         f"{exchange.status} with XML not read: {xml.parse_error}"[:300])
    return plain_answer(exchange, body, canary)


def json_v2_answer(url: str | None, protocol: str | None,
                   checks: tuple[CertificateCheck, ...]) -> Judgement | None:
    """A v2 JSON answer naming a URL works unless its certificate fails; None: judge it as HTTPS."""
    if not url:
        return None
    return certificates(checks) or Judgement(WORKING, None, f"200 JSON: {protocol} at {url}")


def cleartext_answer(exchange: HttpExchange, xml: PoxSummary | None) -> Judgement | None:
    """Autodiscover itself (a 401, or its XML) on the plain-HTTP URL, instead of a redirect."""
    if exchange.error is None and (exchange.status == 401 or (xml is not None and xml.autodiscover)):
        what = "a 401 challenge" if exchange.status == 401 else "Autodiscover XML"
        return Judgement(FAILED, Failure.CLEARTEXT_CONTENT,
                         f"answers {what} over plain HTTP instead of redirecting to HTTPS")
    return None


def redirect_target(
    target: str | None, problem: str | None, scheme: str, path: str, in_scope: bool
) -> Judgement | None:
    """Where the plain-HTTP method's redirect leads; None when the probe should POST there."""
    if target is None:
        return Judgement(FAILED, Failure.REDIRECT_UNUSABLE, problem or "")
    if scheme != "https":
        return Judgement(FAILED, Failure.REDIRECT_TO_HTTP, f"redirects to {target}, not to HTTPS")
    if not path.lower().endswith(AUTODISCOVER_PATH):
        return Judgement(FAILED, Failure.REDIRECT_UNEXPECTED_URL,
                         f"redirects to {target}, not to an Autodiscover URL")
    if not in_scope:
        return Judgement(UNKNOWN, Failure.TARGET_OUT_OF_SCOPE,
                         f"redirects to {target}, outside the target's names: not followed")
    return None


def srv_lookup(lookup: SrvLookup) -> Judgement | None:
    """An SRV query with no usable record; None when there is a target to try."""
    if lookup.error is not None:
        verdict = UNKNOWN if lookup.error == SrvError.TIMEOUT else FAILED
        return Judgement(verdict, _SRV_FAILURES[SrvError(lookup.error)], lookup.detail)
    if not usable_records(lookup):
        return Judgement(FAILED, Failure.NO_RECORD, "the SRV record says: no service here")
    return None


def usable_records(lookup: SrvLookup) -> list[Any]:
    """The records that name a target ("." means: no service here), best first."""
    return [record for record in lookup.records if record.target not in ("", ".")]


def srv_out_of_scope(target: str, port: int) -> Judgement:
    return Judgement(UNKNOWN, Failure.TARGET_OUT_OF_SCOPE,
                     f"points to {target}:{port}, outside the target's names: not contacted")


def credentials_withheld(
    verdict: AutodiscoverVerdict | str, exchanges: tuple[HttpExchange, ...]
) -> str | None:
    """The credential gate's first question: does the method lead to a working endpoint?

    None when it does (the probe then asks scheme, scope and certificate of the URL);
    otherwise why the credentials stay home.
    """
    if verdict != WORKING or not exchanges:
        return "the method does not lead to a working Autodiscover endpoint"
    return None


__all__ = [
    "Judgement", "RedirectStop", "Stop", "certificates", "cleartext_answer", "credentials_withheld",
    "https_answer", "json_v2_answer", "plain_answer", "redirect_target", "srv_lookup",
    "srv_out_of_scope", "transport", "usable_records",
]
