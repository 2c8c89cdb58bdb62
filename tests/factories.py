"""Built evidence for testing checks in milliseconds, without a network."""

from __future__ import annotations

from casaudit.evidence_tls import (
    TlsCertificate,
    TlsChain,
    TlsCipherSuite,
    TlsCommandError,
    TlsEvidence,
    TlsProtocolSupport,
    TlsVulnerabilities,
)
from casaudit.model import EvidenceSet, HttpEvidence, HttpExchange, ProbeError
from casaudit.plan import endpoint_url

T0 = "2026-01-01T00:00:00.000Z"


def exchange(
    url: str,
    status: int | None = 200,
    *,
    method: str = "GET",
    headers: tuple[tuple[str, str], ...] = (),
    auth: tuple[str, ...] = (),
    error: ProbeError | None = None,
) -> HttpExchange:
    return HttpExchange(
        method=method, url=url, request_headers=(), started_at=T0,
        status=None if error else status, reason="", headers=headers,
        auth_schemes=auth, error=error,
    )


def http_evidence(
    *chain: HttpExchange,
    scheme: str = "http",
    path: str = "/owa",
    role: str = "owa",
    host: str = "mail.example.test",
    port: int | None = None,
    evidence_id: str = "E001",
) -> HttpEvidence:
    port = port or (80 if scheme == "http" else 443)
    url = endpoint_url(scheme, host, port, path)
    if not chain:
        chain = (exchange(url),)
    return HttpEvidence(
        id=evidence_id, endpoint=url, role=role, scheme=scheme, host=host, port=port,
        path=path, started_at=T0, finished_at=T0, exchanges=tuple(chain),
    )


def evidence_set(*items: object) -> EvidenceSet:
    return EvidenceSet(tuple(items))


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
        client_auth=None if error else "disabled",
        protocols=protocols if scope == "full" else (),
        certificate=None if (error or no_certificate) else (cert or chain()),
        vulnerabilities=vulnerabilities if scope == "full" else TlsVulnerabilities(),
        command_errors=command_errors,
    )
