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


def autodiscover_evidence(
    method: str = "autodiscover_host",
    verdict: str = "working",
    failure: str | None = None,
    *,
    domain: str = "example.test",
    exchanges: tuple[HttpExchange, ...] = (),
    srv: object = None,
    detail: str = "",
    evidence_id: str | None = None,
) -> object:
    from casaudit.evidence_autodiscover import METHODS, AutodiscoverEvidence

    order = METHODS.index(method) + 1
    host = {"root_domain": domain, "srv": f"_autodiscover._tcp.{domain}"}.get(
        method, f"autodiscover.{domain}")
    scheme = {"http_redirect": "http", "srv": "dns"}.get(method, "https")
    port = {"http": 80, "dns": 53}.get(scheme, 443)
    endpoint = f"{scheme}://{host}:{port}/autodiscover/autodiscover.xml"
    return AutodiscoverEvidence(
        id=evidence_id or f"ad-{order:03d}", endpoint=endpoint, method=method, order=order,
        domain=domain, email=f"casaudit-probe@{domain}", started_at=T0, finished_at=T0,
        request="test", exchanges=exchanges, srv=srv,  # type: ignore[arg-type]
        verdict=verdict, failure=failure, detail=detail or f"{verdict} {failure or ''}",
    )
