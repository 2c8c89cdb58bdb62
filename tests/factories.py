"""Built evidence for testing checks in milliseconds, without a network."""

from __future__ import annotations

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
    body: str = "",
) -> HttpExchange:
    return HttpExchange(
        method=method, url=url, request_headers=(), started_at=T0,
        status=None if error else status, reason="", headers=headers,
        auth_schemes=auth, error=error, body_excerpt=body, body_bytes=len(body),
    )


def http_evidence(
    *chain: HttpExchange,
    scheme: str = "http",
    path: str = "/owa",
    role: str = "owa",
    host: str = "mail.example.test",
    port: int | None = None,
    evidence_id: str = "E001",
    started_at: str = T0,
) -> HttpEvidence:
    port = port or (80 if scheme == "http" else 443)
    url = endpoint_url(scheme, host, port, path)
    if not chain:
        chain = (exchange(url),)
    return HttpEvidence(
        id=evidence_id, endpoint=url, role=role, scheme=scheme, host=host, port=port,
        path=path, started_at=started_at, finished_at=started_at, exchanges=tuple(chain),
    )


def evidence_set(*items: object) -> EvidenceSet:
    return EvidenceSet(tuple(items))


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
    from casaudit.probes.ntlm import NtlmEvidence

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
    from casaudit.probes.hostless import HostlessEvidence

    port = 443 if scheme == "https" else 80
    return HostlessEvidence(
        id=evidence_id, endpoint=endpoint_url(scheme, host, port, path), scheme=scheme, host=host,
        port=port, path=path, started_at=T0, finished_at=T0, request=f"GET {path} HTTP/1.0",
        status=None if error else status, headers=() if error else headers,
        peer=None if error else f"{peer}:{port}", error=error,
    )
