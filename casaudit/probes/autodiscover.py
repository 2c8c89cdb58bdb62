"""Autodiscover from the outside: every method Outlook uses, as a client would try it.

For the mail domain it POSTs the Outlook POX request (EXCHANGE-FACTS §5.1) to
`https://<domain>/...` and `https://autodiscover.<domain>/...`, GETs the
plain-HTTP redirect URL, asks DNS for `_autodiscover._tcp.<domain>` SRV, and
GETs the JSON v2 endpoint. Each method's record (`casaudit.evidence.autodiscover`)
says what came back and whether it answered like Autodiscover (`verdict`,
`failure`): that is decided by the pure `casaudit.autodiscover_judge`, which
this probe calls and whose verdict its credential gate asks; the probe itself
does the I/O and the order of the steps.

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

from casaudit import autodiscover_judge as judge
from casaudit.autodiscover_judge import RedirectStop, Stop
from casaudit.evidence.autodiscover import (
    AUTODISCOVER_PATH,
    AdvertisedUrl,
    AuthenticatedAttempt,
    AutodiscoverEvidence,
    CertificateCheck,
    Failure,
)
from casaudit.evidence.http import HttpExchange
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
)
from casaudit.plan import (
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
        chain, stop, last = self._chain("POST", url, pox_request(email), POX_HEADERS)
        certificates = self._certificates_for(chain)
        xml = _xml_of(last)
        canary = self._canary_if_needed(last, xml is not None and xml.autodiscover)
        outcome = judge.https_answer(last.exchange, last.body, stop, certificates, xml, canary)
        return {
            "request": "POST POX (Outlook 2006 request schema)",
            "exchanges": tuple(r.exchange for r in chain),
            "redirect_stopped": stop.text if stop else None,
            "certificates": certificates, "xml": xml, "canary": canary, **outcome.fields(),
        }

    def _http_redirect(self, task: AutodiscoverTask) -> dict[str, Any]:
        """GET the plain-HTTP URL; a redirect to an in-scope HTTPS Autodiscover URL is then tried."""
        reply = self._send("GET", task.url, None, ())
        exchange = reply.exchange
        base = {"request": "GET (HTTP redirect method)", "exchanges": (exchange,)}
        location = exchange.header_values("location")
        if exchange.error is None and exchange.status in REDIRECT_STATUSES and location:
            target, problem = join_location(task.url, location[0])
            url = httpx.URL(target) if target is not None else None
            in_scope = url is not None and self._scope.allows(url.host)
            refused = judge.redirect_target(
                target, problem, url.scheme if url else "", url.path if url else "", in_scope)
            if target is not None:
                base["target_url"] = target
            if refused is not None:
                if refused.failure is Failure.TARGET_OUT_OF_SCOPE and url is not None:
                    base["redirect_stopped"] = f"{url.host!r} is outside the target's names"
                return {**base, **refused.fields()}
            assert target is not None
            followed = self._pox_method(target)
            detail = f"{exchange.status} to {target}; there: {followed['detail']}"
            return {
                **base, **followed, "request": base["request"],
                "exchanges": (exchange, *followed["exchanges"]),
                "detail": detail,
            }
        xml = _xml_of(reply)
        cleartext = judge.cleartext_answer(exchange, xml)
        if cleartext is not None:
            return {**base, "xml": xml, **cleartext.fields()}
        canary = self._canary_if_needed(reply, False)
        outcome = judge.plain_answer(exchange, reply.body, canary)
        return {**base, "xml": xml, "canary": canary, **outcome.fields()}

    def _srv(self, task: AutodiscoverTask) -> dict[str, Any]:
        lookup = self._context.resolver.srv(task.host)
        base: dict[str, Any] = {"request": f"DNS SRV query for {task.host}", "srv": lookup}
        unusable = judge.srv_lookup(lookup)
        if unusable is not None:
            return {**base, **unusable.fields()}
        best = judge.usable_records(lookup)[0]
        target = endpoint_url("https", best.target, best.port, AUTODISCOVER_PATH)
        base["target_url"] = target
        if not self._scope.allows(best.target):
            return {**base, **judge.srv_out_of_scope(best.target, best.port).fields()}
        followed = self._pox_method(target)
        return {**base, **followed, "request": base["request"],
                "detail": f"points to {best.target}:{best.port}; there: {followed['detail']}"}

    def _json_v2(self, task: AutodiscoverTask) -> dict[str, Any]:
        chain, stop, last = self._chain("GET", task.url, None, JSON_HEADERS)
        certificates = self._certificates_for(chain)
        exchange = last.exchange
        summary: JsonV2Summary | None = None
        if exchange.error is None and exchange.status == 200 and not looks_like_html(
            _content_type(exchange), last.body
        ):
            summary = parse_json_v2(last.body, last.truncated)
        outcome = judge.json_v2_answer(summary.url, summary.protocol, certificates) if summary else None
        if outcome is None:
            canary = self._canary_if_needed(last, False)
            outcome = judge.https_answer(exchange, last.body, stop, certificates, None, canary)
        return {
            "request": "GET JSON v2 (Protocol=AutodiscoverV1)",
            "exchanges": tuple(r.exchange for r in chain),
            "redirect_stopped": stop.text if stop else None,
            "certificates": certificates, "json_v2": summary, **outcome.fields(),
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
        not_working = judge.credentials_withheld(fields.get("verdict", ""), exchanges)
        if not_working is not None:
            return AuthenticatedAttempt(url=None, sent=False, withheld=not_working)
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
    ) -> tuple[list[_Reply], Stop | None, _Reply]:
        """Send, following redirects only to HTTPS URLs inside the target's names."""
        chain: list[_Reply] = []
        visited = {url}
        stop: Stop | None = None
        for hop in range(MAX_HOPS + 1):
            reply = self._send(method, url, body, headers)
            chain.append(reply)
            exchange = reply.exchange
            locations = exchange.header_values("location")
            if exchange.error or exchange.status not in REDIRECT_STATUSES or not locations:
                break
            target, problem = join_location(url, locations[0])
            if target is None:
                stop = Stop(RedirectStop.UNUSABLE, problem or "")
                break
            parsed = httpx.URL(target)
            if parsed.scheme != "https":
                stop = Stop(RedirectStop.TO_PLAIN_HTTP, f"redirect to plain HTTP ({target}): not followed")
                break
            if not self._scope.allows(parsed.host):
                stop = Stop(RedirectStop.OUT_OF_SCOPE,
                            f"redirect to {parsed.host!r}, outside the target's names: not followed")
                break
            if target in visited or hop == MAX_HOPS:
                stop = Stop(RedirectStop.LOOP_OR_LIMIT, f"redirect loop or more than {MAX_HOPS} redirects")
                break
            visited.add(target)
            url = target
        return chain, stop, chain[-1]

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


# -- helpers (judging lives in casaudit.autodiscover_judge) ------------------------------


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
