"""Built evidence for testing checks in milliseconds, without a network."""

from __future__ import annotations

from casaudit.evidence.autodiscover import METHODS, AuthenticatedAttempt, AutodiscoverEvidence
from casaudit.evidence.base import EvidenceSet, ProbeError, endpoint_url
from casaudit.evidence.dns import SrvLookup
from casaudit.evidence.hostless import HostlessEvidence
from casaudit.evidence.http import HttpEvidence, HttpExchange, LogonForm
from casaudit.evidence.mail import (
    CleartextLoginTest,
    MailCapabilities,
    MailEvidence,
    StartTls,
)
from casaudit.evidence.ntlm import NtlmEvidence
from casaudit.evidence.tls import (
    TlsCertificate,
    TlsChain,
    TlsCipherSuite,
    TlsCommandError,
    TlsEvidence,
    TlsProtocolSupport,
    TlsVulnerabilities,
)
from casaudit.exchange import BASELINE_ROLE
from casaudit.parse.mail import identify_banner, imap_sasl, pop3_has, pop3_sasl

T0 = "2026-01-01T00:00:00.000Z"


def exchange(
    url: str,
    status: int | None = 200,
    *,
    method: str = "GET",
    headers: tuple[tuple[str, str], ...] = (),
    auth: tuple[str, ...] = (),
    error: ProbeError | None = None,
    body: str = "",
    form: LogonForm | None = None,
) -> HttpExchange:
    return HttpExchange(
        method=method, url=url, request_headers=(), started_at=T0,
        status=None if error else status, reason="", headers=headers,
        body_excerpt=body, body_bytes=len(body.encode()),
        auth_schemes=auth, error=error, logon_form=form,
    )


def logon_form(action_url: str, action: str | None = None) -> LogonForm:
    return LogonForm(
        action=action if action is not None else action_url, action_url=action_url,
        method="POST", posts_cleartext=action_url.startswith("http://"),
    )


def baseline(
    *chain: HttpExchange, scheme: str = "https", host: str = "mail.example.test",
    evidence_id: str = "B001",
) -> HttpEvidence:
    """The random nonexistent-path probe of a scheme (default: an IIS-like 404)."""
    port = 80 if scheme == "http" else 443
    path = "/casaudit-0123456789abcdef/"
    if not chain:
        chain = (exchange(endpoint_url(scheme, host, port, path), 404, body="not found"),)
    return http_evidence(
        *chain, scheme=scheme, path=path, role=BASELINE_ROLE, host=host,
        evidence_id=evidence_id,
    )


def http_evidence(
    *chain: HttpExchange,
    scheme: str = "http",
    path: str = "/owa",
    role: str = "owa",
    host: str = "mail.example.test",
    port: int | None = None,
    evidence_id: str = "E001",
    redirect_stopped: str | None = None,
    started_at: str = T0,
) -> HttpEvidence:
    port = port or (80 if scheme == "http" else 443)
    url = endpoint_url(scheme, host, port, path)
    if not chain:
        chain = (exchange(url),)
    return HttpEvidence(
        id=evidence_id, endpoint=url, role=role, scheme=scheme, host=host, port=port,
        path=path, started_at=started_at, finished_at=started_at, exchanges=tuple(chain),
        redirect_stopped=redirect_stopped,
    )


def evidence_set(*items: object) -> EvidenceSet:
    return EvidenceSet(tuple(items))


# --------------------------------------------------------------------------- mail


def mail_caps(*items: str, over_tls: bool = False, protocol: str = "imap") -> MailCapabilities:
    """A capability listing as the probe records it (IMAP tokens or POP3 CAPA lines)."""
    if protocol == "imap":
        return MailCapabilities(
            over_tls=over_tls, items=items, sasl=imap_sasl(items),
            starttls="STARTTLS" in items, logindisabled="LOGINDISABLED" in items,
        )
    return MailCapabilities(
        over_tls=over_tls, items=items, sasl=pop3_sasl(items), starttls=pop3_has(items, "STLS"),
        user=pop3_has(items, "USER"),
    )


def mail_evidence(
    service: str = "imap",
    *,
    reachability: str = "open",
    greeting: str | None = None,
    clear: MailCapabilities | None = None,
    starttls: StartTls | None = None,
    over_tls: MailCapabilities | None = None,
    login: CleartextLoginTest | None = None,
    error: ProbeError | None = None,
    host: str = "mail.example.test",
    port: int | None = None,
    evidence_id: str = "mail-001",
) -> MailEvidence:
    protocol = "imap" if service.startswith("imap") else "pop3"
    implicit = service.endswith("s")
    port = port or {"pop3": 110, "pop3s": 995, "imap": 143, "imaps": 993}[service]
    if greeting is None and reachability == "open":
        greeting = "* OK IMAP4 ready" if protocol == "imap" else "+OK POP3 ready"
    if reachability == "refused" and error is None:
        error = ProbeError("refused", "connection refused: nothing listens on this port")
    if reachability == "filtered" and error is None:
        error = ProbeError("timeout", "no answer to the connection attempt in 5 s (filtered?)")
    if starttls is None and not implicit and clear is not None:
        starttls = StartTls(offered=clear.starttls, attempted=clear.starttls, ok=clear.starttls)
    return MailEvidence(
        id=evidence_id, endpoint=endpoint_url(service, host, port), service=service,
        protocol=protocol, host=host, port=port, implicit_tls=implicit, started_at=T0,
        finished_at=T0, reachability=reachability, greeting=greeting,
        banner=identify_banner(greeting), capabilities_clear=clear, starttls=starttls,
        capabilities_tls=over_tls, login_in_clear=login, error=error,
    )


def ntlm_evidence(
    path: str = "/rpc/rpcproxy.dll",
    *,
    scheme: str = "https",
    status: int | None = 401,
    auth: tuple[str, ...] = ("NTLM",),
    challenge: object | None = None,
    token: str | None = None,
    decode_error: str | None = None,
    error: ProbeError | None = None,
    evidence_id: str = "ntlm-001",
    host: str = "mail.example.test",
):
    port = 443 if scheme == "https" else 80
    return NtlmEvidence(
        id=evidence_id, endpoint=endpoint_url(scheme, host, port, path), scheme=scheme, host=host,
        port=port, path=path, started_at=T0, finished_at=T0, status=None if error else status,
        auth_schemes=() if error else auth, challenge_b64=token, challenge=challenge,  # type: ignore[arg-type]
        decode_error=decode_error, error=error, peer=None if error else f"192.0.2.10:{port}",
    )


def hostless_evidence(
    path: str = "/owa",
    *,
    scheme: str = "https",
    status: int | None = 301,
    headers: tuple[tuple[str, str], ...] = (),
    peer: str = "192.0.2.10",
    error: ProbeError | None = None,
    evidence_id: str = "hostless-001",
    host: str = "mail.example.test",
):
    port = 443 if scheme == "https" else 80
    return HostlessEvidence(
        id=evidence_id, endpoint=endpoint_url(scheme, host, port, path), scheme=scheme, host=host,
        port=port, path=path, started_at=T0, finished_at=T0, request=f"GET {path} HTTP/1.0",
        status=None if error else status, headers=() if error else headers,
        peer=None if error else f"{peer}:{port}", error=error,
    )


#: The transport error behind each Autodiscover failure name the probe derives from one.
AUTODISCOVER_ERRORS = {
    "refused": ProbeError("refused", "connection refused: nothing listens on this port"),
    "timeout": ProbeError("timeout", "the server stopped answering in time"),
    "dns_nxdomain": ProbeError("dns", "name not resolved: no such name (NXDOMAIN)"),
    "dns_failure": ProbeError("dns", "name not resolved: Name or service not known"),
    "connection_reset": ProbeError("reset", "the server reset the connection"),
    "tls_failure": ProbeError("tls", "TLS handshake failed: HANDSHAKE_FAILURE"),
    "protocol_error": ProbeError("protocol", "the server broke the HTTP protocol"),
}


def autodiscover_answer(endpoint: str, method: str, verdict: str, failure: str | None,
                        domain: str) -> tuple[HttpExchange, ...]:
    """What the probe would have recorded for this verdict: the exchanges it rests on."""
    if method == "srv":
        return ()  # a DNS query; its record is `srv`
    verb = "GET" if method in ("http_redirect", "json_v2") else "POST"
    if failure in AUTODISCOVER_ERRORS:
        return (exchange(endpoint, method=verb, error=AUTODISCOVER_ERRORS[failure]),)
    secure = f"https://autodiscover.{domain}:443/autodiscover/autodiscover.xml"
    if verdict == "working" and method == "http_redirect":
        return (exchange(endpoint, 302, method=verb, headers=(("Location", secure),)),
                exchange(secure, 401, method="POST", auth=("Negotiate", "NTLM")))
    if verdict == "working":
        return (exchange(endpoint, 401, method=verb, auth=("Negotiate", "NTLM")),)
    status = {"not_found": 404, "unexpected_status": 503, "cleartext_content": 401}.get(
        failure or "", 200)
    return (exchange(endpoint, status, method=verb, body="<html>a web site</html>"),)


def autodiscover_evidence(
    method: str = "autodiscover_host",
    verdict: str = "working",
    failure: str | None = None,
    *,
    domain: str = "example.test",
    exchanges: tuple[HttpExchange, ...] | None = None,
    srv: object = None,
    detail: str = "",
    evidence_id: str | None = None,
) -> object:
    """One method's record; without `exchanges`, those its verdict and failure imply."""
    order = METHODS.index(method) + 1
    host = {"root_domain": domain, "srv": f"_autodiscover._tcp.{domain}"}.get(
        method, f"autodiscover.{domain}")
    scheme = {"http_redirect": "http", "srv": "dns"}.get(method, "https")
    port = {"http": 80, "dns": 53}.get(scheme, 443)
    endpoint = f"{scheme}://{host}:{port}/autodiscover/autodiscover.xml"
    if exchanges is None:
        exchanges = autodiscover_answer(endpoint, method, verdict, failure, domain)
    return AutodiscoverEvidence(
        id=evidence_id or f"ad-{order:03d}", endpoint=endpoint, method=method, order=order,
        domain=domain, email=f"casaudit-probe@{domain}", started_at=T0, finished_at=T0,
        request="test", exchanges=exchanges, srv=srv,  # type: ignore[arg-type]
        verdict=verdict, failure=failure, detail=detail or f"{verdict} {failure or ''}",
    )


# --------------------------------------------------------------------------- TLS

def certificate(
    name: str = "mail.example.test",
    *,
    dns_names: tuple[str, ...] | None = None,
    not_before: str = "2025-06-01T00:00:00Z",
    not_after: str = "2026-06-01T00:00:00Z",
    key_type: str = "RSA",
    key_bits: int = 2048,
    signature_hash: str | None = "sha256",
    self_issued: bool = False,
    issuer: str = "CN=Example Issuing CA",
    fingerprint: str = "aa" * 32,
) -> TlsCertificate:
    return TlsCertificate(
        subject=f"CN={name}", issuer=issuer, common_name=name,
        dns_names=(name,) if dns_names is None else dns_names, serial="1",
        not_before=not_before, not_after=not_after, key_type=key_type, key_bits=key_bits,
        signature_hash=signature_hash, self_issued=self_issued, sha256=fingerprint,
    )


def chain(*certificates: TlsCertificate, trust: str = "trusted", detail: str = "") -> TlsChain:
    return TlsChain(
        certificates=certificates or (certificate(),), trust=trust,
        trust_detail=detail or f"chain is {trust}", trust_stores=("system",),
    )


MODERN = (
    TlsProtocolSupport("SSL 2.0"), TlsProtocolSupport("SSL 3.0"), TlsProtocolSupport("TLS 1.0"),
    TlsProtocolSupport("TLS 1.1"),
    TlsProtocolSupport("TLS 1.2", (
        TlsCipherSuite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", 128),
    )),
    TlsProtocolSupport("TLS 1.3", (
        TlsCipherSuite("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", 128),
    )),
)

SOUND = TlsVulnerabilities(
    heartbleed=False, ccs_injection=False, robot="NOT_VULNERABLE_RSA_NOT_SUPPORTED",
    secure_renegotiation=True, client_renegotiation_dos=False, compression=False,
    fallback_scsv=True,
)


def tls_evidence(
    *,
    service: str = "https",
    host: str = "mail.example.test",
    name_role: str = "host",
    port: int | None = None,
    scope: str = "full",
    protocols: tuple[TlsProtocolSupport, ...] = MODERN,
    cert: TlsChain | None = None,
    vulnerabilities: TlsVulnerabilities = SOUND,
    error: ProbeError | None = None,
    command_errors: tuple[TlsCommandError, ...] = (),
    started_at: str = T0,
    expiry_warning_days: int = 30,
    evidence_id: str = "tls-001",
    no_certificate: bool = False,
    starttls_offered: bool | None = None,
) -> TlsEvidence:
    port = port or {"https": 443, "imaps": 993, "pop3s": 995, "imap": 143, "pop3": 110}[service]
    if error is not None:
        protocols, vulnerabilities = (), TlsVulnerabilities()
    return TlsEvidence(
        id=evidence_id, endpoint=endpoint_url(service, host, port), service=service, host=host,
        name_role=name_role, port=port, address="192.0.2.10",
        starttls={"imap": "IMAP", "pop3": "POP3"}.get(service), features=("Outlook Web Access",),
        scope=scope, scan_commands=(), started_at=started_at, finished_at=started_at,
        expiry_warning_days=expiry_warning_days, error=error,
        starttls_offered=starttls_offered, client_auth=None if error else "disabled",
        protocols=protocols if scope == "full" else (),
        certificate=None if (error or no_certificate) else (cert or chain()),
        vulnerabilities=vulnerabilities if scope == "full" else TlsVulnerabilities(),
        command_errors=command_errors,
    )


# --------------------------------------------------------------------------- whole hosts
# Every probe family's evidence for one host answering one way throughout: the sets the
# rule book's "absent" and "no usable answer" cases are built from (docs/verdicts.md).

REFUSED = ProbeError("refused", "connection refused: nothing listens on this port")
TIMEOUT = ProbeError("timeout", "the server stopped answering in time")


def web_host(status: int | None = None, *, error: ProbeError | None = None,
             host: str = "mail.example.test", body: str = "") -> tuple[object, ...]:
    """Every Client Access URL, the baseline, the NTLM and Host-less requests, on https and http,
    all answering `status` (with `body`) or all failing with `error`."""
    from casaudit.exchange import CLIENT_ACCESS_URLS
    from casaudit.plan import HOSTLESS_PATHS, NTLM_PATHS

    items: list[object] = []
    for scheme in ("https", "http"):
        port = 443 if scheme == "https" else 80
        for url in CLIENT_ACCESS_URLS:
            items.append(http_evidence(
                exchange(endpoint_url(scheme, host, port, url.path), status, method=url.method,
                         error=error, body=body),
                scheme=scheme, path=url.path, role=url.role, host=host,
                evidence_id=f"{scheme}-{url.role}",
            ))
        items.append(baseline(
            exchange(endpoint_url(scheme, host, port, "/casaudit-0123456789abcdef/"), status,
                     error=error, body=body),
            scheme=scheme, host=host, evidence_id=f"{scheme}-baseline",
        ))
        items += [ntlm_evidence(path, scheme=scheme, status=status, auth=(), error=error, host=host,
                                evidence_id=f"ntlm-{scheme}-{path}") for path in NTLM_PATHS]
        items += [hostless_evidence(path, scheme=scheme, status=status, error=error, host=host,
                                    evidence_id=f"hostless-{scheme}-{path}")
                  for path in HOSTLESS_PATHS]
    return tuple(items)


def mail_host(reachability: str = "open", *, greeting: str | None = None,
              error: ProbeError | None = None) -> tuple[MailEvidence, ...]:
    """POP3 and IMAP4, cleartext and implicit TLS, all four ports alike."""
    return tuple(
        mail_evidence(service, reachability=reachability, greeting=greeting, error=error,
                      evidence_id=f"mail-{service}")
        for service in ("pop3", "pop3s", "imap", "imaps")
    )


def tls_host(error: ProbeError, *, starttls_offered: bool | None = None,
             domain: str = "example.test") -> tuple[TlsEvidence, ...]:
    """Every TLS service (https, imaps, pop3s, STARTTLS imap and pop3, the other names) failing
    with `error`; `starttls_offered` applies to the STARTTLS ports."""
    items = [
        tls_evidence(service=service, error=error, evidence_id=f"tls-{service}",
                     starttls_offered=starttls_offered if service in ("imap", "pop3") else None)
        for service in ("https", "imaps", "pop3s", "imap", "pop3")
    ]
    items += [
        tls_evidence(host=name, name_role=role, scope="certificate", error=error,
                     evidence_id=f"tls-{role}")
        for name, role in ((f"autodiscover.{domain}", "autodiscover"), (domain, "domain"))
    ]
    return tuple(items)


def autodiscover_host(verdict: str, failure: str, *, srv_error: str,
                      domain: str = "example.test",
                      authenticated: ProbeError | None = None) -> tuple[object, ...]:
    """The five Autodiscover methods alike; the SRV query ends with `srv_error`.

    With `authenticated`, each HTTPS method also carries its credentialed attempt, sent
    and failing with that error (as with --authenticated; json_v2 never carries one).
    """
    import dataclasses

    srv_failure = {"nxdomain": "dns_nxdomain", "dns": "dns_failure"}.get(srv_error, srv_error)
    items = []
    for method in METHODS:
        if method == "srv":
            lookup = SrvLookup(f"_autodiscover._tcp.{domain}", "192.0.2.53:53", error=srv_error,
                               detail=srv_error)
            srv_verdict = "unknown" if srv_error == "timeout" else "failed"
            items.append(autodiscover_evidence(method, srv_verdict, srv_failure, srv=lookup,
                                               domain=domain))
        else:
            items.append(autodiscover_evidence(method, verdict, failure, domain=domain))
    if authenticated is not None:
        items = [
            dataclasses.replace(item, authenticated=AuthenticatedAttempt(
                url=item.endpoint, sent=True,
                exchange=exchange(item.endpoint, method="POST", error=authenticated)))
            if item.method in ("root_domain", "autodiscover_host") else item
            for item in items
        ]
    return tuple(items)
