"""Autodiscover from the outside: every method Outlook uses, as a client would try it.

For the mail domain it POSTs the Outlook POX request (EXCHANGE-FACTS §5.1) to
`https://<domain>/...` and `https://autodiscover.<domain>/...`, GETs the
plain-HTTP redirect URL, asks DNS for `_autodiscover._tcp.<domain>` SRV, and
GETs the JSON v2 endpoint. Each method's record says what came back and whether
it answered like Autodiscover (`verdict`).

Two clients: the observing one of the HTTP probe (no certificate verification:
it must see what a misconfigured server answers) and a verifying handshake per
HTTPS name (system store plus --ca-file, host name checked), because "a
certificate for another name" is what makes Outlook fail on that URL.

Scope: casaudit contacts only the target's names (host, autodiscover.<domain>,
<domain>). A redirect or SRV record pointing elsewhere is recorded, not followed.
"""

from __future__ import annotations

import functools
import os
import ssl
import threading
from typing import Any

import httpx

from casaudit.evidence_autodiscover import (
    FAILED,
    UNKNOWN,
    WORKING,
    AdvertisedUrl,
    AuthenticatedAttempt,
    AutodiscoverEvidence,
    CertificateCheck,
)
from casaudit.model import HttpExchange, ProbeError
from casaudit.parse.autodiscover import (
    MAX_XML_BYTES,
    AdvertisedSetting,
    JsonV2Summary,
    PoxSummary,
    cut_short,
    looks_like_html,
    looks_like_xml,
    parse_json_v2,
    parse_pox,
    pox_request,
    unread_failure,
)
from casaudit.plan import (
    AUTODISCOVER_PATH,
    CANARY_PATH,
    AutodiscoverTask,
    endpoint_url,
    plan_autodiscover,
    probe_address,
)
from casaudit.probes.base import ProbeContext
from casaudit.probes.common import allow_old_servers, now, observing_context
from casaudit.probes.errors import probe_error
from casaudit.probes.pacing import ScanStopped
from casaudit.probes.wire.http import REDIRECT_STATUSES, client, exchange, join_location
from casaudit.probes.wire.http import Reply as _Reply
from casaudit.probes.wire.ports import Silence, connect
from casaudit.resolve import ResolutionError

MAX_HOPS = 3
POX_HEADERS = (("Content-Type", "text/xml; charset=utf-8"),)
JSON_HEADERS = (("Accept", "application/json"),)
#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_CERT_HAS_EXPIRED.
_HOSTNAME_MISMATCH, _EXPIRED = 62, 10


class _Outcome:
    """A method's verdict while it is being worked out."""

    def __init__(self, verdict: str, failure: str | None, detail: str) -> None:
        self.verdict, self.failure, self.detail = verdict, failure, detail


class AutodiscoverProbe:
    """The five Autodiscover methods for the target's mail domain; `run` is thread-safe."""

    def __init__(self, context: ProbeContext) -> None:
        self._context = context
        self._scope = context.scope
        self._client = observing_client(context)
        self._verifying = verifying_context(context.ca_file)
        self._certificates: dict[tuple[str, int], CertificateCheck] = {}
        self._lock = threading.Lock()
        self._credentials = context.credentials
        self._authenticating = (
            verifying_client(context) if context.credentials is not None else None
        )

    def tasks(self) -> list[AutodiscoverTask]:
        return plan_autodiscover(self._context.target)

    def close(self) -> None:
        self._client.close()
        if self._authenticating is not None:
            self._authenticating.close()

    def run(self, task: AutodiscoverTask) -> list[AutodiscoverEvidence]:
        started = now()
        if task.method == "srv":
            fields = self._srv(task)
        elif task.method == "http_redirect":
            fields = self._http_redirect(task)
        elif task.method == "json_v2":
            fields = self._json_v2(task)
        else:
            fields = self._pox_method(task.url)
        if self._credentials is not None and task.method != "json_v2":
            fields["authenticated"] = self._authenticate(fields)
        return [AutodiscoverEvidence(
            id=task.evidence_id, endpoint=task.url, method=task.method, order=task.order,
            domain=task.domain, email=task.email, started_at=started, finished_at=now(),
            **fields,
        )]

    # -- methods ---------------------------------------------------------------------

    def _pox_method(self, url: str, email: str | None = None) -> dict[str, Any]:
        """POST the Outlook POX request to an HTTPS URL, following in-scope HTTPS redirects."""
        email = email or self._email()
        chain, stopped, last = self._chain("POST", url, pox_request(email), POX_HEADERS)
        certificates = self._certificates_for(chain)
        xml = _xml_of(last)
        canary = self._canary_if_needed(last, xml is not None and xml.autodiscover)
        outcome = _judge_https(last, stopped, certificates, xml, canary)
        return {
            "request": "POST POX (Outlook 2006 request schema)",
            "exchanges": tuple(r.exchange for r in chain), "redirect_stopped": stopped,
            "certificates": certificates, "xml": xml, "canary": canary,
            "verdict": outcome.verdict, "failure": outcome.failure, "detail": outcome.detail,
        }

    def _http_redirect(self, task: AutodiscoverTask) -> dict[str, Any]:
        """GET the plain-HTTP URL; a redirect to an in-scope HTTPS Autodiscover URL is then tried."""
        reply = self._send("GET", task.url, None, ())
        exchange = reply.exchange
        base = {"request": "GET (HTTP redirect method)", "exchanges": (exchange,)}
        location = exchange.header_values("location")
        if exchange.error is None and exchange.status in REDIRECT_STATUSES and location:
            target, problem = join_location(task.url, location[0])
            if target is None:
                return {**base, **_fields(FAILED, "redirect_unusable", problem or "")}
            base["target_url"] = target
            url = httpx.URL(target)
            if url.scheme != "https":
                return {**base, **_fields(FAILED, "redirect_to_http",
                                          f"redirects to {target}, not to HTTPS")}
            if not url.path.lower().endswith(AUTODISCOVER_PATH):
                return {**base, **_fields(FAILED, "redirect_unexpected_url",
                                          f"redirects to {target}, not to an Autodiscover URL")}
            if not self._scope.allows(url.host):
                return {**base, "redirect_stopped": f"{url.host!r} is outside the target's names",
                        **_fields(UNKNOWN, "target_out_of_scope",
                                  f"redirects to {target}, outside the target's names: not followed")}
            followed = self._pox_method(target)
            detail = f"{exchange.status} to {target}; there: {followed['detail']}"
            return {
                **base, **followed, "request": base["request"],
                "exchanges": (exchange, *followed["exchanges"]),
                "detail": detail,
            }
        xml = _xml_of(reply)
        if exchange.error is None and (exchange.status == 401 or (xml and xml.autodiscover)):
            what = "a 401 challenge" if exchange.status == 401 else "Autodiscover XML"
            return {**base, "xml": xml, **_fields(
                FAILED, "cleartext_content",
                f"answers {what} over plain HTTP instead of redirecting to HTTPS")}
        canary = self._canary_if_needed(reply, False)
        outcome = _judge_plain(reply, canary)
        return {**base, "xml": xml, "canary": canary, **_fields(
            outcome.verdict, outcome.failure, outcome.detail)}

    def _srv(self, task: AutodiscoverTask) -> dict[str, Any]:
        lookup = self._context.resolver.srv(task.host)
        base: dict[str, Any] = {"request": f"DNS SRV query for {task.host}", "srv": lookup}
        if lookup.error is not None:
            verdict = UNKNOWN if lookup.error == "timeout" else FAILED
            failure = {"nxdomain": "dns_nxdomain", "dns": "dns_failure"}.get(lookup.error, lookup.error)
            return {**base, **_fields(verdict, failure, lookup.detail)}
        usable = [record for record in lookup.records if record.target not in ("", ".")]
        if not usable:
            return {**base, **_fields(FAILED, "no_record", "the SRV record says: no service here")}
        best = usable[0]
        target = endpoint_url("https", best.target, best.port, AUTODISCOVER_PATH)
        base["target_url"] = target
        if not self._scope.allows(best.target):
            return {**base, **_fields(
                UNKNOWN, "target_out_of_scope",
                f"points to {best.target}:{best.port}, outside the target's names: not contacted")}
        followed = self._pox_method(target)
        return {**base, **followed, "request": base["request"],
                "detail": f"points to {best.target}:{best.port}; there: {followed['detail']}"}

    def _json_v2(self, task: AutodiscoverTask) -> dict[str, Any]:
        chain, stopped, last = self._chain("GET", task.url, None, JSON_HEADERS)
        certificates = self._certificates_for(chain)
        exchange = last.exchange
        summary: JsonV2Summary | None = None
        if exchange.error is None and exchange.status == 200 and not looks_like_html(
            _content_type(exchange), last.body
        ):
            summary = parse_json_v2(last.body, last.truncated)
        if summary is not None and summary.url:
            outcome = _certificate_outcome(certificates) or _Outcome(
                WORKING, None, f"200 JSON: {summary.protocol} at {summary.url}")
        else:
            canary = self._canary_if_needed(last, False)
            outcome = _judge_https(last, stopped, certificates, None, canary)
        return {
            "request": "GET JSON v2 (Protocol=AutodiscoverV1)",
            "exchanges": tuple(r.exchange for r in chain), "redirect_stopped": stopped,
            "certificates": certificates, "json_v2": summary,
            **_fields(outcome.verdict, outcome.failure, outcome.detail),
        }

    # -- authenticated mode ----------------------------------------------------------

    def _authenticate(self, fields: dict[str, Any]) -> AuthenticatedAttempt:
        """At most one credentialed POST per method, and only where it is safe.

        Safe means: the method led to a working Autodiscover endpoint, whose URL
        is HTTPS, on one of the target's names, whose certificate verified. The
        request itself goes through a verifying client that follows no redirect,
        so the credentials cannot be carried anywhere else.
        """
        exchanges = fields.get("exchanges", ())
        if fields.get("verdict") != WORKING or not exchanges:
            return AuthenticatedAttempt(
                url=None, sent=False,
                withheld="the method does not lead to a working Autodiscover endpoint")
        url = exchanges[-1].url
        withheld = self._withhold(url)
        if withheld is not None:
            return AuthenticatedAttempt(url=url, sent=False, withheld=withheld)
        assert self._credentials is not None and self._authenticating is not None
        headers = (*POX_HEADERS, ("Authorization", self._credentials.basic_authorization()))
        reply = self._send("POST", url, pox_request(self._credentials.email), headers,
                           client=self._authenticating)
        xml = _xml_of(reply)
        advertised = tuple(self._advertised(s) for s in xml.settings) if xml is not None else ()
        return AuthenticatedAttempt(url=url, sent=True, exchange=reply.exchange, xml=xml,
                                    advertised=advertised)

    def _withhold(self, url: str) -> str | None:
        """Why credentials must not go to `url`, or None when they may."""
        parsed = httpx.URL(url)
        if parsed.scheme != "https":
            return "not HTTPS: credentials are never sent over plain HTTP"
        if not self._scope.allows(parsed.host):
            return f"{parsed.host!r} is outside the target's names"
        check = self.certificate(parsed.host, parsed.port or 443)
        if check.verified is not True:
            return f"the certificate for {parsed.host} did not verify ({check.detail})"
        return None

    def _advertised(self, setting: AdvertisedSetting) -> AdvertisedUrl:
        try:
            url = httpx.URL(setting.url)
            scheme, host = url.scheme, url.host
            port = url.port or (443 if scheme == "https" else 80)
        except (httpx.InvalidURL, ValueError):
            scheme, host, port = "", "", 0
        in_scope = bool(host) and self._scope.allows(host)
        certificate = self.certificate(host, port) if in_scope and scheme == "https" else None
        return AdvertisedUrl(
            protocol=setting.protocol, setting=setting.setting, url=setting.url, scheme=scheme,
            host=host, port=port, in_scope=in_scope, certificate=certificate,
        )

    # -- HTTP ------------------------------------------------------------------------

    def _email(self) -> str:
        return probe_address(self._context.target)

    def _chain(
        self, method: str, url: str, body: bytes | None, headers: tuple[tuple[str, str], ...]
    ) -> tuple[list[_Reply], str | None, _Reply]:
        """Send, following redirects only to HTTPS URLs inside the target's names."""
        chain: list[_Reply] = []
        visited = {url}
        stopped: str | None = None
        for hop in range(MAX_HOPS + 1):
            reply = self._send(method, url, body, headers)
            chain.append(reply)
            exchange = reply.exchange
            locations = exchange.header_values("location")
            if exchange.error or exchange.status not in REDIRECT_STATUSES or not locations:
                break
            target, stopped = join_location(url, locations[0])
            if target is None:
                break
            parsed = httpx.URL(target)
            if parsed.scheme != "https":
                stopped = f"redirect to plain HTTP ({target}): not followed"
                break
            if not self._scope.allows(parsed.host):
                stopped = f"redirect to {parsed.host!r}, outside the target's names: not followed"
                break
            if target in visited or hop == MAX_HOPS:
                stopped = f"redirect loop or more than {MAX_HOPS} redirects"
                break
            visited.add(target)
            url = target
        return chain, stopped, chain[-1]

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: tuple[tuple[str, str], ...],
        client: httpx.Client | None = None,
    ) -> _Reply:
        """One wire exchange; the body kept up to MAX_XML_BYTES, read for twice the step timeout."""
        return exchange(self._context, client or self._client, method, url, headers, body,
                        max_body=MAX_XML_BYTES, body_seconds=self._context.timeout * 2)

    def _canary_if_needed(self, last: _Reply, autodiscover: bool) -> HttpExchange | None:
        """A 200 that is not Autodiscover: does a path no Exchange has answer 200 too?"""
        exchange = last.exchange
        if exchange.error is not None or exchange.status != 200 or autodiscover:
            return None
        url = httpx.URL(exchange.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        return self._send("GET", endpoint_url(url.scheme, url.host, port, CANARY_PATH), None, ()).exchange

    # -- certificates ----------------------------------------------------------------

    def _certificates_for(self, chain: list[_Reply]) -> tuple[CertificateCheck, ...]:
        seen: dict[tuple[str, int], CertificateCheck] = {}
        for reply in chain:
            url = httpx.URL(reply.exchange.url)
            if url.scheme != "https":
                continue
            key = (url.host, url.port or 443)
            if key not in seen:
                seen[key] = self.certificate(*key)
        return tuple(seen.values())

    def certificate(self, host: str, port: int) -> CertificateCheck:
        """Verify the certificate `host:port` serves for `host`; once per name and port."""
        with self._lock:
            cached = self._certificates.get((host, port))
        if cached is not None:
            return cached
        check = self._verify(host, port)
        with self._lock:
            self._certificates.setdefault((host, port), check)
        return check

    def _verify(self, host: str, port: int) -> CertificateCheck:
        try:
            addresses = self._context.resolver.resolve(host)
        except ResolutionError as exc:
            return CertificateCheck(host, port, None, "unreachable", f"name not resolved: {exc}")
        failure = "no address"
        for address in addresses[:2]:
            try:
                raw = connect(self._context, address, port)
            except ScanStopped:
                raise
            except Exception as exc:  # noqa: BLE001 - refused, timed out, skipped: why not verified
                failure = probe_error(exc).detail
                continue
            try:
                with raw.sock, self._verifying.wrap_socket(raw.sock, server_hostname=host) as tls:
                    self._context.breaker.answered(raw.key)
                    return CertificateCheck(
                        host, port, True, None,
                        f"verified for {host} ({tls.version()}, system store"
                        f"{' and --ca-file' if self._context.ca_file else ''})",
                    )
            except ssl.SSLCertVerificationError as exc:
                code = exc.verify_code
                problem = {_HOSTNAME_MISMATCH: "name_mismatch", _EXPIRED: "expired"}.get(code, "untrusted")
                return CertificateCheck(host, port, False, problem, str(exc.verify_message)[:300])
            except ssl.SSLError as exc:
                return CertificateCheck(host, port, None, "handshake",
                                        f"TLS handshake failed: {exc.reason or exc}"[:300])
            except OSError as exc:
                if isinstance(exc, TimeoutError):
                    self._context.breaker.silent(raw.key, Silence.HANDSHAKE)
                failure = probe_error(exc).detail
        return CertificateCheck(host, port, None, "unreachable", failure)


def observing_client(context: ProbeContext) -> httpx.Client:
    """Sees what a misconfigured server answers: no certificate verification."""
    return client(context, observing_context())


def verifying_client(context: ProbeContext) -> httpx.Client:
    """The only client that carries credentials: verifies like Outlook, never redirects."""
    ssl_context = ssl.create_default_context()
    if context.ca_file:
        ssl_context.load_verify_locations(cafile=str(context.ca_file))
    return client(context, ssl_context)


def verifying_context(ca_file: object = None) -> ssl.SSLContext:
    """What Outlook trusts: the system store plus --ca-file, with the host name checked.

    Protocol versions and ciphers are relaxed so that this judges the
    certificate only; the TLS probe judges protocols. One context per CA file
    (path, time, size) serves every host of the process: loading the system
    store costs about 20 ms of CPU, and the context is only ever used to wrap.
    """
    path = str(ca_file) if ca_file else None
    try:
        stat = os.stat(path) if path else None
    except OSError:
        stat = None
    return _verifying_context(path, (stat.st_mtime_ns, stat.st_size) if stat else None)


@functools.lru_cache(maxsize=16)
def _verifying_context(ca_file: str | None, stamp: tuple[int, int] | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=str(ca_file))
    return allow_old_servers(context)


# -- judging what came back (observations: "answered like Autodiscover") --------------

_ERROR_FAILURES = {
    "refused": "refused",
    "tls": "tls_failure",
    "reset": "connection_reset",
    "protocol": "protocol_error",
    "unreachable": "unreachable",
}
#: Kinds that say nothing about the endpoint: the verdict stays unknown.
_UNKNOWN_KINDS = frozenset({"timeout", "skipped"})


def _fields(verdict: str, failure: str | None, detail: str) -> dict[str, Any]:
    return {"verdict": verdict, "failure": failure, "detail": detail}


def _content_type(exchange: HttpExchange) -> str:
    values = exchange.header_values("content-type")
    return values[0] if values else ""


def _xml_of(reply: _Reply) -> PoxSummary | None:
    exchange = reply.exchange
    if exchange.error is not None or not looks_like_xml(reply.body):
        return None
    if reply.cut is not None:
        # Even a complete-looking prefix is not read: the rest could change its meaning.
        return cut_short(reply.cut.detail)
    return parse_pox(reply.body, reply.truncated)


def _transport_outcome(error: ProbeError) -> _Outcome:
    if error.kind in _UNKNOWN_KINDS:
        return _Outcome(UNKNOWN, "timeout", error.detail)
    if error.kind == "dns":
        failure = "dns_nxdomain" if "NXDOMAIN" in error.detail else "dns_failure"
        return _Outcome(FAILED, failure, error.detail)
    return _Outcome(FAILED, _ERROR_FAILURES.get(error.kind, "error"), error.detail)


def _certificate_outcome(certificates: tuple[CertificateCheck, ...]) -> _Outcome | None:
    for check in certificates:
        if check.verified is False:
            failure = {"name_mismatch": "certificate_for_another_name",
                       "expired": "certificate_expired"}.get(check.problem or "", "certificate_untrusted")
            return _Outcome(FAILED, failure, f"certificate for {check.host}: {check.detail}")
    return None


def _judge_plain(reply: _Reply, canary: HttpExchange | None) -> _Outcome:
    """What a non-Autodiscover answer is: 404, HTML page, catch-all, other status."""
    exchange = reply.exchange
    if exchange.error is not None:
        return _transport_outcome(exchange.error)
    status = exchange.status
    if status == 404:
        return _Outcome(FAILED, "not_found", "404 Not Found")
    if status == 200:
        if canary is not None and canary.status == 200:
            return _Outcome(FAILED, "catch_all",
                            "200 with non-Autodiscover content, as for a path no Exchange has "
                            "(a catch-all site or proxy)")
        if looks_like_html(_content_type(exchange), reply.body):
            return _Outcome(FAILED, "html_page", "200 with an HTML page, not Autodiscover")
        return _Outcome(FAILED, "not_autodiscover", "200 with content that is not Autodiscover")
    if status in REDIRECT_STATUSES:
        return _Outcome(FAILED, "redirect_not_followed", f"{status} redirect not followed")
    return _Outcome(FAILED, "unexpected_status", f"{status} {exchange.reason}"[:200])


def _judge_https(
    last: _Reply,
    stopped: str | None,
    certificates: tuple[CertificateCheck, ...],
    xml: PoxSummary | None,
    canary: HttpExchange | None,
) -> _Outcome:
    exchange = last.exchange
    if exchange.error is not None:
        return _transport_outcome(exchange.error)
    certificate = _certificate_outcome(certificates)
    if certificate is not None:
        return certificate
    if stopped is not None:
        failure = "redirect_to_http" if "plain HTTP" in stopped else (
            "target_out_of_scope" if "outside" in stopped else "redirect_not_followed")
        verdict = UNKNOWN if failure == "target_out_of_scope" else FAILED
        return _Outcome(verdict, failure, f"{exchange.status}: {stopped}")
    if exchange.status == 401:
        offered = ", ".join(exchange.auth_schemes) or "no scheme named"
        return _Outcome(WORKING, None, f"401 to an anonymous request ({offered})")
    if xml is not None and xml.autodiscover:
        if xml.error_code:
            return _Outcome(WORKING, None,
                            f"{exchange.status} Autodiscover error {xml.error_code} ({xml.message or ''})")
        return _Outcome(WORKING, None, f"{exchange.status} Autodiscover response")
    if xml is not None and xml.parse_error is not None and 200 <= (exchange.status or 0) < 300:
        # XML that could not be read safely (a DTD, entities, XXE), broken, too big or cut.
        return _Outcome(FAILED, unread_failure(xml), f"{exchange.status} with XML not read: "
                        f"{xml.parse_error}"[:300])
    return _judge_plain(last, canary)
